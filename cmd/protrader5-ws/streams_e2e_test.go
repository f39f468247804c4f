package main

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// xadd appends message to the stream key (prefix included) as a backend
// would with USER_STREAMS=streams.
func (b *backend) xadd(key, message string) {
	b.t.Helper()
	b.keys = append(b.keys, b.prefix+key)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	command := b.client.B().Xadd().Key(b.prefix+key).Id("*").FieldValue().FieldValue("data", message).Build()
	if err := b.client.Do(ctx, command).Error(); err != nil {
		b.t.Fatalf("XADD %s %s: %v", key, message, err)
	}
}

// TestRedisStreamsAcrossRestart: with USER_STREAMS=streams the gateway
// reads order:updates from a stream, and after Redis restarts (with its
// append-only file) it goes on after the last entry it read: every entry
// reaches the socket once, in order, and /ready is 503 meanwhile.
func TestRedisStreamsAcrossRestart(t *testing.T) {
	redis := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	prefix := e2ePrefix(t)
	g := startGateway(t, 0, redisEnv(redis.URL(), prefix, "USER_STREAMS=streams")...)
	g.waitReady(200, 10*time.Second)
	client, err := dialSIO(t, g.port, "alice", interopToken(t, "alice", time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.close)
	if ack, err := client.emitAck(1, "subscribe:orders", ""); err != nil || ack != `{"ok":true}` {
		t.Fatalf("subscribe:orders ack %q, %v", ack, err)
	}

	order := func(n int) string { return fmt.Sprintf(`{"orderId":"o%d","userId":"alice"}`, n) }
	orderIDs := func() []string {
		orders, _, _ := client.received()
		ids := make([]string, len(orders))
		for i, o := range orders {
			ids[i] = o.OrderID
		}
		return ids
	}
	waitOrders := func(want []string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !reflect.DeepEqual(orderIDs(), want) {
			if got := orderIDs(); len(got) >= len(want) || time.Now().After(deadline) {
				_, _, other := client.received()
				t.Fatalf("orders received = %v; want %v (other packets %q)", got, want, other)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	b := newBackend(t, redis.URL(), prefix)
	b.xadd("order:updates", order(1))
	b.xadd("order:updates", `{"orderId":"no user"}`)
	waitOrders([]string{"o1"})

	redis.Stop()
	if body := g.waitReady(503, 10*time.Second); body != `{"status":"unavailable","reason":"redis_disconnected"}` {
		t.Errorf("GET /ready during the outage = 503 %s", body)
	}
	redis.Start()
	b = newBackend(t, redis.URL(), prefix)
	for n := 2; n <= 4; n++ {
		b.xadd("order:updates", order(n))
	}
	g.waitReady(200, 20*time.Second)
	waitOrders([]string{"o1", "o2", "o3", "o4"})
	time.Sleep(200 * time.Millisecond) // nothing twice
	if got := orderIDs(); !reflect.DeepEqual(got, []string{"o1", "o2", "o3", "o4"}) {
		t.Errorf("orders received = %v; want o1 to o4 once each", got)
	}

	metrics := g.metrics()
	checks := map[string]float64{
		`protrader5_redis_stream_entries_total{channel="order:updates"}`: 5,
		`protrader5_redis_stream_gaps_total{channel="order:updates"}`:    0,
		acceptSeries("order:updates"):                                    4,
		rejectSeries("order:updates", "missing_user"):                    1,
		"protrader5_redis_subscribed":                                    1,
	}
	for series, want := range checks {
		if got, ok := metrics[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v); want %v", series, got, ok, want)
		}
	}
}
