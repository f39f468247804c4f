package engine

import "testing"

// A slice that a burst of connections grew is let go when the wheel has
// visited it with few entries left; one that stays full is reused.
func TestWheelLetsGoOfABurstsSlice(t *testing.T) {
	burst := make([]wheelEntry, 10, 10_000)
	if spare := keepSpare(burst); spare != nil {
		t.Errorf("a slice of capacity %d that held %d entries is kept", cap(burst), len(burst))
	}
	busy := make([]wheelEntry, 5000, 8192)
	if spare := keepSpare(busy); cap(spare) != 8192 || len(spare) != 0 {
		t.Errorf("a busy slot's slice: len %d, cap %d; want it emptied and kept (cap 8192)", len(spare), cap(spare))
	}
	quiet := make([]wheelEntry, 0, wheelSpareSlack)
	if spare := keepSpare(quiet); cap(spare) != wheelSpareSlack {
		t.Errorf("a quiet slot's small slice is let go (cap %d)", cap(spare))
	}
}
