package ingest

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestDemoFeedTicksConsistent(t *testing.T) {
	router, rec := newTestRouter(t)
	clock := newManualClock()
	feed := NewDemoFeed(NewBus(router), DemoOptions{Seed: 42, Now: clock.Now})
	open := map[string]float64{}
	for _, a := range feed.assets {
		open[a.symbol] = a.open
	}
	for range 400 {
		feed.step()
		feed.publishTicks()
		clock.advance(DefaultDemoTickInterval)
	}
	high, low := map[string]float64{}, map[string]float64{}
	for _, c := range rec.snapshot() {
		if c.kind != "tick" {
			t.Fatalf("unexpected call %+v", c)
		}
		tick := decodeObject(t, c.message)
		for _, field := range []string{"symbol", "price", "volume", "high24h", "low24h", "change24h", "changePercent24h", "timestamp"} {
			if _, ok := tick[field]; !ok {
				t.Fatalf("tick %s lacks %s", c.message, field)
			}
		}
		price := tick["price"].(float64)
		high[c.key] = math.Max(math.Max(high[c.key], price), open[c.key])
		if low[c.key] == 0 {
			low[c.key] = open[c.key]
		}
		low[c.key] = math.Min(low[c.key], price)
		if tick["high24h"] != high[c.key] || tick["low24h"] != low[c.key] {
			t.Fatalf("tick %s: high/low %v/%v; want %v/%v", c.message, tick["high24h"], tick["low24h"], high[c.key], low[c.key])
		}
		change := tick["change24h"].(float64)
		if math.Abs(change-(price-open[c.key])) > 1e-6 {
			t.Fatalf("tick %s: change24h %v; want price-open %v", c.message, change, price-open[c.key])
		}
		if percent := tick["changePercent24h"].(float64); math.Abs(percent-change/open[c.key]*100) > 1e-3 {
			t.Fatalf("tick %s: changePercent24h %v; want %v", c.message, percent, change/open[c.key]*100)
		}
	}
	if len(high) != 5 {
		t.Fatalf("symbols = %v; want 5", high)
	}
	// Same seed, same walk.
	again := NewDemoFeed(NewBus(NewRouter(newRecorder(), RouterOptions{})), DemoOptions{Seed: 42, Now: newManualClock().Now})
	for range 400 {
		again.step()
	}
	if again.assets[0].price != feed.assets[0].price {
		t.Fatalf("seeded walks differ: %v vs %v", again.assets[0].price, feed.assets[0].price)
	}
}

func TestDemoFeedRun(t *testing.T) {
	router, rec := newTestRouter(t)
	feed := NewDemoFeed(NewBus(router), DemoOptions{
		Seed: 7, UserIDs: []string{"alice", ""}, TickInterval: 2 * time.Millisecond, EventInterval: 20 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if err := feed.Run(ctx); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	kinds := map[string]map[string]int{}
	for _, c := range rec.snapshot() {
		if kinds[c.kind] == nil {
			kinds[c.kind] = map[string]int{}
		}
		kinds[c.kind][c.key+"/"+c.stream.String()]++
	}
	for _, user := range []string{"demo", "alice"} {
		for _, stream := range []string{"orders", "positions", "notifications"} {
			if kinds["user"][user+"/"+stream] == 0 {
				t.Errorf("no %s for %s: %v", stream, user, kinds["user"])
			}
		}
		if kinds["refresh"][user+"/positions"] == 0 {
			t.Errorf("no live P&L refresh for %s", user)
		}
	}
	stats := router.Stats()
	for _, c := range Channels {
		for _, r := range Reasons {
			if stats.Rejected[c][r] != 0 {
				t.Errorf("demo message rejected on %v for %v", c, r)
			}
		}
	}
}
