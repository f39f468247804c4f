//go:build !race

package engine

import (
	"fmt"
	"testing"
	"time"
)

func TestThrottledReleaseAllocatesNothing(t *testing.T) {
	e, s := manualEngine(t, Config{})
	for i := 0; i < 1000; i++ {
		subscribeThrottled(t, e, attachTestConn(t, e, fmt.Sprintf("user%d", i), newMemorySink(false)), 250, "AAA")
	}
	ring := e.ring("AAA", false)
	frames := make([]*outboundFrame, 200)
	for i := range frames {
		frames[i] = newEventFrame("market:data", tick("AAA", i))
		frames[i].stamp(0)
	}
	next := 0
	due := s.throttleDue.Load()
	release := func() {
		// Two ticks in the window: the newest goes out at its end.
		ring.push(frames[next], false)
		ring.push(frames[next+1], false)
		next += 2
		s.releaseThrottled(due)
		due += int64(250 * time.Millisecond)
	}
	release() // warm the pools
	before := e.Stats().Deliveries
	if allocs := testing.AllocsPerRun(50, release); allocs != 0 {
		t.Fatalf("ending a window of 1000 throttled sockets allocates %.1f times; want 0", allocs)
	}
	if delivered := e.Stats().Deliveries - before; delivered != 51*1000 {
		t.Fatalf("delivered %d ticks; want one per socket per window, %d", delivered, 51*1000)
	}
}
