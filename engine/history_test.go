package engine

import (
	"fmt"
	"testing"
)

// TestHistoryBounds records a burst and checks each bound: the per-user
// count, the byte total (oldest first, whoever they are for), and expiry,
// after which nothing of the burst is held.
func TestHistoryBounds(t *testing.T) {
	frame := newEventFrame("order:update", []byte(`{"userId":"u","pad":"0123456789012345678901234567890123456789"}`))
	h := newHistory(1000, 100, 50*frame.Len())
	for n := 1; n <= 1000; n++ {
		h.record(fmt.Sprint("u", n%10), StreamOrders, EntryID{Seq: uint64(n)}, frame, int64(n))
	}
	if h.entries != 50 || h.bytes != 50*frame.Len() {
		t.Fatalf("after a burst: %d entries, %d bytes; want the newest 50", h.entries, h.bytes)
	}
	for user, history := range h.users {
		if live := len(history.entries) - history.head; live > 100 {
			t.Fatalf("%s keeps %d entries; bound 100", user, live)
		}
		// What was dropped is remembered: a replay from before it is refused.
		if history.forgotten[StreamOrders].Seq < 940 {
			t.Fatalf("%s forgot up to %v; want at least 940", user, history.forgotten[StreamOrders])
		}
	}
	h.expire(1000 + 1000 + 1)
	if h.entries != 0 || h.bytes != 0 || len(h.expiry) != 0 {
		t.Fatalf("after the window: %d entries, %d bytes, %d expiry refs", h.entries, h.bytes, len(h.expiry))
	}
	for user, history := range h.users {
		if history.entries != nil {
			t.Fatalf("%s still holds an array of %d", user, cap(history.entries))
		}
	}
	h.sweepUsers(1000 + 3*1000 + 2)
	if len(h.users) != 0 {
		t.Fatalf("%d users kept two windows after their last message", len(h.users))
	}
}

func TestCompactGivesBackSpace(t *testing.T) {
	queue := make([]*outboundFrame, 1000)
	for i := range queue {
		queue[i] = &outboundFrame{}
	}
	compacted := compact(queue, 990)
	if len(compacted) != 10 || cap(compacted) > 40 {
		t.Fatalf("compact kept len %d cap %d; want 10 in a small array", len(compacted), cap(compacted))
	}
	last := queue[999]
	half := compact(queue, 400)
	if len(half) != 600 || half[599] != last {
		t.Fatalf("compact of a busy queue = len %d", len(half))
	}
	for _, stale := range queue[600:1000] {
		if stale != nil {
			t.Fatal("compact left references behind the live part")
		}
	}
}
