package engine

import (
	"math"
	"strconv"
	"sync/atomic"
	"time"
)

// Throttled subscriptions (docs/delivery.md, throttled subscriptions): a
// subscription with a throttle gets at most one market:data per window of
// its interval, the newest tick, at the end of the window.
//
// Nothing is scheduled per socket or per symbol. Each shard keeps one
// bucket per interval in use, listing the throttled subscriptions of that
// interval, and one timer for the earliest bucket due. Windows are aligned
// to multiples of the interval on the server clock, so every subscription
// of a bucket is due at the same moment: the worker walks the bucket, marks
// the subscriptions whose symbol has a tick they were not given, and
// flushes their connections once. Throttled subscriptions are not in
// shard.subscribers: a tick costs them nothing until their window ends.

const (
	// MinThrottle and MaxThrottle bound a subscription's throttle; 0 means
	// none (every tick).
	MinThrottle = 50 * time.Millisecond
	MaxThrottle = 60 * time.Second
)

// throttleMember is one throttled subscription in its bucket.
type throttleMember struct {
	conn *clientConn
	ring *symbolRing
	// released is the ring's sequence when the subscription was last
	// released (or subscribed): a newer one means a tick to send.
	released uint64
}

// throttleBucket holds a shard's throttled subscriptions of one interval.
type throttleBucket struct {
	interval int64 // nanoseconds
	due      int64 // the end of the current window, Unix nanoseconds
	members  []throttleMember
}

// parseThrottle reads a throttleMs value: a JSON number, an integer, 0 or
// from MinThrottle to MaxThrottle in milliseconds.
func parseThrottle(raw []byte) (uint16, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false // a string, true, null, an object...
	}
	value, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || value != math.Trunc(value) {
		return 0, false
	}
	if value == 0 {
		return 0, true
	}
	if value < float64(MinThrottle/time.Millisecond) || value > float64(MaxThrottle/time.Millisecond) {
		return 0, false
	}
	return uint16(value), true
}

// windowEnd is the end of the window of interval that now falls in. Times
// are monotonicNow's: windows are aligned to multiples of the interval
// since the process started, and a change of the wall clock moves none.
func windowEnd(now, interval int64) int64 {
	return (now/interval + 1) * interval
}

// addThrottledLocked puts c's subscription to ring in the bucket of
// throttle and returns its slot there. released is the ring sequence
// already given to the subscription. The caller holds s.mu.
func (s *shard) addThrottledLocked(c *clientConn, ring *symbolRing, throttle uint16, released uint64) int32 {
	bucket := s.buckets[throttle]
	if bucket == nil {
		interval := int64(throttle) * int64(time.Millisecond)
		bucket = &throttleBucket{interval: interval, due: windowEnd(monotonicNow(), interval)}
		s.buckets[throttle] = bucket
		if due := s.throttleDue.Load(); due == 0 || bucket.due < due {
			s.throttleDue.Store(bucket.due)
			s.wakeUp() // the worker arms its timer for the new bucket
		}
	}
	bucket.members = append(bucket.members, throttleMember{conn: c, ring: ring, released: released})
	s.throttled.Add(1)
	return int32(len(bucket.members) - 1)
}

// removeThrottledLocked removes the member at slot of throttle's bucket by
// moving the last one into its place; the bucket goes when it is empty.
// The caller holds s.mu.
func (s *shard) removeThrottledLocked(throttle uint16, slot int) {
	bucket := s.buckets[throttle]
	members := bucket.members
	last := len(members) - 1
	if slot < last {
		moved := members[last]
		members[slot] = moved
		for i := range moved.conn.subs {
			if moved.conn.subs[i].ring == moved.ring {
				moved.conn.subs[i].slot = int32(slot)
				break
			}
		}
	}
	members[last] = throttleMember{}
	bucket.members = members[:last]
	s.throttled.Add(-1)
	if last == 0 {
		delete(s.buckets, throttle)
		// throttleDue may now be early: the worker finds nothing due then
		// and re-arms for what is left, or not at all.
	}
}

// unsubscribeLocked takes sub, of c, out of the shard's index, whichever
// it is in. The caller holds s.mu and c.mu.
func (s *shard) unsubscribeLocked(c *clientConn, sub *subscription) {
	if sub.throttle != 0 {
		c.throttled--
		s.removeThrottledLocked(sub.throttle, int(sub.slot))
	} else {
		s.removeSubscriberLocked(sub.ring, int(sub.slot))
	}
}

// releaseThrottled ends the windows that are due at now: each subscription
// of those buckets whose symbol has a newer tick than the one it was last
// given is marked due and its connection flushed, which sends the newest
// tick. It returns when the next window ends, 0 with no throttled
// subscriptions. now is monotonicNow's. Only the shard's worker calls it
// (and tests, with a clock of their own).
func (s *shard) releaseThrottled(now int64) int64 {
	s.mu.Lock()
	if due := s.throttleDue.Load(); due == 0 || now < due {
		s.mu.Unlock()
		return due
	}
	next := int64(0)
	for _, bucket := range s.buckets {
		if now >= bucket.due {
			for i := range bucket.members {
				member := &bucket.members[i]
				seq := member.ring.seq.Load()
				if seq == member.released {
					continue // nothing new in this window
				}
				member.released = seq
				if member.conn.markThrottledDue(member.ring) {
					s.markDirty(member.conn)
				}
			}
			// The next window starts now: one that ran late is not made up.
			bucket.due = windowEnd(now, bucket.interval)
		}
		if next == 0 || bucket.due < next {
			next = bucket.due
		}
	}
	s.throttleDue.Store(next)
	s.mu.Unlock()
	s.flushDirty()
	return next
}

// collectMixedLocked is collectTicksLocked for a connection with throttled
// subscriptions; one without keeps the loop that checks no throttle.
func (c *clientConn) collectMixedLocked(scratch *flushScratch) {
	var skipped uint64
	for i := range c.subs {
		sub := &c.subs[i]
		if sub.throttle != 0 {
			if sub.due {
				if c.parser == parserMsgpack {
					scratch.frames, sub.lastSeq = sub.ring.appendMsgpackLatest(c.engine, scratch.frames, sub.lastSeq)
				} else {
					scratch.frames, sub.lastSeq = sub.ring.appendLatest(scratch.frames, sub.lastSeq)
				}
				sub.due = false
			}
			continue
		}
		var lost uint64
		scratch.frames, lost = c.appendSinceLocked(scratch.frames, sub)
		skipped += lost
	}
	if skipped > 0 && c.shard != nil {
		c.shard.conflated.Add(skipped)
	}
}

// appendSinceLocked appends sub's ticks newer than its last delivery, in
// c's parser, and returns how many of them it had to skip.
func (c *clientConn) appendSinceLocked(frames []*outboundFrame, sub *subscription) ([]*outboundFrame, uint64) {
	var lost uint64
	if c.parser == parserMsgpack {
		frames, sub.lastSeq, lost = sub.ring.appendMsgpackSince(c.engine, frames, sub.lastSeq)
	} else {
		frames, sub.lastSeq, lost = sub.ring.appendSince(frames, sub.lastSeq)
	}
	return frames, lost
}

// markThrottledDue lets c's next flush send the newest tick of its
// subscription to ring. The caller holds c's shard's mu.
func (c *clientConn) markThrottledDue(ring *symbolRing) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.subs {
		if c.subs[i].ring == ring {
			c.subs[i].due = true
			return true
		}
	}
	return false
}

// wakeUp wakes the worker without an event.
func (s *shard) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// throttleTimer is the shard worker's one timer for its throttle buckets.
type throttleTimer struct {
	timer   *time.Timer
	armedAt int64        // when it fires (monotonicNow); 0 = stopped, -1 = fired
	armed   *atomic.Bool // the shard's view of it, for Stats
}

func newThrottleTimer(armed *atomic.Bool) *throttleTimer {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	return &throttleTimer{timer: timer, armed: armed}
}

// fired records that the timer fired: the next set arms it again, even
// for the same time.
func (t *throttleTimer) fired() { t.armedAt = -1 }

// set makes the timer fire at at, or stops it when at is 0.
func (t *throttleTimer) set(at int64) {
	if at == t.armedAt {
		return
	}
	t.armedAt = at
	t.armed.Store(at != 0)
	if at == 0 {
		t.timer.Stop()
		return
	}
	t.timer.Reset(time.Duration(max(at-monotonicNow(), 0)))
}
