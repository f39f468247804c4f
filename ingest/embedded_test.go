package ingest

import (
	"context"
	"testing"
	"time"
)

func TestBusRoutesAndReports(t *testing.T) {
	router, rec := newTestRouter(t)
	bus := NewBus(router)
	if ready, reason := bus.Ready(); ready || reason != "bus_not_running" {
		t.Fatalf("Ready() before Run = %v, %q; want false, bus_not_running", ready, reason)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx) }()
	deadline := time.Now().Add(time.Second)
	for ready, _ := bus.Ready(); !ready; ready, _ = bus.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("bus never became ready")
		}
		time.Sleep(time.Millisecond)
	}
	bus.Publish(ChannelTicks, []byte(`{"symbol":"BTCUSD","price":1}`))
	bus.Publish(ChannelOrders, []byte(`{"userId":"u1","orderId":"o1"}`))
	bus.Publish(ChannelOrders, []byte(`{"orderId":"o2"}`))
	bus.Publish(ChannelPositions, []byte(`{"positionId":"p1","userId":"u1","symbol":"BTCUSD","side":"LONG","quantity":1,"entryPrice":1}`))
	if calls := rec.snapshot(); len(calls) != 3 {
		t.Fatalf("calls = %+v; want tick, order, position", calls)
	}
	if router.Rejects(ChannelOrders, ReasonMissingUser) != 1 {
		t.Fatal("the bus did not validate through the router")
	}
	positions, err := bus.Positions("u1")
	if err != nil || len(positions) != 1 {
		t.Fatalf("Positions(u1) = %q, %v; want the one tracked position", positions, err)
	}
	if tick, err := bus.LastTick("BTCUSD"); tick != nil || err != nil {
		t.Fatalf("LastTick = %q, %v; want nil, nil", tick, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v; want nil", err)
	}
	if ready, reason := bus.Ready(); ready || reason != "bus_stopped" {
		t.Fatalf("Ready() after Run = %v, %q; want false, bus_stopped", ready, reason)
	}
}
