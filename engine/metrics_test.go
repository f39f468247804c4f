package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyCount returns how many deliveries the engine's latency histogram
// has counted, over its shards.
func latencyCount(e *Engine) uint64 {
	var snapshot histogramSnapshot
	for _, s := range e.shards {
		snapshot.add(&s.latency)
	}
	return snapshot.count()
}

func TestHistogramBuckets(t *testing.T) {
	var h histogram
	for _, d := range []time.Duration{-time.Millisecond, 0, 50 * time.Microsecond, 51 * time.Microsecond, 3 * time.Millisecond, time.Minute} {
		h.observe(int64(d))
	}
	var snapshot histogramSnapshot
	snapshot.add(&h)
	want := map[int]uint64{0: 3, 1: 1, 6: 1, len(bucketBounds): 1}
	for i, count := range snapshot.counts {
		if count != want[i] {
			t.Errorf("bucket %d (le %v) holds %d; want %d", i, bucketBoundName(i), count, want[i])
		}
	}
	if snapshot.count() != 6 {
		t.Errorf("count %d; want 6", snapshot.count())
	}
	wantSum := 50*time.Microsecond + 51*time.Microsecond + 3*time.Millisecond + time.Minute
	if time.Duration(snapshot.sum) != wantSum {
		t.Errorf("sum %v; want %v", time.Duration(snapshot.sum), wantSum)
	}
}

func bucketBoundName(i int) string {
	if i == len(bucketBounds) {
		return "+Inf"
	}
	return time.Duration(bucketBounds[i]).String()
}

func TestDeliveryLatencyCountsEachMessageOnce(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 2})
	for i := range 6 {
		c := attachTestConn(t, e, fmt.Sprintf("user%d", i), newMemorySink(false))
		subscribe(t, e, c, "AAA")
		e.setStream(c, StreamOrders, true)
	}
	const ticks = 4
	for i := 1; i <= ticks; i++ {
		e.PublishTickReceived("AAA", tick("AAA", i), time.Now())
		e.deliverPending(context.Background())
	}
	e.PublishUser(StreamOrders, "user0", []byte(`{"userId":"user0"}`))
	e.PublishUserReceived(StreamOrders, "user1", []byte(`{"userId":"user1"}`), time.Now())
	e.deliverPending(context.Background())
	// Six sockets took each tick, but each message is measured once: at
	// the first write that carried it.
	if got := latencyCount(e); got != ticks+2 {
		t.Errorf("latency count %d after %d ticks and 2 orders; want %d", got, ticks, ticks+2)
	}
	var market, orders uint64
	for _, s := range e.shards {
		market += s.deliveries[streamMarket].Load()
		orders += s.deliveries[StreamOrders].Load()
	}
	if market != 6*ticks || orders != 2 {
		t.Errorf("deliveries: market %d, orders %d; want %d and 2", market, orders, 6*ticks)
	}

	// A socket subscribing later gets the newest tick as a snapshot: its
	// age is not latency, even when no socket had it before.
	e.PublishTickReceived("CCC", tick("CCC", 1), time.Now().Add(-time.Minute))
	late := attachTestConn(t, e, "late", newMemorySink(false))
	subscribe(t, e, late, "CCC")
	late.flush() // as the subscribe's ack does
	e.deliverPending(context.Background())
	if got := latencyCount(e); got != ticks+2 {
		t.Errorf("latency count %d after a snapshot; want %d still", got, ticks+2)
	}
	// Seeds are snapshots too.
	e.SeedTick("BBB", tick("BBB", 1))
	subscribe(t, e, late, "BBB")
	late.flush()
	if got := latencyCount(e); got != ticks+2 {
		t.Errorf("latency count %d after a seeded tick; want %d still", got, ticks+2)
	}
}

func TestPendingBytesAndWritersComeBackToZero(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1})
	sink := newMemorySink(false)
	c := attachTestConn(t, e, "alice", sink)
	e.setStream(c, StreamNotifications, true)
	sink.setStalled(true)
	message := []byte(`{"userId":"alice","text":"` + strings.Repeat("x", 100) + `"}`)
	for range 3 {
		e.PublishUser(StreamNotifications, "alice", message)
	}
	e.deliverPending(context.Background())
	if pending := e.metrics.pendingBytes.Load(); pending <= 3*int64(len(message)) {
		t.Errorf("pending bytes %d with 3 messages of %d bytes stuck; want more", pending, len(message))
	}
	if writers := e.metrics.writers.Load(); writers != 1 {
		t.Errorf("writers %d with one stalled socket; want 1", writers)
	}
	sent := e.shards[0].sentBytes.Load()
	sink.setStalled(false)
	waitFor(t, "the writer to finish", func() bool { return e.metrics.writers.Load() == 0 })
	waitFor(t, "the queue to drain", func() bool { return e.metrics.pendingBytes.Load() == 0 })
	if after := e.shards[0].sentBytes.Load(); after <= sent {
		t.Errorf("sent bytes %d then %d; want the slow write counted", sent, after)
	}

	// A socket closed with bytes pending takes them out of the total.
	sink.setStalled(true)
	e.PublishUser(StreamNotifications, "alice", message)
	e.deliverPending(context.Background())
	waitFor(t, "bytes pending", func() bool { return e.metrics.pendingBytes.Load() > 0 })
	c.closeWith(reasonClientClosed)
	waitFor(t, "the writer to end", func() bool { return e.metrics.writers.Load() == 0 })
	if pending := e.metrics.pendingBytes.Load(); pending != 0 {
		t.Errorf("pending bytes %d after the only socket closed; want 0", pending)
	}
}

func TestCollectorSeriesExistAtStart(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 2})
	registry := prometheus.NewRegistry()
	registry.MustRegister(e.Collector())
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := make(map[string]int)
	for _, family := range families {
		series[family.GetName()] = len(family.GetMetric())
	}
	for name, want := range map[string]int{
		"protrader5_delivery_latency_seconds": 1,
		"protrader5_fanout_burst_seconds":     1,
		"protrader5_stream_deliveries_total":  4,
		"protrader5_transport_sockets":        2,
		"protrader5_auth_failures_total":      len(knownLabels["auth_failures"]),
		"protrader5_event_refusals_total":     len(knownLabels["refusals"]),
		"protrader5_recoveries_total":         len(knownLabels["recoveries"]),
		"protrader5_handshake_refusals_total": len(knownLabels["handshake_refusals"]),
		"protrader5_pending_bytes":            1,
		"protrader5_writers":                  1,
		"protrader5_users":                    1,
		"protrader5_sent_bytes_total":         1,
	} {
		if got := series[name]; got != want {
			t.Errorf("%s has %d series at start; want %d", name, got, want)
		}
	}
}
