package main

import "testing"

func TestSequenceChecker(t *testing.T) {
	cases := []struct {
		name      string
		seqs      []uint32
		published uint32
		want      sequenceStats
	}{
		{"complete", []uint32{1, 2, 3, 4}, 4, sequenceStats{Received: 4, InOrder: 4, Expected: 4}},
		{"duplicate", []uint32{1, 2, 2, 3}, 3, sequenceStats{Received: 4, InOrder: 3, Duplicates: 1, Expected: 3}},
		{"reordered", []uint32{1, 3, 2, 4}, 4, sequenceStats{Received: 4, InOrder: 3, OutOfOrder: 1, Skipped: 1, Expected: 4}},
		{"conflated", []uint32{1, 5, 9, 10}, 10, sequenceStats{Received: 4, InOrder: 4, Skipped: 6, Expected: 10}},
		{"tail lost", []uint32{1, 2}, 5, sequenceStats{Received: 2, InOrder: 2, Expected: 5, TailMissed: 3}},
		{"nothing", nil, 3, sequenceStats{Expected: 3, TailMissed: 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checker := newSequenceChecker(2)
			for _, seq := range tc.seqs {
				checker.observe(1, seq)
			}
			got := checker.finish([]uint32{0, tc.published})
			if got != tc.want {
				t.Fatalf("finish = %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestOrderCheckerExactlyOnce(t *testing.T) {
	const users = 10
	const published = 200
	checked := func(user int) bool { return user != 3 } // user 3 is, say, stalled
	deliverAll := func(checker *orderChecker, skip uint64) {
		previous := make([]int64, users)
		for index := range previous {
			previous[index] = -1
		}
		for index := uint64(0); index < published; index++ {
			user := orderTarget(index, users)
			if index == skip || !checked(user) {
				continue
			}
			checker.observe(index, user, previous[user])
			previous[user] = int64(index)
		}
	}
	var checkedCount uint64
	for index := uint64(0); index < published; index++ {
		if checked(orderTarget(index, users)) {
			checkedCount++
		}
	}
	firstChecked := uint64(0)
	for !checked(orderTarget(firstChecked, users)) {
		firstChecked++
	}

	t.Run("clean", func(t *testing.T) {
		checker := newOrderChecker(users)
		deliverAll(checker, published)
		got := checker.finish(published, checked)
		want := orderStats{Published: checkedCount, Delivered: checkedCount}
		if got != want {
			t.Fatalf("finish = %+v; want %+v", got, want)
		}
	})
	t.Run("loss", func(t *testing.T) {
		checker := newOrderChecker(users)
		deliverAll(checker, firstChecked)
		got := checker.finish(published, checked)
		if got.Lost != 1 || got.Delivered != checkedCount-1 {
			t.Fatalf("finish = %+v; want one lost", got)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		checker := newOrderChecker(users)
		deliverAll(checker, published)
		checker.observe(firstChecked, orderTarget(firstChecked, users), published)
		got := checker.finish(published, checked)
		if got.Duplicates != 1 || got.Lost != 0 {
			t.Fatalf("finish = %+v; want one duplicate", got)
		}
	})
	t.Run("misroute", func(t *testing.T) {
		checker := newOrderChecker(users)
		deliverAll(checker, firstChecked)
		wrong := (orderTarget(firstChecked, users) + 1) % users
		checker.observe(firstChecked, wrong, -1)
		got := checker.finish(published, checked)
		if got.Misrouted != 1 || got.Lost != 1 {
			t.Fatalf("finish = %+v; want one misrouted and so one lost", got)
		}
	})
	t.Run("reordered", func(t *testing.T) {
		checker := newOrderChecker(users)
		checker.observe(5, orderTarget(5, users), 9)
		if got := checker.finish(10, checked); got.OutOfOrder != 1 {
			t.Fatalf("finish = %+v; want one out of order", got)
		}
	})
	t.Run("foreign", func(t *testing.T) {
		checker := newOrderChecker(users)
		checker.observe(published+7, orderTarget(published+7, users), -1)
		if got := checker.finish(published, checked); got.Foreign != 1 {
			t.Fatalf("finish = %+v; want one foreign", got)
		}
	})
}

func TestOrderTargetSpreads(t *testing.T) {
	counts := make([]int, 50)
	for index := range uint64(50000) {
		counts[orderTarget(index, len(counts))]++
	}
	for user, count := range counts {
		if count < 800 || count > 1200 {
			t.Fatalf("user %d got %d of 50000 orders; want about 1000", user, count)
		}
	}
}

func TestPublicationMatchesFeederNumbering(t *testing.T) {
	f := &feeder{config: &config{Symbols: 3}}
	f.ticks.Store(7) // ticks 0..6: symbols 0,1,2,0,1,2,0
	got := f.publication().TickSeq
	want := []uint32{3, 2, 2}
	for symbol := range want {
		if got[symbol] != want[symbol] {
			t.Fatalf("TickSeq = %v; want %v", got, want)
		}
	}
}

// TestOrderCheckerAcrossReconnections: a client that comes back as a fresh
// session has lost what was addressed to it while it was away, and the
// checker says so; a recovered one promised everything, so what it lacks is
// lost like any other order, not put down to the reconnection.
func TestOrderCheckerAcrossReconnections(t *testing.T) {
	const users = 1
	everyone := func(int) bool { return true }
	t.Run("fresh session", func(t *testing.T) {
		checker := newOrderChecker(users)
		for index := range uint64(3) {
			checker.observe(index, 0, int64(index)-1)
		}
		checker.connectionLost(0, 2)
		// Orders 3 and 4 went out while it was away; 5 reached the new
		// session; 6 was lost later, for no reason the checker knows.
		checker.observe(5, 0, 2)
		checker.observe(7, 0, 5)
		got := checker.finish(8, everyone)
		want := orderStats{Published: 8, Delivered: 5, Lost: 3, Unrecovered: 2}
		if got != want {
			t.Fatalf("finish = %+v; want %+v", got, want)
		}
	})
	t.Run("never back", func(t *testing.T) {
		checker := newOrderChecker(users)
		checker.observe(0, 0, -1)
		checker.connectionLost(0, 0)
		got := checker.finish(4, everyone)
		if got.Lost != 3 || got.Unrecovered != 3 {
			t.Fatalf("finish = %+v; want 3 lost, all unrecovered", got)
		}
	})
	t.Run("nothing seen before the loss", func(t *testing.T) {
		checker := newOrderChecker(users)
		checker.connectionLost(0, -1)
		checker.observe(2, 0, -1)
		got := checker.finish(3, everyone)
		if got.Lost != 2 || got.Unrecovered != 2 || got.Delivered != 1 {
			t.Fatalf("finish = %+v; want orders 0 and 1 lost and unrecovered", got)
		}
	})
	t.Run("recovered", func(t *testing.T) {
		checker := newOrderChecker(users)
		checker.observe(0, 0, -1)
		checker.connectionLost(0, 0)
		checker.sessionRecovered(0)
		checker.observe(2, 0, 0) // the replay skipped order 1
		got := checker.finish(3, everyone)
		want := orderStats{Published: 3, Delivered: 2, Lost: 1}
		if got != want {
			t.Fatalf("finish = %+v; want %+v: a recovery that misses an order loses it outright", got, want)
		}
	})
	t.Run("twice", func(t *testing.T) {
		checker := newOrderChecker(users)
		checker.connectionLost(0, -1)
		checker.observe(1, 0, -1) // fresh: order 0 lost
		checker.connectionLost(0, 1)
		checker.sessionRecovered(0)
		checker.observe(3, 0, 1) // recovered, yet order 2 is missing
		got := checker.finish(4, everyone)
		if got.Lost != 2 || got.Unrecovered != 1 {
			t.Fatalf("finish = %+v; want 2 lost, 1 of them unrecovered", got)
		}
	})
}
