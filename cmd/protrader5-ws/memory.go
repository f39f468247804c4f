package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The Go runtime gives memory back to the system on its own, but only down
// to a target it computes at the end of a garbage collection from the goal
// of the cycle that just ended. After a burst (a storm of connections, a
// backlog of slow consumers) the live heap falls at once, yet the target
// follows two collections later, and a gateway that allocates little then
// collects every two minutes: the soak (bench/RESULTS.md) measured RSS at
// 3.5 times its baseline two minutes after the burst's state expired, with
// the live heap back at it. A pod that looks that large to its scheduler
// long after the burst invites eviction and wrong sizing, so the gateway
// checks now and then whether it holds much more free heap than it uses,
// and if so returns it at once.
//
// A quiet gateway (no collection since the last check: it allocates less
// than its heap goal in memoryCheckInterval) is a second case. Its figures
// are as old as its last collection, so memory its clients let go of since
// (a fleet of closed connections) shows neither as free nor as garbage, and
// the headroom the collector kept above the live heap stays resident. The
// 100,000-socket scale run (bench/RESULTS.md) measured RSS still at 8 times
// its baseline 40 s after every client had closed. So a quiet gateway
// collects once per check and returns what is free past
// minimumFreeWhenQuiet: that costs one mark of the live heap every 30 s
// while nothing else happens, and nothing while the gateway is busy, whose
// own collections keep the figures fresh.

// memoryCheckInterval is how often the free heap is compared with the live
// heap: often enough that RSS follows a burst's end within a minute, rarely
// enough that a return (a full collection) costs nothing noticeable.
const memoryCheckInterval = 30 * time.Second

// minimumFreeToReturn is the free heap below which nothing is returned
// whatever the live heap: a small gateway's free heap is not worth a
// collection.
const minimumFreeToReturn = 64 << 20

// minimumFreeWhenQuiet is the free heap a quiet gateway returns: a few
// thousand connections' worth, so that RSS follows the connections held.
const minimumFreeWhenQuiet = 8 << 20

// memoryReturner returns idle heap memory to the system after bursts.
type memoryReturner struct {
	samples    []metrics.Sample
	lastCycles uint64        // collections completed at the end of the last check
	returns    atomic.Uint64 // times memory was returned
}

func newMemoryReturner() *memoryReturner {
	return &memoryReturner{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"}, // free spans not yet returned
		{Name: "/gc/heap/live:bytes"},             // what the last collection kept
		{Name: "/gc/cycles/total:gc-cycles"},      // collections so far
	}}
}

// shouldReturn reports whether the free heap is more than the live heap
// and more than minimumFreeToReturn. In a steady state the free heap after
// a collection is about the garbage it found, which GOGC=100 keeps near the
// live heap, and the runtime's own scavenger trims it; past that, the free
// heap is what a burst left behind. Twice the live heap was tried and
// measured too late: the live heap of the first collections after a burst
// still holds the burst's last state, and RSS stayed 32 % above its
// baseline (bench/RESULTS.md, soak run 7).
func shouldReturn(free, live uint64) bool {
	return free > minimumFreeToReturn && free > live
}

// shouldReturnQuiet reports whether a quiet gateway, just collected, has
// enough free heap to return.
func shouldReturnQuiet(free uint64) bool { return free > minimumFreeWhenQuiet }

// check returns idle memory when shouldReturn (or, for a quiet gateway,
// shouldReturnQuiet) says so, and reports whether it did.
func (m *memoryReturner) check() bool {
	metrics.Read(m.samples)
	free, live, cycles := m.samples[0].Value.Uint64(), m.samples[1].Value.Uint64(), m.samples[2].Value.Uint64()
	returned := false
	switch {
	case shouldReturn(free, live):
		returned = true
	case cycles == m.lastCycles:
		runtime.GC()
		metrics.Read(m.samples)
		returned = shouldReturnQuiet(m.samples[0].Value.Uint64())
	}
	if returned {
		debug.FreeOSMemory()
		m.returns.Add(1)
	}
	// The collections of this check are not activity.
	metrics.Read(m.samples)
	m.lastCycles = m.samples[2].Value.Uint64()
	return returned
}

// run checks every memoryCheckInterval until ctx is done.
func (m *memoryReturner) run(ctx context.Context, logger *slog.Logger) {
	ticker := time.NewTicker(memoryCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if m.check() {
				logger.Debug("idle heap memory returned to the system")
			}
		}
	}
}

// collector exports protrader5_memory_returns_total.
func (m *memoryReturner) collector() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "protrader5_memory_returns_total",
		Help: "Times the gateway returned idle heap memory to the system: after a burst (free heap above the live heap and 64 MiB), or when quiet (no collection for 30 s; free heap above 8 MiB after one).",
	}, func() float64 { return float64(m.returns.Load()) })
}
