package main

import "sync"

// sequenceStats counts what a tick sequence checker saw. Ticks carry a
// per-symbol seq starting at 1, so a fast subscriber must see 1, 2, 3, ...
type sequenceStats struct {
	Received   uint64 `json:"received"`     // every tick of this run, duplicates included
	InOrder    uint64 `json:"in_order"`     // ticks that advanced their symbol's seq
	Duplicates uint64 `json:"duplicates"`   // seq equal to the last one seen
	OutOfOrder uint64 `json:"out_of_order"` // seq below the last one seen
	Skipped    uint64 `json:"skipped"`      // seqs jumped over (conflation or loss)
	Expected   uint64 `json:"expected"`     // set by finish: ticks published on the subscribed symbols
	TailMissed uint64 `json:"tail_missed"`  // set by finish: published after the last one seen
}

func (s *sequenceStats) add(other sequenceStats) {
	s.Received += other.Received
	s.InOrder += other.InOrder
	s.Duplicates += other.Duplicates
	s.OutOfOrder += other.OutOfOrder
	s.Skipped += other.Skipped
	s.Expected += other.Expected
	s.TailMissed += other.TailMissed
}

// sequenceChecker follows the seq of each symbol one client subscribes to.
// It keeps one uint32 per subscribed symbol; not safe for concurrent use (one
// per client goroutine).
type sequenceChecker struct {
	last  []uint32 // by subscription slot; 0 means nothing seen yet
	stats sequenceStats
}

func newSequenceChecker(slots int) sequenceChecker {
	return sequenceChecker{last: make([]uint32, slots)}
}

// observe records one tick with sequence seq >= 1 on subscription slot. It
// returns how far the slot advanced: the ticks this one accounts for, itself
// and those it skipped (which will not come any more).
func (c *sequenceChecker) observe(slot int, seq uint32) (advanced uint64) {
	c.stats.Received++
	last := c.last[slot]
	switch {
	case seq == last:
		c.stats.Duplicates++
	case seq < last:
		c.stats.OutOfOrder++
	default:
		c.stats.Skipped += uint64(seq - last - 1)
		c.stats.InOrder++
		c.last[slot] = seq
		return uint64(seq - last)
	}
	return 0
}

// finish closes the books once publishing has ended: published[slot] is the
// highest seq the feeder sent for that slot's symbol.
func (c *sequenceChecker) finish(published []uint32) sequenceStats {
	stats := c.stats
	for slot, highest := range published {
		stats.Expected += uint64(highest)
		if highest > c.last[slot] {
			stats.TailMissed += uint64(highest - c.last[slot])
		}
	}
	return stats
}

// orderTarget is the user index order update number index is addressed to:
// a fixed hash so that every process agrees without talking, and so that
// consecutive orders land on unrelated users.
func orderTarget(index uint64, users int) int {
	mixed := index + 0x9e3779b97f4a7c15
	mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9
	mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111eb
	mixed ^= mixed >> 31
	return int(mixed % uint64(users))
}

// orderStats is what the exactly-once checker reports.
type orderStats struct {
	Published  uint64 `json:"published"`  // addressed to users this process checks
	Delivered  uint64 `json:"delivered"`  // reached their user exactly once
	Lost       uint64 `json:"lost"`       // never reached their user
	Duplicates uint64 `json:"duplicates"` // extra copies to the right user
	Misrouted  uint64 `json:"misrouted"`  // reached some other user
	OutOfOrder uint64 `json:"out_of_order"`
	Foreign    uint64 `json:"foreign"` // index beyond what was published
	// Unrecovered counts the lost orders (part of Lost, not on top of it)
	// that were addressed to a client while it was away and that it came
	// back from as a fresh session, or never came back from: what a
	// server that cannot recover the session loses. Lost minus Unrecovered
	// is what went missing anyway.
	Unrecovered uint64 `json:"unrecovered"`
}

func (s *orderStats) add(other orderStats) {
	s.Published += other.Published
	s.Delivered += other.Delivered
	s.Lost += other.Lost
	s.Duplicates += other.Duplicates
	s.Misrouted += other.Misrouted
	s.OutOfOrder += other.OutOfOrder
	s.Foreign += other.Foreign
	s.Unrecovered += other.Unrecovered
}

// orderChecker verifies that every order update reaches exactly the right
// user exactly once. Safe for concurrent use: order traffic is thousands per
// second, so one mutex is cheap enough.
type orderChecker struct {
	users int // total users across all processes

	mu         sync.Mutex
	counts     []uint8 // by order index: deliveries to the addressed user, saturating
	misrouted  uint64
	outOfOrder uint64
	gaps       map[int][]orderGap // by user: the times its client was away unrecovered
}

// orderGap is a stretch of a user's orders its client may have missed: those
// after the last one it had seen before its connection dropped (after) and
// before the first one that reached its next session (before, -1 while none
// has). A recovered session closes no gap: it promises every order after its
// offset, so whatever it then lacks is lost as any other order is.
type orderGap struct {
	after, before int64
}

func newOrderChecker(users int) *orderChecker {
	return &orderChecker{users: users}
}

// observe records that user received order index; previous is the index the
// same client received before (-1 when none), for the per-user order check.
// first is true for the first copy to the right user.
func (c *orderChecker) observe(index uint64, user int, previous int64) (first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(index) < previous {
		c.outOfOrder++
	}
	if orderTarget(index, c.users) != user {
		c.misrouted++
		return false
	}
	if gaps := c.gaps[user]; len(gaps) > 0 {
		if last := &gaps[len(gaps)-1]; last.before < 0 && int64(index) > last.after {
			last.before = int64(index)
		}
	}
	if index >= uint64(len(c.counts)) {
		grown := make([]uint8, max(index+1, uint64(2*len(c.counts))))
		copy(grown, c.counts)
		c.counts = grown
	}
	if c.counts[index] < 255 {
		c.counts[index]++
	}
	return c.counts[index] == 1
}

// connectionLost opens a gap for user, whose client had seen orders up to
// last (-1: none) when its connection dropped.
func (c *orderChecker) connectionLost(user int, last int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gaps == nil {
		c.gaps = map[int][]orderGap{}
	}
	c.gaps[user] = append(c.gaps[user], orderGap{after: last, before: -1})
}

// sessionRecovered withdraws the gap connectionLost opened: the server took
// the client back with everything after its offset.
func (c *orderChecker) sessionRecovered(user int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gaps := c.gaps[user]; len(gaps) > 0 && gaps[len(gaps)-1].before < 0 {
		c.gaps[user] = gaps[:len(gaps)-1]
	}
}

// inGap tells whether order index of user falls in one of its gaps.
func (c *orderChecker) inGap(user int, index uint64) bool {
	for _, gap := range c.gaps[user] {
		if int64(index) > gap.after && (gap.before < 0 || int64(index) < gap.before) {
			return true
		}
	}
	return false
}

// finish compares deliveries with the published count; checked tells which
// users this process vouches for (connected, reading, held here).
func (c *orderChecker) finish(published uint64, checked func(user int) bool) orderStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	stats := orderStats{Misrouted: c.misrouted, OutOfOrder: c.outOfOrder}
	for index := uint64(0); index < published; index++ {
		user := orderTarget(index, c.users)
		if !checked(user) {
			continue
		}
		stats.Published++
		var count uint8
		if index < uint64(len(c.counts)) {
			count = c.counts[index]
		}
		switch {
		case count == 0:
			stats.Lost++
			if c.inGap(user, index) {
				stats.Unrecovered++
			}
		default:
			stats.Delivered++
			stats.Duplicates += uint64(count - 1)
		}
	}
	for index := published; index < uint64(len(c.counts)); index++ {
		stats.Foreign += uint64(c.counts[index])
	}
	return stats
}
