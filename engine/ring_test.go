package engine

import "testing"

func TestRingAppendSince(t *testing.T) {
	ring := newSymbolRing("AAA", 0, 1)
	if frames, last, skipped := ring.appendSince(nil, 0); len(frames) != 0 || last != 0 || skipped != 0 {
		t.Fatalf("empty ring: %d frames, last %d, skipped %d", len(frames), last, skipped)
	}
	for i := 1; i <= 100; i++ {
		ring.push(newEventFrame("market:data", tick("AAA", i)), false)
	}
	cases := []struct {
		name        string
		lastSeq     uint64
		wantFirst   uint64
		wantCount   int
		wantSkipped uint64
	}{
		{"up to date", 100, 0, 0, 0},
		{"one behind", 99, 100, 1, 0},
		{"a full ring behind: every frame", 100 - ringSize, 100 - ringSize + 1, ringSize, 0},
		{"fell behind the ring: newest only", 100 - ringSize - 1, 100, 1, ringSize},
		{"far behind: newest only", 3, 100, 1, 96},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frames, last, skipped := ring.appendSince(nil, tc.lastSeq)
			if last != 100 || len(frames) != tc.wantCount || skipped != tc.wantSkipped {
				t.Fatalf("appendSince(%d) = %d frames, last %d, skipped %d; want %d, 100, %d",
					tc.lastSeq, len(frames), last, skipped, tc.wantCount, tc.wantSkipped)
			}
			for i, frame := range frames {
				if want := tc.wantFirst + uint64(i); frame.seq != want {
					t.Fatalf("frame %d has seq %d; want %d (in order, none twice)", i, frame.seq, want)
				}
			}
		})
	}
	// A seed never overwrites a live tick.
	if ring.push(newEventFrame("market:data", tick("AAA", 0)), true) || ring.latest().seq != 100 {
		t.Fatal("SeedTick replaced a live tick")
	}
}
