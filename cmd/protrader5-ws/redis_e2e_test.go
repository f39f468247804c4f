package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// End-to-end tests of Redis ingest (docs/ingest.md): the real gateway
// binary, a real redis-server, the stock socket.io-client.

// userChannel is one of the three user channels with the event it becomes
// and the id member its messages carry.
type userChannel struct {
	channel, event, stream, idKey, tag string
}

var userChannels = []userChannel{
	{"order:updates", "order:update", "orders", "orderId", "o"},
	{"position:updates", "position:update", "positions", "positionId", "p"},
	{"notifications", "notification", "notifications", "id", "n"},
}

// byName returns, per event name, the values of key in arrival order.
func byName(events []collectEvent, key string) map[string][]string {
	out := make(map[string][]string)
	for _, event := range events {
		out[event.Name] = append(out[event.Name], field(event.Payload, key))
	}
	return out
}

// marketBySymbol returns, per symbol, the seq of each market:data in order.
func marketBySymbol(events []collectEvent) map[string][]string {
	out := make(map[string][]string)
	for _, event := range events {
		if event.Name == "market:data" {
			symbol := strings.Trim(field(event.Payload, "symbol"), `"`)
			out[symbol] = append(out[symbol], field(event.Payload, "seq"))
		}
	}
	return out
}

func TestRedisIngestRoutesEachChannel(t *testing.T) {
	url, prefix := redistest.URL(t), e2ePrefix(t)
	g := startGateway(t, 0, redisEnv(url, prefix)...)
	g.waitReady(200, 10*time.Second)
	b := newBackend(t, url, prefix)

	all := []string{"orders", "positions", "notifications"}
	clients := map[string]*collector{
		// alice on ZZA and ZZC with every user stream.
		"alice": startCollector(t, g, "alice", "alice", collectSpec{Symbols: []string{"zza", "ZZC"}, Streams: all, Markers: 4}),
		// bob on ZZB with every user stream.
		"bob": startCollector(t, g, "bob", "bob", collectSpec{Symbols: []string{"ZZB"}, Streams: all, Markers: 4}),
		// a second socket of alice that wants notifications only.
		"alice-notifications": startCollector(t, g, "alice-notifications", "alice", collectSpec{Streams: []string{"notifications"}, Markers: 1}),
	}
	before := g.metrics()

	ticks := []string{
		`{"symbol":"ZZA","price":1,"seq":1}`,
		`{"symbol":"ZZA","price":`, // invalid_json
		`{"symbol":"ZZB","price":2,"seq":2}`,
		`{"price":3,"seq":3}`,             // missing_symbol
		`{"symbol":"bad symbol","seq":4}`, // invalid_symbol
		`[{"symbol":"ZZA","seq":5},{"symbol":"ZZB","seq":6},{"symbol":"zz-a","seq":7},{"symbol":"ZZC","seq":8}]`, // one invalid_symbol
		`{"symbol":"ZZC","price":"high","seq":11}`,                                                               // invalid_price
		`{"symbol":"ZZA","seq":9,"marker":true}`,
		`{"symbol":"ZZB","seq":10,"marker":true}`,
	}
	userMessages := func(c userChannel) []string {
		id := func(n int) string { return fmt.Sprintf(`"%s":"%s%d"`, c.idKey, c.tag, n) }
		return []string{
			`{` + id(1) + `,"userId":"alice"}`,
			`{` + id(9) + `,"userId":"alice"`, // invalid_json
			`{` + id(2) + `,"userId":"bob"}`,
			`{` + id(3) + `}`,                    // missing_user
			`{` + id(4) + `,"userId":42}`,        // invalid_user: not a string
			`[{` + id(6) + `,"userId":"alice"}]`, // not_object
			`{` + id(5) + `,"userId":"alice"}`,
			`{` + id(7) + `,"userId":"alice","marker":true}`,
			`{` + id(8) + `,"userId":"bob","marker":true}`,
			`{` + id(10) + `,"userId":"alice","userId":"bob"}`, // duplicate_key: which user is it for?
		}
	}
	// Interleave the four channels step by step; the steps are paced so that
	// a client keeping up gets every tick (no conflation to excuse a loss).
	for step := range len(ticks) + 1 {
		if step < len(ticks) {
			if n := b.publish("market:ticks", ticks[step]); n != 1 {
				t.Fatalf("PUBLISH market:ticks reached %d subscribers; want 1 (the gateway)", n)
			}
		}
		for _, c := range userChannels {
			b.publish(c.channel, userMessages(c)[step])
		}
		time.Sleep(30 * time.Millisecond)
	}

	results := make(map[string]collectResult)
	for name, c := range clients {
		results[name] = c.wait()
	}

	wantMarket := map[string]map[string][]string{
		"alice":               {"ZZA": {"1", "5", "9"}, "ZZC": {"8"}},
		"bob":                 {"ZZB": {"2", "6", "10"}},
		"alice-notifications": {},
	}
	for name, result := range results {
		if got := marketBySymbol(result.Events); !reflect.DeepEqual(got, wantMarket[name]) {
			t.Errorf("%s: market:data seq by symbol = %v; want %v; events:%s", name, got, wantMarket[name], describeEvents(result.Events))
		}
	}
	if got := string(results["alice"].MarketAck); got != `{"ok":true,"symbols":["ZZA","ZZC"]}` {
		t.Errorf("alice subscribe:market ack = %s", got)
	}
	wantUser := map[string]map[string][]string{
		"alice":               {"order:update": {`"o1"`, `"o5"`, `"o7"`}, "position:update": {`"p1"`, `"p5"`, `"p7"`}, "notification": {`"n1"`, `"n5"`, `"n7"`}},
		"bob":                 {"order:update": {`"o2"`, `"o8"`}, "position:update": {`"p2"`, `"p8"`}, "notification": {`"n2"`, `"n8"`}},
		"alice-notifications": {"notification": {`"n1"`, `"n5"`, `"n7"`}},
	}
	for name, result := range results {
		got := make(map[string][]string)
		for _, c := range userChannels {
			for _, event := range result.Events {
				if event.Name == c.event {
					got[c.event] = append(got[c.event], field(event.Payload, c.idKey))
				}
			}
		}
		if !reflect.DeepEqual(got, wantUser[name]) {
			t.Errorf("%s: user events by name = %v; want %v; events:%s", name, got, wantUser[name], describeEvents(result.Events))
		}
		for _, event := range result.Events {
			if event.Name == "disconnect" || event.Name == "error" {
				t.Errorf("%s: unexpected %s event: %s %s", name, event.Name, event.Reason, event.Payload)
			}
		}
	}

	wantDeltas := map[string]float64{
		rejectSeries("market:ticks", "invalid_json"):   1,
		rejectSeries("market:ticks", "missing_symbol"): 1,
		rejectSeries("market:ticks", "invalid_symbol"): 2,
		rejectSeries("market:ticks", "invalid_price"):  1,
		acceptSeries("market:ticks"):                   7,
	}
	for _, c := range userChannels {
		for _, reason := range []string{"invalid_json", "missing_user", "invalid_user", "not_object", "duplicate_key"} {
			wantDeltas[rejectSeries(c.channel, reason)] = 1
		}
		wantDeltas[acceptSeries(c.channel)] = 5
	}
	// Every message was handled before its channel's marker arrived; the
	// poll only covers the scrape racing the last counter increment.
	var got map[string]float64
	for deadline := time.Now().Add(2 * time.Second); ; {
		got = metricDeltas(before, g.metrics(), "protrader5_ingest_rejects_total", "protrader5_ingest_messages_total")
		if reflect.DeepEqual(got, wantDeltas) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, name := range unionKeys(got, wantDeltas) {
		if got[name] != wantDeltas[name] {
			t.Errorf("%s changed by %v; want %v", name, got[name], wantDeltas[name])
		}
	}
}

// Positions used by the snapshot and P&L tests, in the shape docs/protocol.md gives.
const (
	snapshotP1 = `{"positionId":"p1","userId":"alice","symbol":"BTCUSD","side":"LONG","quantity":0.1,"entryPrice":50000,"currentPrice":50000,"unrealizedPnL":0,"unrealizedPnLPercent":0,"realizedPnL":0,"timestamp":"2026-11-25T08:00:00.000Z"}`
	snapshotP2 = `{"positionId":"p2","userId":"alice","symbol":"ETHUSD","side":"SHORT","quantity":2,"entryPrice":3000,"currentPrice":3000,"unrealizedPnL":0,"unrealizedPnLPercent":0,"realizedPnL":0,"timestamp":"2026-11-25T08:00:00.000Z"}`
)

func payloads(events []collectEvent) []string {
	out := make([]string, len(events))
	for i, event := range events {
		out[i] = event.Name + " " + string(event.Payload)
	}
	return out
}

func TestRedisSnapshotsOnSubscribe(t *testing.T) {
	url, prefix := redistest.URL(t), e2ePrefix(t)
	b := newBackend(t, url, prefix)
	tick := `{"symbol":"ZZTEST","price":42.5,"volume":7,"high24h":43,"low24h":40,"change24h":1.5,"changePercent24h":3.66,"timestamp":"2026-11-25T08:00:00.000Z"}`
	b.set("market:last:ZZTEST", tick)
	b.hset("positions:alice", "p1", snapshotP1)
	b.hset("positions:alice", "p2", snapshotP2)
	g := startGateway(t, 0, redisEnv(url, prefix)...)
	g.waitReady(200, 10*time.Second)

	const hits, misses = "protrader5_redis_cache_hits_total", "protrader5_redis_cache_misses_total"
	cacheDeltas := func(before map[string]float64) map[string]float64 {
		return metricDeltas(before, g.metrics(), hits, misses)
	}

	// The last tick and the open positions arrive at once, nothing published.
	before := g.metrics()
	first := startCollector(t, g, "first", "alice", collectSpec{Symbols: []string{"ZZTEST"}, Streams: []string{"positions"}, Events: 3}).wait()
	got := payloads(first.Events)
	slices.Sort(got) // the tick and the positions travel independently
	want := []string{"market:data " + tick, "position:update " + snapshotP1, "position:update " + snapshotP2}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("first subscription got:%s\nwant %q", describeEvents(first.Events), want)
	}
	if positions := summary(first.Events, "positionId"); !slices.Equal(slices.DeleteFunc(positions, func(s string) bool { return !strings.HasPrefix(s, "position") }),
		[]string{`position:update:"p1"`, `position:update:"p2"`}) {
		t.Errorf("positions snapshot order = %v; want p1, p2", positions)
	}
	for _, event := range first.Events {
		if event.At > 1000 {
			t.Errorf("%s arrived %vms after connecting; want at once", event.Name, event.At)
		}
	}
	if got, want := cacheDeltas(before), map[string]float64{misses: 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("cache counters after first reads changed by %v; want %v", got, want)
	}

	// A changed position: the cached hash is invalidated, the next
	// subscription reads the new value.
	p1Moved := strings.Replace(snapshotP1, `"quantity":0.1`, `"quantity":0.2`, 1)
	b.hset("positions:alice", "p1", p1Moved)
	before = g.metrics()
	second := startCollector(t, g, "second", "alice", collectSpec{Streams: []string{"positions"}, Events: 2}).wait()
	if got, want := payloads(second.Events), []string{"position:update " + p1Moved, "position:update " + snapshotP2}; !reflect.DeepEqual(got, want) {
		t.Errorf("after HSET, subscription got:%s\nwant %q", describeEvents(second.Events), want)
	}
	if got, want := cacheDeltas(before), map[string]float64{misses: 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("cache counters after an invalidated read changed by %v; want %v", got, want)
	}

	// Unchanged: served from the client-side cache.
	before = g.metrics()
	third := startCollector(t, g, "third", "alice", collectSpec{Streams: []string{"positions"}, Events: 2}).wait()
	if got, want := payloads(third.Events), []string{"position:update " + p1Moved, "position:update " + snapshotP2}; !reflect.DeepEqual(got, want) {
		t.Errorf("repeated subscription got:%s\nwant %q", describeEvents(third.Events), want)
	}
	if got, want := cacheDeltas(before), map[string]float64{hits: 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("cache counters after an unchanged read changed by %v; want %v", got, want)
	}

	// Another user sees none of alice's positions; a symbol without
	// market:last gets no tick.
	wait := 500
	var bob, empty collectResult
	var wg sync.WaitGroup
	bobClient := startCollector(t, g, "bob", "bob", collectSpec{Streams: []string{"positions"}, WaitMs: &wait})
	emptyClient := startCollector(t, g, "empty", "alice", collectSpec{Symbols: []string{"ZZNEW"}, WaitMs: &wait})
	wg.Go(func() { bob = bobClient.wait() })
	wg.Go(func() { empty = emptyClient.wait() })
	wg.Wait()
	if len(bob.Events) != 0 || len(empty.Events) != 0 {
		t.Errorf("bob got:%s\nZZNEW without market:last got:%s\nwant nothing", describeEvents(bob.Events), describeEvents(empty.Events))
	}

	// market:last of a symbol this node has no tick of is read again by the
	// next subscription, and the write in between is seen.
	newTick := `{"symbol":"ZZNEW","price":9,"seq":1}`
	b.set("market:last:ZZNEW", newTick)
	later := startCollector(t, g, "later", "alice", collectSpec{Symbols: []string{"ZZNEW"}, Events: 1}).wait()
	if got, want := payloads(later.Events), []string{"market:data " + newTick}; !reflect.DeepEqual(got, want) {
		t.Errorf("after SET market:last:ZZNEW, subscription got:%s\nwant %q", describeEvents(later.Events), want)
	}
}

// decodeObject decodes a JSON object for comparisons that ignore member order.
func decodeObject(t *testing.T, text string) map[string]any {
	t.Helper()
	var object map[string]any
	if err := json.Unmarshal([]byte(text), &object); err != nil {
		t.Fatalf("decode %s: %v", text, err)
	}
	return object
}

// withPrice returns position with the live P&L members replaced.
func withPrice(t *testing.T, position string, price, pnl, percent float64) map[string]any {
	object := decodeObject(t, position)
	object["currentPrice"], object["unrealizedPnL"], object["unrealizedPnLPercent"] = price, pnl, percent
	return object
}

func TestRedisLivePNL(t *testing.T) {
	url, prefix := redistest.URL(t), e2ePrefix(t)
	g := startGateway(t, 0, redisEnv(url, prefix, "PNL_INTERVAL_MS=500")...)
	g.waitReady(200, 10*time.Second)
	b := newBackend(t, url, prefix)
	alice := startCollector(t, g, "alice", "alice", collectSpec{Streams: []string{"positions"}, Markers: 1})
	bob := startCollector(t, g, "bob", "bob", collectSpec{Streams: []string{"positions"}, Markers: 1})
	before := g.metrics()

	closed := strings.Replace(snapshotP1, `"quantity":0.1`, `"quantity":0`, 1)
	settle := func() { time.Sleep(100 * time.Millisecond) } // across channels, order is not promised
	b.publish("position:updates", snapshotP1)
	b.publish("position:updates", snapshotP2)
	settle()
	b.publish("market:ticks", `{"symbol":"BTCUSD","price":51000}`) // p1 refresh
	b.publish("market:ticks", `{"symbol":"ETHUSD","price":2850}`)  // p2 refresh
	b.publish("market:ticks", `{"symbol":"BTCUSD","price":51500}`) // within 500ms of the last p1 refresh: none
	time.Sleep(700 * time.Millisecond)
	b.publish("market:ticks", `{"symbol":"BTCUSD","price":52000}`) // p1 refresh
	b.publish("market:ticks", `{"symbol":"BTCUSD","price":52000}`) // same price: none
	settle()
	b.publish("position:updates", closed)
	settle()
	time.Sleep(600 * time.Millisecond)
	b.publish("market:ticks", `{"symbol":"BTCUSD","price":53000}`) // p1 closed: none
	settle()
	b.publish("position:updates", `{"positionId":"m","userId":"alice","marker":true}`)
	b.publish("position:updates", `{"positionId":"m","userId":"bob","marker":true}`)

	got := alice.wait()
	var gotObjects []map[string]any
	for _, event := range got.Events {
		if event.Name != "position:update" {
			t.Fatalf("alice got %s; want position:update only:%s", event.Name, describeEvents(got.Events))
		}
		gotObjects = append(gotObjects, decodeObject(t, string(event.Payload)))
	}
	want := []map[string]any{
		decodeObject(t, snapshotP1),
		decodeObject(t, snapshotP2),
		withPrice(t, snapshotP1, 51000, 100, 2),
		withPrice(t, snapshotP2, 2850, 300, 5),
		withPrice(t, snapshotP1, 52000, 200, 4),
		decodeObject(t, closed),
		{"positionId": "m", "userId": "alice", "marker": true},
	}
	if !reflect.DeepEqual(gotObjects, want) {
		t.Errorf("alice position:update sequence:%s\nwant %v", describeEvents(got.Events), want)
	}
	if other := bob.wait(); !reflect.DeepEqual(summary(other.Events, "positionId"), []string{`position:update:"m"`}) {
		t.Errorf("bob got:%s\nwant only his marker", describeEvents(other.Events))
	}
	deltas := metricDeltas(before, g.metrics(), "protrader5_position_refreshes_total", "protrader5_open_positions")
	if want := map[string]float64{"protrader5_position_refreshes_total": 3, "protrader5_open_positions": 1}; !reflect.DeepEqual(deltas, want) {
		t.Errorf("P&L metrics changed by %v; want %v (3 refreshes, p2 still open)", deltas, want)
	}
}

func TestRedisOutageKeepsSockets(t *testing.T) {
	redis := redistest.Start(t) // this test kills it: never a shared one
	prefix := e2ePrefix(t)
	g := startGateway(t, 0, redisEnv(redis.URL(), prefix)...)
	g.waitReady(200, 10*time.Second)
	client := startCollector(t, g, "client", "alice", collectSpec{Symbols: []string{"ZZOUT"}, Markers: 1})

	redis.Kill()
	if body := g.waitReady(503, 10*time.Second); body != `{"status":"unavailable","reason":"redis_disconnected"}` {
		t.Errorf("GET /ready during the outage = 503 %s", body)
	}
	time.Sleep(500 * time.Millisecond) // let the gateway retry against nothing
	redis.Start()
	g.waitReady(200, 20*time.Second)

	b := newBackend(t, redis.URL(), prefix)
	if n := b.publish("market:ticks", `{"symbol":"ZZOUT","price":1,"seq":1,"marker":true}`); n != 1 {
		t.Errorf("PUBLISH after the outage reached %d subscribers; want 1", n)
	}
	result := client.wait()
	if got := summary(result.Events, "seq"); !reflect.DeepEqual(got, []string{"market:data:1"}) {
		t.Errorf("client events across the outage = %v; want the one tick and no disconnect:%s", got, describeEvents(result.Events))
	}
	if !result.Connected || result.Connects != 1 || result.SocketID == "" || result.SocketID != result.FinalSocketID {
		t.Errorf("client connected=%v connects=%d socket %q then %q; want the same socket throughout",
			result.Connected, result.Connects, result.SocketID, result.FinalSocketID)
	}
	if got := g.metrics()["protrader5_redis_outages_total"]; got != 1 {
		t.Errorf("protrader5_redis_outages_total = %v; want 1", got)
	}
}

func TestRedisGatewayStartsBeforeRedis(t *testing.T) {
	redis := redistest.New(t) // skips or fails now, not after the gateway is up
	prefix := e2ePrefix(t)
	g := startGateway(t, 0, redisEnv(redis.URL(), prefix)...)
	if code, body := g.ready(); code != 503 || body != `{"status":"unavailable","reason":"redis_disconnected"}` {
		t.Errorf("GET /ready with no Redis yet = %d %s; want 503 redis_disconnected", code, body)
	}
	// Sockets are served meanwhile; the subscription waits for Redis.
	client := startCollector(t, g, "client", "alice", collectSpec{Symbols: []string{"ZZLATE"}, Markers: 1})

	redis.Start()
	g.waitReady(200, 20*time.Second)
	b := newBackend(t, redis.URL(), prefix)
	if n := b.publish("market:ticks", `{"symbol":"ZZLATE","price":1,"seq":1,"marker":true}`); n != 1 {
		t.Errorf("PUBLISH once Redis is up reached %d subscribers; want 1", n)
	}
	result := client.wait()
	if got := summary(result.Events, "seq"); !reflect.DeepEqual(got, []string{"market:data:1"}) {
		t.Errorf("client events = %v; want the one tick:%s", got, describeEvents(result.Events))
	}
}
