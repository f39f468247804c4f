package engine

import (
	"sync"
	"time"
)

// wheelSlots is the number of slots in the timer wheel; deadlines further
// than one turn stay in their slot and are skipped until their turn comes.
const wheelSlots = 1024

// wheelEntry is one scheduled visit. An entry whose at no longer matches
// the connection's timerAt (it was cancelled or replaced while being
// visited) is stale and dropped when met.
type wheelEntry struct {
	conn *clientConn
	at   int64
}

// wheel is the one timer structure shared by every connection (heartbeats,
// connect and handshake timeouts, token expiry): a connection has at most
// one live entry, for its earliest deadline, instead of a time.Timer each.
type wheel struct {
	resolution int64 // nanoseconds per slot

	mu      sync.Mutex
	slots   [wheelSlots][]wheelEntry // guarded by mu
	cursor  int64                    // guarded by mu; the last tick processed
	entries int                      // guarded by mu; entries in slots or being visited
}

func newWheel(resolution time.Duration) *wheel {
	return &wheel{resolution: int64(resolution), cursor: timeNow() / int64(resolution)}
}

// scheduleLocked makes the wheel visit c at or soon after at. A connection
// has at most one entry in the slots: an earlier deadline replaces the
// entry. The caller holds c.mu. Lock order: clientConn.mu, then wheel.mu.
func (w *wheel) scheduleLocked(c *clientConn, at int64) {
	if at == 0 || (c.timerAt != 0 && c.timerAt <= at) {
		return
	}
	tick := (at + w.resolution - 1) / w.resolution
	w.mu.Lock()
	w.removeLocked(c)
	if tick <= w.cursor {
		tick = w.cursor + 1
	}
	slot := tick % wheelSlots
	c.timerAt = at
	c.timerSlot = uint16(slot)
	w.slots[slot] = append(w.slots[slot], wheelEntry{conn: c, at: at})
	w.entries++
	w.mu.Unlock()
}

// cancelLocked removes c's entry, so that a connection that leaves the
// engine (closed, or handed to net/http) is not kept by the wheel until its
// deadline. The caller holds c.mu.
func (w *wheel) cancelLocked(c *clientConn) {
	if c.timerAt == 0 {
		return
	}
	w.mu.Lock()
	w.removeLocked(c)
	w.mu.Unlock()
}

// removeLocked takes c's entry out of its slot and clears c.timerAt. An
// entry being visited right now is not in its slot: with timerAt cleared it
// is stale, and the visit drops it. The caller holds c.mu and w.mu.
func (w *wheel) removeLocked(c *clientConn) {
	if c.timerAt == 0 {
		return
	}
	at := c.timerAt
	c.timerAt = 0
	entries := w.slots[c.timerSlot]
	for i := range entries {
		if entries[i].conn == c && entries[i].at == at {
			last := len(entries) - 1
			entries[i] = entries[last]
			entries[last] = wheelEntry{}
			w.slots[c.timerSlot] = entries[:last]
			w.entries--
			return
		}
	}
}

// size returns how many entries the wheel holds (stale ones included).
func (w *wheel) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.entries
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
		w.slots[slot] = nil
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
		w.entries -= len(entries) - len(later)
		if len(w.slots[slot]) == 0 && len(later) == 0 {
			w.slots[slot] = keepVisited(entries)
		} else {
			w.slots[slot] = append(w.slots[slot], later...)
		}
		w.mu.Unlock()
	}
}

// keepVisited returns the visited slice emptied, for the slot's next turn,
// when it is small, or nil. A large one is let go: the slot is visited
// again only a turn later (wheelSlots ticks), and a slice kept that long
// by every slot, or handed from slot to slot, held ten entries of capacity
// per connection after a ramp of connections (bench/RESULTS.md). Appending
// to a nil slot again costs a few allocations per turn.
func keepVisited(visited []wheelEntry) []wheelEntry {
	if cap(visited) > wheelKeptCapacity {
		return nil
	}
	return visited[:0]
}

// wheelKeptCapacity is the capacity a visited slot keeps, so that a quiet
// wheel does not allocate on every visit.
const wheelKeptCapacity = 64
