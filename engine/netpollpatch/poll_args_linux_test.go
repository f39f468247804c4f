//go:build linux

package netpoll

import "testing"

// TestPollArgsResetAlloc pins the patch's event arrays: growing them to a
// burst of ready sockets allocates the events and one barrier, not a
// barrier (1.3 KB) per event slot, which stayed allocated at the size of
// the largest burst for the life of the poller.
func TestPollArgsResetAlloc(t *testing.T) {
	var args pollArgs
	const size = 16 * 1024
	allocations := testing.AllocsPerRun(10, func() { args.reset(size, barriercap) })
	if allocations > 3 {
		t.Errorf("reset(%d) made %.0f allocations; want 3 (events, one barrier's slices and iovecs)", size, allocations)
	}
	if len(args.events) != size || len(args.barrier.bs) != barriercap || len(args.barrier.ivs) != barriercap {
		t.Errorf("reset(%d, %d): %d events, barrier of %d slices and %d iovecs", size, barriercap, len(args.events), len(args.barrier.bs), len(args.barrier.ivs))
	}
}
