package ingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/auth"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newTestRouter(t testing.TB) (*Router, *recorder) {
	t.Helper()
	rec := newRecorder()
	return NewRouter(rec, RouterOptions{Logger: quietLogger()}), rec
}

func TestRouterTickPassedUntouched(t *testing.T) {
	router, rec := newTestRouter(t)
	tick := `{"symbol":"BTCUSD","price":50000.10,"volume":1e6,"x":"\u00e9<b>"}`
	router.Handle(ChannelTicks, []byte("  "+tick+"\n"))
	calls := rec.snapshot()
	if len(calls) != 1 || calls[0].kind != "tick" || calls[0].key != "BTCUSD" || calls[0].message != tick {
		t.Fatalf("Handle(tick) calls = %+v; want one tick %s", calls, tick)
	}
	if got := router.Accepted(ChannelTicks); got != 1 {
		t.Fatalf("Accepted(ticks) = %d; want 1", got)
	}
}

func TestRouterTickArray(t *testing.T) {
	router, rec := newTestRouter(t)
	payload := `[ {"symbol":"BTCUSD","price":1}, 42, {"symbol":"bad"} ,{"symbol":"ETH-USD","price":2,"n":[1,{"a":"]"}]}, {"price":3} ]`
	router.Handle(ChannelTicks, []byte(payload))
	calls := rec.snapshot()
	want := []call{
		{kind: "tick", key: "BTCUSD", message: `{"symbol":"BTCUSD","price":1}`},
		{kind: "tick", key: "ETH-USD", message: `{"symbol":"ETH-USD","price":2,"n":[1,{"a":"]"}]}`},
	}
	if len(calls) != len(want) {
		t.Fatalf("Handle(array) calls = %+v; want %+v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("call %d = %+v; want %+v", i, calls[i], want[i])
		}
	}
	for _, c := range []struct {
		reason Reason
		want   uint64
	}{{ReasonNotObject, 1}, {ReasonInvalidSymbol, 1}, {ReasonMissingSymbol, 1}} {
		if got := router.Rejects(ChannelTicks, c.reason); got != c.want {
			t.Errorf("Rejects(ticks, %v) = %d; want %d", c.reason, got, c.want)
		}
	}
}

func TestRouterRejects(t *testing.T) {
	long := `{"userId":"` + strings.Repeat("u", auth.MaxUserIDBytes+1) + `"}`
	cases := []struct {
		name    string
		channel Channel
		payload string
		reason  Reason
	}{
		{"empty", ChannelTicks, ``, ReasonInvalidJSON},
		{"not json", ChannelTicks, `hello`, ReasonInvalidJSON},
		{"truncated", ChannelOrders, `{"userId":"u1"`, ReasonInvalidJSON},
		{"trailing garbage", ChannelTicks, `{"symbol":"BTCUSD"} x`, ReasonInvalidJSON},
		{"two values", ChannelOrders, `{"userId":"a"}{"userId":"b"}`, ReasonInvalidJSON},
		{"invalid utf8", ChannelNotifications, "{\"userId\":\"u\xff\"}", ReasonInvalidUTF8},
		{"tick number", ChannelTicks, `12`, ReasonNotObject},
		{"tick string", ChannelTicks, `"BTCUSD"`, ReasonNotObject},
		{"user array", ChannelOrders, `[{"userId":"u1"}]`, ReasonNotObject},
		{"user null", ChannelPositions, `null`, ReasonNotObject},
		{"no symbol", ChannelTicks, `{"price":1}`, ReasonMissingSymbol},
		{"nested symbol only", ChannelTicks, `{"a":{"symbol":"BTCUSD"}}`, ReasonMissingSymbol},
		{"lower symbol", ChannelTicks, `{"symbol":"btcusd"}`, ReasonInvalidSymbol},
		{"numeric symbol", ChannelTicks, `{"symbol":12}`, ReasonInvalidSymbol},
		{"long symbol", ChannelTicks, `{"symbol":"` + strings.Repeat("A", 33) + `"}`, ReasonInvalidSymbol},
		{"symbol leading dot", ChannelTicks, `{"symbol":".A"}`, ReasonInvalidSymbol},
		{"empty symbol", ChannelTicks, `{"symbol":""}`, ReasonInvalidSymbol},
		{"string price", ChannelTicks, `{"symbol":"BTCUSD","price":"1"}`, ReasonInvalidPrice},
		{"huge price", ChannelTicks, `{"symbol":"BTCUSD","price":1e999}`, ReasonInvalidPrice},
		{"duplicate symbol", ChannelTicks, `{"symbol":"BTCUSD","symbol":"ETHUSD"}`, ReasonDuplicateKey},
		{"no user", ChannelOrders, `{"orderId":"o1"}`, ReasonMissingUser},
		{"numeric user", ChannelOrders, `{"userId":7}`, ReasonInvalidUser},
		{"empty user", ChannelNotifications, `{"userId":""}`, ReasonInvalidUser},
		{"long user", ChannelPositions, long, ReasonInvalidUser},
		{"duplicate user", ChannelOrders, `{"userId":"alice","userId":"bob"}`, ReasonDuplicateKey},
		{"too large", ChannelTicks, `{"symbol":"BTCUSD","pad":"` + strings.Repeat("x", 200) + `"}`, ReasonTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecorder()
			router := NewRouter(rec, RouterOptions{Logger: quietLogger(), MaxMessageBytes: 200})
			router.Handle(c.channel, []byte(c.payload))
			if calls := rec.snapshot(); len(calls) != 0 {
				t.Fatalf("Handle(%v, %q) published %+v; want nothing", c.channel, c.payload, calls)
			}
			if got := router.Rejects(c.channel, c.reason); got != 1 {
				t.Fatalf("Handle(%v, %q): Rejects(%v) = %d; want 1 (stats %+v)", c.channel, c.payload, c.reason, got, router.Stats().Rejected[c.channel])
			}
			if c.channel == ChannelTicks {
				return
			}
			// A stream entry's data is held to the same rules.
			router.HandleEntry(c.channel, []byte(c.payload), engine.EntryID{Millis: 1})
			if calls := rec.snapshot(); len(calls) != 0 {
				t.Fatalf("HandleEntry(%v, %q) published %+v; want nothing", c.channel, c.payload, calls)
			}
			if got := router.Rejects(c.channel, c.reason); got != 2 {
				t.Fatalf("HandleEntry(%v, %q): Rejects(%v) = %d; want 2", c.channel, c.payload, c.reason, got)
			}
		})
	}
}

func TestRouterHandleEntry(t *testing.T) {
	router, rec := newTestRouter(t)
	position := `{"positionId":"p1","userId":"u2","symbol":"BTCUSD","side":"LONG","quantity":1,"entryPrice":100}`
	entries := []struct {
		channel Channel
		stream  engine.Stream
		payload string
		user    string
		id      engine.EntryID
	}{
		{ChannelOrders, engine.StreamOrders, `{"orderId":"o1","userId":"u1"}`, "u1", engine.EntryID{Millis: 1700000000000, Seq: 0}},
		{ChannelOrders, engine.StreamOrders, `{"orderId":"o2","userId":"u1"}`, "u1", engine.EntryID{Millis: 1700000000000, Seq: 1}},
		{ChannelPositions, engine.StreamPositions, position, "u2", engine.EntryID{Millis: 5, Seq: 7}},
		{ChannelNotifications, engine.StreamNotifications, `{"id":"n1","userId":"u3"}`, "u3", engine.EntryID{Millis: 9}},
	}
	for _, e := range entries {
		router.HandleEntry(e.channel, []byte(e.payload), e.id)
	}
	calls := rec.snapshot()
	if len(calls) != len(entries) {
		t.Fatalf("HandleEntry calls = %+v; want %d entries", calls, len(entries))
	}
	for i, e := range entries {
		want := call{kind: "entry", stream: e.stream, key: e.user, message: e.payload, id: e.id}
		if calls[i] != want {
			t.Errorf("call %d = %+v; want %+v", i, calls[i], want)
		}
		if got := router.Accepted(e.channel); got == 0 {
			t.Errorf("Accepted(%v) = 0 after an entry", e.channel)
		}
	}
	// A position read from a stream feeds live P&L like one from Pub/Sub.
	if open := router.OpenPositions("u2"); len(open) != 1 {
		t.Fatalf("OpenPositions(u2) = %q; want the streamed position", open)
	}
}

func TestRouterHandleEntryOnTicksPanics(t *testing.T) {
	router, _ := newTestRouter(t)
	defer func() {
		if recover() == nil {
			t.Fatal("HandleEntry(ChannelTicks) did not panic")
		}
	}()
	router.HandleEntry(ChannelTicks, []byte(`{"symbol":"BTCUSD"}`), engine.EntryID{})
}

func TestRouterUserMessages(t *testing.T) {
	router, rec := newTestRouter(t)
	cases := []struct {
		channel Channel
		stream  engine.Stream
		payload string
		user    string
	}{
		{ChannelOrders, engine.StreamOrders, `{"orderId":"o1","userId":"u1","status":"FILLED"}`, "u1"},
		{ChannelPositions, engine.StreamPositions, `{"positionId":"p1","userId":"u2","quantity":0}`, "u2"},
		{ChannelNotifications, engine.StreamNotifications, `{"id":"n1","userId":"caf\u00e9","metadata":{"userId":"x"}}`, "café"},
		{ChannelOrders, engine.StreamOrders, `{"userId":"a","metadata":{"userId":"b"}}`, "a"},
	}
	for _, c := range cases {
		rec.reset()
		router.Handle(c.channel, []byte(c.payload))
		calls := rec.snapshot()
		if len(calls) != 1 || calls[0].kind != "user" || calls[0].stream != c.stream || calls[0].key != c.user || calls[0].message != c.payload {
			t.Errorf("Handle(%v, %s) = %+v; want user %q on %v", c.channel, c.payload, calls, c.user, c.stream)
		}
	}
}

// A user id is routed exactly when a token naming it is accepted at connect:
// a user who can connect can be sent messages, and no message is routed to
// an id nobody can connect as.
func TestRouterUserIDsMatchAuthentication(t *testing.T) {
	secret := []byte("s")
	authenticator, err := auth.New(auth.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	longest := strings.Repeat("u", 128)
	cases := []struct {
		name string
		id   string
		want bool
	}{
		{"128 bytes", longest, true},
		{"129 bytes", longest + "u", false},
		{"129 bytes in 128 characters", longest[1:] + "é", false},
		{"empty", "", false},
		{"control character", "u\x01", true},
		{"non-ASCII", "café", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": c.id, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
			if err != nil {
				t.Fatal(err)
			}
			_, code := authenticator.Verify(token)
			if connects := code == ""; connects != c.want {
				t.Fatalf("Verify(sub %q) = %q; want accepted %v", c.id, code, c.want)
			}
			quoted, err := json.Marshal(c.id)
			if err != nil {
				t.Fatal(err)
			}
			router, rec := newTestRouter(t)
			router.Handle(ChannelOrders, []byte(`{"orderId":"o1","userId":`+string(quoted)+`}`))
			calls := rec.snapshot()
			if routed := len(calls) == 1 && calls[0].key == c.id; routed != c.want {
				t.Fatalf("Handle(userId %q) = %+v; want routed %v", c.id, calls, c.want)
			}
			if !c.want && router.Rejects(ChannelOrders, ReasonInvalidUser) != 1 {
				t.Fatalf("Handle(userId %q) stats %+v; want one invalid_user", c.id, router.Stats().Rejected[ChannelOrders])
			}
		})
	}
}

// countingHandler counts warnings and remembers the last one's attributes.
type countingHandler struct {
	mu    sync.Mutex
	count int
	last  map[string]string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, record slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count++
	h.last = map[string]string{}
	record.Attrs(func(a slog.Attr) bool {
		h.last[a.Key] = a.Value.String()
		return true
	})
	return nil
}

func TestRouterWarningsRateLimited(t *testing.T) {
	clock := newManualClock()
	handler := &countingHandler{}
	router := NewRouter(newRecorder(), RouterOptions{Logger: slog.New(handler), Now: clock.Now})
	for range 50 {
		router.Handle(ChannelOrders, []byte(`nope`))
	}
	router.Handle(ChannelTicks, []byte(`nope`)) // another channel has its own budget
	if handler.count != 2 {
		t.Fatalf("warnings after 51 rejects in one instant = %d; want 2", handler.count)
	}
	clock.advance(DefaultWarnInterval)
	router.Handle(ChannelOrders, []byte(`{"userId":1}`))
	if handler.count != 3 || handler.last["suppressed"] != "49" || handler.last["reason"] != "invalid_user" || handler.last["channel"] != "order:updates" {
		t.Fatalf("warning after interval: count %d, attrs %v; want 3 with suppressed=49", handler.count, handler.last)
	}
	if got := router.Rejects(ChannelOrders, ReasonInvalidJSON); got != 50 {
		t.Fatalf("Rejects(orders, invalid_json) = %d; want 50", got)
	}
}

func TestRouterHandleUnknownChannelPanics(t *testing.T) {
	router, _ := newTestRouter(t)
	defer func() {
		if recover() == nil {
			t.Fatal("Handle(Channel(9)) did not panic")
		}
	}()
	router.Handle(Channel(9), []byte(`{}`))
}

func TestChannelAndReasonNames(t *testing.T) {
	for _, c := range Channels {
		if c.String() == "unknown" {
			t.Errorf("Channel(%d) has no name", c)
		}
	}
	seen := map[string]bool{}
	for _, r := range Reasons {
		name := r.String()
		if name == "unknown" || seen[name] {
			t.Errorf("Reason(%d) name %q missing or repeated", r, name)
		}
		seen[name] = true
	}
}

// A tick of a symbol nobody holds must cost no allocation in the router.
func TestHandleTickAllocations(t *testing.T) {
	router := NewRouter(nopPublisher{}, RouterOptions{Logger: quietLogger()})
	tick := []byte(`{"symbol":"BTCUSD","price":50000.5,"volume":1000000,"high24h":51000,"low24h":49000,"change24h":500,"changePercent24h":1,"timestamp":1700000000000}`)
	router.Handle(ChannelTicks, tick) // intern the symbol
	allocs := testing.AllocsPerRun(200, func() { router.Handle(ChannelTicks, tick) })
	if allocs > maxTickAllocs {
		t.Fatalf("Handle(tick) allocations = %v; want <= %d", allocs, maxTickAllocs)
	}
}

type nopPublisher struct{}

func (nopPublisher) PublishTick(string, []byte)                                     {}
func (nopPublisher) SeedTick(string, []byte)                                        {}
func (nopPublisher) PublishUser(engine.Stream, string, []byte)                      {}
func (nopPublisher) PublishUserEntry(engine.Stream, string, []byte, engine.EntryID) {}
func (nopPublisher) HistoryFrom(engine.Stream, engine.EntryID)                      {}
func (nopPublisher) PublishPositionRefresh(string, string, []byte)                  {}
func (nopPublisher) Subscribed(engine.Stream, string) bool                          { return true }

func BenchmarkHandle(b *testing.B) {
	tick := []byte(`{"symbol":"BTCUSD","price":50000.5,"volume":1000000,"high24h":51000,"low24h":49000,"change24h":500,"changePercent24h":1,"timestamp":1700000000000}`)
	array := []byte("[" + strings.Repeat(string(tick)+",", 9) + string(tick) + "]")
	order := []byte(`{"orderId":"o-1","userId":"user-42","symbol":"BTCUSD","type":"LIMIT","side":"BUY","quantity":0.1,"price":50000,"status":"FILLED","filledQuantity":0.1,"remainingQuantity":0,"averagePrice":50000,"timestamp":1700000000000}`)
	held := []byte(`{"positionId":"p1","userId":"user-42","symbol":"BTCUSD","side":"LONG","quantity":0.1,"entryPrice":50000,"currentPrice":50000,"unrealizedPnL":0,"unrealizedPnLPercent":0,"realizedPnL":0,"timestamp":1700000000000}`)
	b.Run("tick", func(b *testing.B) {
		router := NewRouter(nopPublisher{}, RouterOptions{Logger: quietLogger()})
		b.ReportAllocs()
		b.SetBytes(int64(len(tick)))
		for b.Loop() {
			router.Handle(ChannelTicks, tick)
		}
	})
	b.Run("array=10", func(b *testing.B) {
		router := NewRouter(nopPublisher{}, RouterOptions{Logger: quietLogger()})
		b.ReportAllocs()
		b.SetBytes(int64(len(array)))
		for b.Loop() {
			router.Handle(ChannelTicks, array)
		}
	})
	b.Run("order", func(b *testing.B) {
		router := NewRouter(nopPublisher{}, RouterOptions{Logger: quietLogger()})
		b.ReportAllocs()
		for b.Loop() {
			router.Handle(ChannelOrders, order)
		}
	})
	b.Run("tick/held", func(b *testing.B) {
		// Every tick changes the price and the interval has passed: a full
		// live P&L refresh per tick, the worst case.
		clock := newManualClock()
		router := NewRouter(nopPublisher{}, RouterOptions{Logger: quietLogger(), Now: clock.Now})
		router.Handle(ChannelPositions, held)
		ticks := [2][]byte{
			[]byte(`{"symbol":"BTCUSD","price":51000}`),
			[]byte(`{"symbol":"BTCUSD","price":51001}`),
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			clock.advance(time.Second)
			router.Handle(ChannelTicks, ticks[i&1])
			i++
		}
	})
}

// maxTickAllocs is the allocation budget of Handle for one tick of a symbol
// nobody holds.
const maxTickAllocs = 0
