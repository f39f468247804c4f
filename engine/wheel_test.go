package engine

import "testing"

// TestWheelLetsGoOfVisitedSlices schedules a ramp of connections over a
// hundred slots and visits them: the wheel must not keep the slices those
// entries grew, neither in the visited slots nor handed to the next ones,
// where they stayed a turn of the wheel (about ten entries of capacity
// per connection). A small slice stays for the slot's next turn.
func TestWheelLetsGoOfVisitedSlices(t *testing.T) {
	const resolution, perSlot, ramp = int64(1_000_000), 100, 100
	w := newWheel(1)
	w.resolution = resolution
	w.cursor = 1_000
	for tick := range int64(ramp) {
		for range perSlot {
			c := &clientConn{state: stateClosed}
			w.scheduleLocked(c, (w.cursor+1+tick)*resolution)
		}
	}
	w.advance((w.cursor + ramp) * resolution)
	if entries := w.size(); entries != 0 {
		t.Fatalf("%d entries left after every deadline passed", entries)
	}
	capacity := 0
	for slot := range w.slots {
		capacity += cap(w.slots[slot])
	}
	if capacity > ramp*wheelKeptCapacity/4 {
		t.Errorf("the wheel keeps capacity for %d entries after visiting %d; want the visited slices let go", capacity, ramp*perSlot)
	}
	quiet := make([]wheelEntry, 3, wheelKeptCapacity)
	if kept := keepVisited(quiet); cap(kept) != wheelKeptCapacity || len(kept) != 0 {
		t.Errorf("a quiet slot's small slice: len %d, cap %d; want it emptied and kept", len(kept), cap(kept))
	}
}
