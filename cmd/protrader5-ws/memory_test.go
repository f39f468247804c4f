package main

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

func TestShouldReturn(t *testing.T) {
	for _, test := range []struct {
		free, live uint64
		want       bool
	}{
		{free: 200 << 20, live: 50 << 20, want: true},   // a burst's leftovers
		{free: 40 << 20, live: 50 << 20, want: false},   // the steady state's garbage
		{free: 60 << 20, live: 10 << 20, want: false},   // small: not worth a collection
		{free: 100 << 20, live: 120 << 20, want: false}, // a large live heap's garbage
	} {
		if got := shouldReturn(test.free, test.live); got != test.want {
			t.Errorf("shouldReturn(free %d MiB, live %d MiB) = %v; want %v", test.free>>20, test.live>>20, got, test.want)
		}
	}
}

// TestMemoryReturnerGivesBackABurst frees a burst of heap and checks that
// the returner hands the free heap back to the system, by the runtime's
// own account of free and released memory.
func TestMemoryReturnerGivesBackABurst(t *testing.T) {
	burst := make([][]byte, 0, 256)
	for range 256 {
		burst = append(burst, make([]byte, 1<<20))
	}
	runtime.KeepAlive(burst)
	burst = nil
	runtime.GC() // the burst is now free heap, not yet returned
	returner := newMemoryReturner()
	free := func() uint64 {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	// runtime.GC frees without returning, and the background scavenger
	// returns a few MiB a second at most: the burst is still free heap.
	if before := free(); before <= minimumFreeToReturn {
		t.Fatalf("only %d MiB free heap after freeing 256 MiB: the test's premise does not hold", before>>20)
	}
	if !returner.check() {
		t.Fatalf("256 MiB freed, %d MiB free heap: nothing returned", free()>>20)
	}
	if after := free(); after > minimumFreeToReturn {
		t.Errorf("%d MiB free heap after the return; want it given back", after>>20)
	}
	if returner.returns.Load() != 1 {
		t.Errorf("returns = %d; want 1", returner.returns.Load())
	}
	if returner.check() {
		t.Error("a second check returned again with nothing left to return")
	}
}

// TestMemoryReturnerWhenQuiet: heap that was live at the last collection
// and is let go of afterwards (a fleet of closed connections) shows as
// neither free nor garbage until a collection runs. A quiet gateway's
// check collects and returns it.
func TestMemoryReturnerWhenQuiet(t *testing.T) {
	burst := make([][]byte, 0, 64)
	for range 64 {
		burst = append(burst, make([]byte, 1<<20))
	}
	runtime.GC() // the burst is live heap now
	returner := newMemoryReturner()
	if returner.check() {
		t.Fatal("returned memory while the burst was live")
	}
	runtime.KeepAlive(burst)
	burst = nil
	// No collection since the last check: the gateway is quiet.
	if !returner.check() {
		t.Fatal("64 MiB let go of on a quiet gateway: nothing returned")
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(sample)
	if free := sample[0].Value.Uint64(); free > minimumFreeWhenQuiet {
		t.Errorf("%d MiB free heap after the return; want it given back", free>>20)
	}
	if returner.check() {
		t.Error("a quiet check returned again with nothing left to return")
	}
}
