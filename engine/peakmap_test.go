package engine

import (
	"fmt"
	"runtime"
	runtimemetrics "runtime/metrics"
	"testing"
	"time"
)

// liveHeapBytes collects and returns the live heap.
func liveHeapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	samples := []runtimemetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	runtimemetrics.Read(samples)
	return samples[0].Value.Uint64()
}

// TestShrinkAfterDeleteReturnsTheTable fills a map as a burst of
// connections would, deletes every entry through shrinkAfterDelete, and
// checks that the live heap is back near where it started: a map deleted
// from without it keeps its whole table.
func TestShrinkAfterDeleteReturnsTheTable(t *testing.T) {
	// Large enough (about 19 MB of table) that what other goroutines of the
	// test binary allocate or free meanwhile is noise beside it.
	const entries = 500_000
	for _, shrink := range []bool{false, true} {
		before := liveHeapBytes()
		m, peak := make(map[int64]int64), 0
		for key := range int64(entries) {
			m[key] = key
			notePeak(m, &peak)
		}
		full := liveHeapBytes()
		for key := range int64(entries) {
			delete(m, key)
			if shrink {
				m = shrinkAfterDelete(m, &peak)
			}
		}
		after := liveHeapBytes()
		table := int64(full) - int64(before)
		kept := int64(after) - int64(before)
		runtime.KeepAlive(m)
		t.Logf("shrink %v: table %d B, kept %d B after every entry was deleted (peak now %d)", shrink, table, kept, peak)
		if table < entries*16 {
			t.Fatalf("a map of %d entries measured %d B live: the measurement is broken", entries, table)
		}
		if shrink && (kept > table/4 || peak > peakMapShrinkAbove) {
			t.Errorf("with shrinkAfterDelete the emptied map keeps %d B of its %d B table (peak %d)", kept, table, peak)
		}
		if !shrink && kept < table/2 {
			t.Errorf("without shrinkAfterDelete the emptied map kept only %d B of %d B: the test no longer shows what it guards against", kept, table)
		}
	}
}

// TestConnectionMapsShrinkAfterClose opens and closes more authenticated,
// subscribed connections than the shrink threshold and checks that every
// per-connection map of the engine was rebuilt at the size of what is left.
func TestConnectionMapsShrinkAfterClose(t *testing.T) {
	peakMapShrinkAboveForTests.Store(32)
	defer peakMapShrinkAboveForTests.Store(0)
	const connections = 160
	e := startEngine(t, Config{Shards: 1, RecoveryWindow: time.Minute})
	clients := make([]*testClient, 0, connections)
	for index := range connections {
		client := dialClient(t, e, nil)
		client.connect(testToken(t, fmt.Sprintf("user%d", index), time.Hour))
		client.emitAck(1, "subscribe:market", `{"symbols":["S1","S2"]}`)
		clients = append(clients, client)
	}
	peaks := func() map[string]int {
		e.connsMu.Lock()
		e.limits.mu.Lock()
		e.recovery.liveMu.Lock()
		e.shards[0].mu.Lock()
		defer e.connsMu.Unlock()
		defer e.limits.mu.Unlock()
		defer e.recovery.liveMu.Unlock()
		defer e.shards[0].mu.Unlock()
		return map[string]int{
			"conns": e.connsPeak, "counted": e.limits.countedPeak, "perIP": e.limits.perIPPeak,
			"live": e.recovery.livePeak, "users": e.shards[0].usersPeak,
		}
	}
	for name, peak := range peaks() {
		if name != "perIP" && peak < connections {
			t.Errorf("%s peak %d with %d connections open: the peak is not recorded", name, peak, connections)
		}
	}
	for _, client := range clients {
		client.Close()
	}
	deadline := time.Now().Add(time.Minute)
	for e.Stats().Connections > 0 || e.Stats().Sockets > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still open a minute after every client closed: %+v", e.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for name, peak := range peaks() {
		if peak > connections/4 {
			t.Errorf("%s: peak %d after all %d connections closed; the map was not rebuilt", name, peak, connections)
		}
	}
}
