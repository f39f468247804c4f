//go:build !race

// Allocation gates. The race detector makes sync.Pool drop items on
// purpose, so these run in the plain (non-race) test pass only.

package engine

import (
	"fmt"
	"testing"
)

func TestFanoutAllocatesNothingPerDelivery(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1})
	for i := 0; i < 1000; i++ {
		subscribe(t, e, attachTestConn(t, e, fmt.Sprintf("user%d", i), newMemorySink(false)), "AAA")
	}
	deliver := tickDeliverer(e, "AAA")
	if allocs := testing.AllocsPerRun(100, deliver); allocs != 0 {
		t.Fatalf("fanning one tick out to 1000 sockets allocates %.1f times; want 0", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() { newEventFrame("market:data", tick("AAA", 1)) }); allocs != 1 {
		t.Fatalf("building a tick frame allocates %.1f times; want 1 (its buffer)", allocs)
	}
}

// tickDeliverer returns a function that pushes the next of 200 prebuilt
// ticks of symbol and delivers it as one burst of the engine's only shard,
// called once already, to warm the pools.
func tickDeliverer(e *Engine, symbol string) func() {
	ring := e.ring(symbol, false)
	frames := make([]*outboundFrame, 200)
	for i := range frames {
		frames[i] = newEventFrame("market:data", tick(symbol, i))
		// Stamped, as published ticks are: the first write claims the
		// latency, which must not allocate either.
		frames[i].stamp(0)
	}
	s := e.shards[0]
	events := []shardEvent{{ring: ring}}
	next := 0
	deliver := func() {
		ring.push(frames[next], false)
		next++
		s.deliver(events)
	}
	deliver()
	return deliver
}
