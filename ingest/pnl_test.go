package ingest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	"github.com/protrader5/ws-gateway/engine"
)

func newClockRouter(t *testing.T) (*Router, *recorder, *manualClock) {
	t.Helper()
	rec, clock := newRecorder(), newManualClock()
	return NewRouter(rec, RouterOptions{Logger: quietLogger(), Now: clock.Now}), rec, clock
}

func refreshes(calls []call) []call {
	var out []call
	for _, c := range calls {
		if c.kind == "refresh" {
			out = append(out, c)
		}
	}
	return out
}

// decodeObject decodes a published message for assertions.
func decodeObject(t *testing.T, message string) map[string]any {
	t.Helper()
	var object map[string]any
	if err := sonic.UnmarshalString(message, &object); err != nil {
		t.Fatalf("published %q is not a JSON object: %v", message, err)
	}
	return object
}

func TestLivePNLContractExample(t *testing.T) {
	router, rec, _ := newClockRouter(t)
	update := `{"positionId":"p1","userId":"u1","symbol":"BTCUSD","side":"LONG","quantity":0.1,"entryPrice":50000,"currentPrice":50000,"unrealizedPnL":0,"unrealizedPnLPercent":0,"realizedPnL":5,"timestamp":1700000000000}`
	router.Handle(ChannelPositions, []byte(update))
	router.Handle(ChannelTicks, []byte(`{"symbol":"BTCUSD","price":51000}`))
	calls := rec.snapshot()
	if len(calls) != 3 || calls[0].kind != "user" || calls[0].message != update || calls[0].stream != engine.StreamPositions {
		t.Fatalf("calls = %+v; want the update as-is, the tick, one refresh", calls)
	}
	got := refreshes(calls)
	if len(got) != 1 || got[0].key != "u1" || got[0].positionID != "p1" {
		t.Fatalf("refreshes = %+v; want one for u1/p1", got)
	}
	want := `{"positionId":"p1","userId":"u1","symbol":"BTCUSD","side":"LONG","quantity":0.1,"entryPrice":50000,"realizedPnL":5,"timestamp":1700000000000,"currentPrice":51000,"unrealizedPnL":100,"unrealizedPnLPercent":2}`
	if got[0].message != want {
		t.Fatalf("refresh = %s; want %s", got[0].message, want)
	}
}

func TestLivePNLShortAndFields(t *testing.T) {
	cases := []struct {
		name                  string
		side                  string
		quantity, entry       string
		price                 string
		pnl, percent, current float64
	}{
		{"short gain", "SHORT", "2", "100", "90.5", 19, 9.5, 90.5},
		{"short loss", "short", "1", "100", "110", -10, -10, 110},
		{"long loss", "LONG", "3", "10", "9", -3, -10, 9},
		{"float noise", "LONG", "0.3", "0.1", "0.2", 0.03, 100, 0.2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			router, rec, _ := newClockRouter(t)
			router.Handle(ChannelPositions, []byte(`{"positionId":"p","userId":"u","symbol":"X","side":"`+c.side+`","quantity":`+c.quantity+`,"entryPrice":`+c.entry+`}`))
			router.Handle(ChannelTicks, []byte(`{"symbol":"X","price":`+c.price+`}`))
			got := refreshes(rec.snapshot())
			if len(got) != 1 {
				t.Fatalf("refreshes = %+v; want 1", got)
			}
			object := decodeObject(t, got[0].message)
			if object["unrealizedPnL"] != c.pnl || object["unrealizedPnLPercent"] != c.percent || object["currentPrice"] != c.current {
				t.Fatalf("refresh = %s; want pnl %v percent %v price %v", got[0].message, c.pnl, c.percent, c.current)
			}
		})
	}
}

func TestLivePNLThrottle(t *testing.T) {
	router, rec, clock := newClockRouter(t)
	router.Handle(ChannelPositions, []byte(`{"positionId":"p1","userId":"u1","symbol":"ETHUSD","side":"LONG","quantity":1,"entryPrice":3000,"currentPrice":3000}`))
	tick := func(price string) { router.Handle(ChannelTicks, []byte(`{"symbol":"ETHUSD","price":`+price+`}`)) }
	tick("3000") // unchanged from the update's currentPrice: nothing
	tick("3001") // first change: refresh
	clock.advance(100 * time.Millisecond)
	tick("3002") // within the interval: nothing
	clock.advance(150 * time.Millisecond)
	tick("3003") // interval passed, changed: refresh
	clock.advance(time.Second)
	tick("3003") // unchanged: nothing
	clock.advance(time.Second)
	tick("3004")
	got := refreshes(rec.snapshot())
	var prices []float64
	for _, c := range got {
		prices = append(prices, decodeObject(t, c.message)["currentPrice"].(float64))
	}
	want := []float64{3001, 3003, 3004}
	if len(prices) != len(want) || prices[0] != want[0] || prices[1] != want[1] || prices[2] != want[2] {
		t.Fatalf("refreshed prices = %v; want %v", prices, want)
	}
}

func TestLivePNLCloseForgets(t *testing.T) {
	router, rec, clock := newClockRouter(t)
	router.Handle(ChannelPositions, []byte(`{"positionId":"p1","userId":"u1","symbol":"SOLUSD","side":"LONG","quantity":5,"entryPrice":100}`))
	if n := router.Stats().OpenPositions; n != 1 {
		t.Fatalf("OpenPositions = %d; want 1", n)
	}
	closing := `{"positionId":"p1","userId":"u1","symbol":"SOLUSD","side":"LONG","quantity":0,"entryPrice":100}`
	router.Handle(ChannelPositions, []byte(closing))
	if n := router.Stats().OpenPositions; n != 0 {
		t.Fatalf("OpenPositions after quantity 0 = %d; want 0", n)
	}
	clock.advance(time.Second)
	router.Handle(ChannelTicks, []byte(`{"symbol":"SOLUSD","price":120}`))
	calls := rec.snapshot()
	if len(refreshes(calls)) != 0 || calls[1].message != closing {
		t.Fatalf("calls = %+v; want the closing update delivered and no refresh", calls)
	}
	if got := router.OpenPositions("u1"); len(got) != 0 {
		t.Fatalf("OpenPositions(u1) = %q; want none", got)
	}
}

func TestLivePNLSkipsUnsubscribedKeepsState(t *testing.T) {
	router, rec, clock := newClockRouter(t)
	rec.setSubscribed("u2")
	router.Handle(ChannelPositions, []byte(`{"positionId":"a","userId":"u1","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":100}`))
	router.Handle(ChannelPositions, []byte(`{"positionId":"b","userId":"u2","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":100}`))
	router.Handle(ChannelTicks, []byte(`{"symbol":"AAPL","price":101}`))
	got := refreshes(rec.snapshot())
	if len(got) != 1 || got[0].key != "u2" {
		t.Fatalf("refreshes = %+v; want only u2", got)
	}
	rec.setSubscribed("u1", "u2")
	rec.reset()
	clock.advance(time.Second)
	router.Handle(ChannelTicks, []byte(`{"symbol":"AAPL","price":102}`))
	if got := refreshes(rec.snapshot()); len(got) != 2 {
		t.Fatalf("refreshes after u1 subscribed = %+v; want 2", got)
	}
}

// countingPublisher counts Subscribed calls: a tick of a symbol nobody holds
// must not reach the P&L work at all.
type countingPublisher struct {
	nopPublisher
	subscribedCalls int
}

func (p *countingPublisher) Subscribed(engine.Stream, string) bool {
	p.subscribedCalls++
	return true
}

func TestLivePNLNoWorkForUnheldSymbols(t *testing.T) {
	publisher := &countingPublisher{}
	router := NewRouter(publisher, RouterOptions{Logger: quietLogger()})
	router.Handle(ChannelPositions, []byte(`{"positionId":"a","userId":"u1","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":100}`))
	for i := range 100 {
		router.Handle(ChannelTicks, []byte(`{"symbol":"TSLA","price":`+string(rune('1'+i%9))+`}`))
	}
	if publisher.subscribedCalls != 0 || router.Stats().PositionRefreshes != 0 {
		t.Fatalf("ticks of an unheld symbol: %d Subscribed calls, %d refreshes; want 0, 0", publisher.subscribedCalls, router.Stats().PositionRefreshes)
	}
}

func TestSeedPositions(t *testing.T) {
	router, rec, _ := newClockRouter(t)
	router.Handle(ChannelPositions, []byte(`{"positionId":"old","userId":"u1","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":100}`))
	router.SeedPositions("u1", [][]byte{
		[]byte(`{"positionId":"p1","userId":"u1","symbol":"BTCUSD","side":"LONG","quantity":0.1,"entryPrice":50000}`),
		[]byte(`{"positionId":"p2","userId":"u2","symbol":"BTCUSD","side":"LONG","quantity":1,"entryPrice":1}`), // another user's
		[]byte(`not json`),
		[]byte(`{"positionId":"p3","userId":"u1","symbol":"BTCUSD","side":"SHORT","quantity":0,"entryPrice":1}`), // closed
	})
	if got := router.OpenPositions("u1"); len(got) != 1 {
		t.Fatalf("OpenPositions(u1) = %q; want p1 only (snapshot replaces)", got)
	}
	if router.Rejects(ChannelPositions, ReasonInvalidUser) != 1 || router.Rejects(ChannelPositions, ReasonInvalidJSON) != 1 {
		t.Fatalf("rejects = %+v; want one invalid_user, one invalid_json", router.Stats().Rejected[ChannelPositions])
	}
	router.Handle(ChannelTicks, []byte(`{"symbol":"BTCUSD","price":51000}`))
	got := refreshes(rec.snapshot())
	if len(got) != 1 || decodeObject(t, got[0].message)["unrealizedPnL"] != 100.0 {
		t.Fatalf("refreshes = %+v; want p1 with pnl 100", got)
	}
}

// A snapshot read on subscribe merges: a position known from
// position:updates but absent from the hash stays tracked and is returned.
func TestSubscribeSnapshotMergesWithUpdates(t *testing.T) {
	router, rec, _ := newClockRouter(t)
	router.Handle(ChannelPositions, []byte(`{"positionId":"live","userId":"u1","symbol":"BTCUSD","side":"LONG","quantity":0.1,"entryPrice":50000}`))
	router.Handle(ChannelPositions, []byte(`{"positionId":"stale","userId":"u1","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":100}`))
	returned := router.seedPositions("u1", [][]byte{
		[]byte(`{"positionId":"p2","userId":"u1","symbol":"ETHUSD","side":"SHORT","quantity":1,"entryPrice":3000}`),
		[]byte(`{"positionId":"stale","userId":"u1","symbol":"AAPL","side":"LONG","quantity":0,"entryPrice":100}`), // closed in the hash
	}, false)
	var ids []string
	for _, raw := range returned {
		ids = append(ids, decodeObject(t, string(raw))["positionId"].(string))
	}
	if strings.Join(ids, ",") != "p2,live" {
		t.Fatalf("returned positions %v; want the snapshot's p2, then the tracked live", ids)
	}
	if got := router.OpenPositions("u1"); len(got) != 2 {
		t.Fatalf("OpenPositions(u1) = %q; want live and p2", got)
	}
	router.Handle(ChannelTicks, []byte(`{"symbol":"BTCUSD","price":51000}`))
	if got := refreshes(rec.snapshot()); len(got) != 1 || decodeObject(t, got[0].message)["unrealizedPnL"] != 100.0 {
		t.Fatalf("refreshes = %+v; want the live position with pnl 100", got)
	}
}

func TestUnrealizedRounding(t *testing.T) {
	pnl, percent := unrealized(false, 50000, 0.1, 51000)
	if pnl != 100 || percent != 2 {
		t.Fatalf("unrealized(LONG 0.1 @ 50000, 51000) = %v, %v; want 100, 2", pnl, percent)
	}
	if pnl, percent := unrealized(true, 0, 1, 5); pnl != -5 || percent != 0 {
		t.Fatalf("unrealized(SHORT 1 @ 0, 5) = %v, %v; want -5, 0", pnl, percent)
	}
	if got := string(appendNumber(nil, -0.0)); got != "0" {
		t.Fatalf("appendNumber(-0) = %s; want 0", got)
	}
}

// Handle, SeedPositions and OpenPositions run concurrently (Redis drain,
// bus publishers, engine snapshot reads); run with -race.
func TestRouterConcurrent(t *testing.T) {
	router := NewRouter(nopPublisher{}, RouterOptions{Logger: quietLogger(), PNLInterval: time.Nanosecond})
	done := make(chan struct{})
	for worker := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				switch (worker + i) % 4 {
				case 0:
					router.Handle(ChannelTicks, []byte(`{"symbol":"BTCUSD","price":`+strconv.Itoa(50000+i)+`}`))
				case 1:
					router.Handle(ChannelPositions, []byte(`{"positionId":"p`+strconv.Itoa(i%7)+`","userId":"u1","symbol":"BTCUSD","side":"LONG","quantity":`+strconv.Itoa(i%3)+`,"entryPrice":50000}`))
				case 2:
					router.SeedPositions("u1", [][]byte{[]byte(`{"positionId":"p1","userId":"u1","symbol":"BTCUSD","side":"SHORT","quantity":1,"entryPrice":1}`)})
				case 3:
					router.OpenPositions("u1")
					router.Stats()
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
