package engine

import (
	"sync"
	"time"
)

// wheelSlots is the number of slots in the timer wheel; deadlines further
// than one turn stay in their slot and are skipped until their turn comes.
const wheelSlots = 1024

// wheelEntry is one scheduled visit. A connection rescheduled earlier leaves
// its old entry behind; an entry whose at no longer matches the
// connection's timerAt is stale and dropped when met.
type wheelEntry struct {
	conn *Conn
	at   int64
}

// wheel is the one timer structure shared by every connection (heartbeats,
// connect and handshake timeouts, token expiry): a connection has at most
// one live entry, for its earliest deadline, instead of a time.Timer each.
type wheel struct {
	resolution int64 // nanoseconds per slot

	mu     sync.Mutex
	slots  [wheelSlots][]wheelEntry // guarded by mu
	cursor int64                    // guarded by mu; the last tick processed
	spare  []wheelEntry             // guarded by mu
}

func newWheel(resolution time.Duration) *wheel {
	return &wheel{resolution: int64(resolution), cursor: timeNow() / int64(resolution)}
}

// scheduleLocked makes the wheel visit c at or soon after at. The caller
// holds c.mu. Lock order: Conn.mu, then wheel.mu.
func (w *wheel) scheduleLocked(c *Conn, at int64) {
	if at == 0 || (c.timerAt != 0 && c.timerAt <= at) {
		return
	}
	c.timerAt = at
	tick := (at + w.resolution - 1) / w.resolution
	w.mu.Lock()
	if tick <= w.cursor {
		tick = w.cursor + 1
	}
	slot := tick % wheelSlots
	w.slots[slot] = append(w.slots[slot], wheelEntry{conn: c, at: at})
	w.mu.Unlock()
}

// run advances the wheel until done is closed.
func (w *wheel) run(done <-chan struct{}) {
	ticker := time.NewTicker(time.Duration(w.resolution))
	defer ticker.Stop()
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
			w.advance(timeNow())
		}
	}
}

// advance visits every slot up to now.
func (w *wheel) advance(now int64) {
	target := now / w.resolution
	for {
		w.mu.Lock()
		if w.cursor >= target {
			w.mu.Unlock()
			return
		}
		w.cursor++
		slot := w.cursor % wheelSlots
		entries := w.slots[slot]
		w.slots[slot] = w.spare[:0]
		w.mu.Unlock()

		var later []wheelEntry
		for _, entry := range entries {
			if entry.at > now {
				later = append(later, entry) // a later turn of the wheel
				continue
			}
			entry.conn.onTimer(entry.at, now)
		}
		clear(entries)
		w.mu.Lock()
		w.slots[slot] = append(w.slots[slot], later...)
		w.spare = entries[:0]
		w.mu.Unlock()
	}
}
