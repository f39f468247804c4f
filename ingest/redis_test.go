package ingest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest/redistest"
	"github.com/redis/rueidis"
)

func TestRedisChannelsEndToEnd(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		name := "subscribe"
		if sharded {
			name = "ssubscribe"
		}
		t.Run(name, func(t *testing.T) {
			url := redistest.URL(t)
			prefix := testPrefix(t)
			rec := newRecorder()
			router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
			source := runRedis(t, RedisOptions{URL: url, Prefix: prefix, Router: router, Sharded: sharded})
			waitReady(t, source, true, 5*time.Second)

			client := redistest.Client(t, url)
			publish := func(channel Channel, message string) {
				command := client.B().Publish().Channel(prefix + channel.String()).Message(message).Build()
				if sharded {
					command = client.B().Spublish().Channel(prefix + channel.String()).Message(message).Build()
				}
				if n, err := client.Do(context.Background(), command).AsInt64(); err != nil || n != 1 {
					t.Fatalf("publish on %v reached %d subscribers (%v); want 1", channel, n, err)
				}
			}
			publish(ChannelTicks, `not json`)
			publish(ChannelTicks, `{"symbol":"BTCUSD","price":50000}`)
			publish(ChannelTicks, `[{"symbol":"ETHUSD","price":3000},{"symbol":"eth"},{"symbol":"SOLUSD","price":150}]`)
			publish(ChannelOrders, `{"orderId":"o1"}`)
			publish(ChannelOrders, `{"orderId":"o2","userId":"u1","status":"FILLED"}`)
			publish(ChannelPositions, `[{"userId":"u1"}]`)
			// A symbol nobody ticks here: channels are received concurrently, so a
			// tick could otherwise arrive after the position and add a refresh.
			publish(ChannelPositions, `{"positionId":"p1","userId":"u1","symbol":"AAPL","side":"LONG","quantity":0.1,"entryPrice":50000}`)
			publish(ChannelNotifications, "{\"userId\":\"\xff\"}")
			publish(ChannelNotifications, `{"id":"n1","userId":"u2","title":"hi"}`)

			calls := rec.waitFor(t, 6, 5*time.Second)
			want := map[string]bool{
				"tick BTCUSD": true, "tick ETHUSD": true, "tick SOLUSD": true,
				"user u1 orders": true, "user u1 positions": true, "user u2 notifications": true,
			}
			for _, c := range calls {
				key := c.kind + " " + c.key
				if c.kind == "user" {
					key += " " + c.stream.String()
				}
				if !want[key] {
					t.Errorf("unexpected call %+v", c)
				}
				delete(want, key)
			}
			if len(want) != 0 {
				t.Fatalf("missing calls %v; got %+v", want, calls)
			}
			rejects := map[Channel]Reason{
				ChannelTicks: ReasonInvalidJSON, ChannelOrders: ReasonMissingUser,
				ChannelPositions: ReasonNotObject, ChannelNotifications: ReasonInvalidUTF8,
			}
			for channel, reason := range rejects {
				if got := router.Rejects(channel, reason); got != 1 {
					t.Errorf("Rejects(%v, %v) = %d; want 1", channel, reason, got)
				}
			}
			if got := router.Rejects(ChannelTicks, ReasonInvalidSymbol); got != 1 {
				t.Errorf("Rejects(ticks, invalid_symbol) = %d; want 1", got)
			}
			if stats := source.Stats(); stats.Received != 9 || !stats.Subscribed {
				t.Errorf("Stats() = %+v; want 9 received, subscribed", stats)
			}
		})
	}
}

func TestRedisSnapshots(t *testing.T) {
	url := redistest.URL(t)
	prefix := testPrefix(t)
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, RedisOptions{URL: url, Prefix: prefix, Router: router})
	waitReady(t, source, true, 5*time.Second)
	client := redistest.Client(t, url)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := source.LastTick("BTCUSD"); !errors.Is(err, ErrNotConnected) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("read client never connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !source.Stats().CacheEnabled {
		t.Fatal("CacheEnabled = false against redis 7; want true")
	}

	if tick, err := source.LastTick("BTCUSD"); tick != nil || err != nil {
		t.Fatalf("LastTick(missing) = %q, %v; want nil, nil", tick, err)
	}
	key := prefix + "market:last:BTCUSD"
	first := `{"symbol":"BTCUSD","price":1}`
	do(t, client, client.B().Set().Key(key).Value(first).Build())
	// The miss above cached "nil"; the SET invalidates it.
	waitTick(t, source, "BTCUSD", first)

	getCalls := func() int64 { return commandCalls(t, client, "get") }
	before, hits := getCalls(), source.Stats().CacheHits
	for range 5 {
		if tick, err := source.LastTick("BTCUSD"); err != nil || string(tick) != first {
			t.Fatalf("LastTick = %q, %v; want %s", tick, err, first)
		}
	}
	if after := getCalls(); after != before {
		t.Fatalf("server GET calls went from %d to %d during cached reads; want no round trip", before, after)
	}
	if got := source.Stats().CacheHits - hits; got != 5 {
		t.Fatalf("cache hits grew by %d; want 5", got)
	}

	second := `{"symbol":"BTCUSD","price":2}`
	do(t, client, client.B().Set().Key(key).Value(second).Build())
	waitTick(t, source, "BTCUSD", second)

	do(t, client, client.B().Set().Key(prefix+"market:last:ETHUSD").Value(`{"symbol":"BTCUSD"}`).Build())
	if _, err := source.LastTick("ETHUSD"); !errors.Is(err, ErrInvalidSnapshot) {
		t.Fatalf("LastTick(wrong symbol stored) error = %v; want ErrInvalidSnapshot", err)
	}
	if _, err := source.LastTick("bad symbol"); !errors.Is(err, ErrInvalidSymbol) {
		t.Fatalf("LastTick(bad) error = %v; want ErrInvalidSymbol", err)
	}

	positionsKey := prefix + "positions:u1"
	do(t, client, client.B().Hset().Key(positionsKey).FieldValue().
		FieldValue("p2", `{"positionId":"p2","userId":"u1","symbol":"ETHUSD","side":"SHORT","quantity":1,"entryPrice":3000}`).
		FieldValue("p1", `{"positionId":"p1","userId":"u1","symbol":"BTCUSD","side":"LONG","quantity":0.1,"entryPrice":50000}`).
		FieldValue("bad", `{"positionId":"p3","userId":"u9"}`).Build())
	positions, err := source.Positions("u1")
	if err != nil || len(positions) != 2 || string(positions[0][:17]) != `{"positionId":"p1` {
		t.Fatalf("Positions(u1) = %q, %v; want p1, p2", positions, err)
	}
	if n := len(router.OpenPositions("u1")); n != 2 {
		t.Fatalf("router tracks %d positions of u1 after Positions; want 2", n)
	}
	router.Handle(ChannelTicks, []byte(`{"symbol":"BTCUSD","price":51000}`))
	if got := refreshes(rec.snapshot()); len(got) != 1 || decodeObject(t, got[0].message)["unrealizedPnL"] != 100.0 {
		t.Fatalf("refreshes after seeding = %+v; want one with pnl 100", got)
	}
	if positions, err := source.Positions("nobody"); err != nil || len(positions) != 0 {
		t.Fatalf("Positions(nobody) = %q, %v; want none", positions, err)
	}
}

// waitTick waits until LastTick(symbol) returns want (invalidation is
// asynchronous).
func waitTick(t *testing.T, source *Redis, symbol, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		tick, err := source.LastTick(symbol)
		if err == nil && string(tick) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("LastTick(%s) = %q, %v; want %s", symbol, tick, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// commandCalls returns how many times the server ran command.
func commandCalls(t *testing.T, client rueidis.Client, command string) int64 {
	t.Helper()
	info, err := client.Do(context.Background(), client.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	var calls int64
	for _, line := range splitLines(info) {
		if n, ok := parseCommandStat(line, command); ok {
			calls = n
		}
	}
	return calls
}

func TestRedisDownAtStartup(t *testing.T) {
	server := redistest.New(t) // on a free port, not started yet
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, RedisOptions{URL: server.URL(), Router: router, MaxReconnectDelay: 50 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	if ready, reason := source.Ready(); ready || reason != "redis_disconnected" {
		t.Fatalf("Ready() with Redis down = %v, %q; want false, redis_disconnected", ready, reason)
	}
	if _, err := source.Positions("u1"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Positions with Redis down: %v; want ErrNotConnected", err)
	}
	server.Start()
	waitReady(t, source, true, 5*time.Second)
	client := redistest.Client(t, server.URL())
	do(t, client, client.B().Publish().Channel("order:updates").Message(`{"userId":"u1"}`).Build())
	if calls := rec.waitFor(t, 1, 3*time.Second); calls[0].stream != engine.StreamOrders {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestNewRedisErrors(t *testing.T) {
	router, _ := newTestRouter(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, []byte("not pem"), 0o600)
	cases := []struct {
		name    string
		options RedisOptions
		want    error
	}{
		{"no router", RedisOptions{URL: "redis://127.0.0.1:1"}, ErrNoRouter},
		{"scheme", RedisOptions{URL: "http://127.0.0.1:1", Router: router}, ErrInvalidURL},
		{"empty", RedisOptions{Router: router}, ErrInvalidURL},
		{"bad db", RedisOptions{URL: "redis://127.0.0.1:1/x", Router: router}, ErrInvalidURL},
		{"ca without tls", RedisOptions{URL: "redis://127.0.0.1:1", TLSCAFile: caFile, Router: router}, ErrTLSCAFile},
		{"ca not pem", RedisOptions{URL: "rediss://127.0.0.1:1", TLSCAFile: caFile, Router: router}, ErrTLSCAFile},
		{"ca missing", RedisOptions{URL: "rediss://127.0.0.1:1", TLSCAFile: caFile + ".none", Router: router}, ErrTLSCAFile},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewRedis(c.options); !errors.Is(err, c.want) {
				t.Fatalf("NewRedis(%+v) error = %v; want %v", c.options, err, c.want)
			}
		})
	}
}

// TestRedisNoCacheFallback: a server without RESP3 (HELLO renamed away)
// cannot track keys; reads still work, uncached, after one warning.
func TestRedisNoCacheFallback(t *testing.T) {
	server := redistest.Start(t, redistest.WithArgs("--rename-command", "HELLO", ""))
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	logs := &messageLog{}
	source := runRedis(t, RedisOptions{URL: server.URL(), Router: router, Logger: slog.New(logs)})
	waitReady(t, source, true, 5*time.Second)
	client := redistest.Client(t, server.URL())
	do(t, client, client.B().Set().Key("market:last:AAPL").Value(`{"symbol":"AAPL","price":190}`).Build())
	waitTick(t, source, "AAPL", `{"symbol":"AAPL","price":190}`)
	if stats := source.Stats(); stats.CacheEnabled || stats.CacheHits != 0 {
		t.Fatalf("Stats() = %+v; want caching off, no hits", stats)
	}
	if n := logs.count("WARN ingest: redis has no client-side caching, reads go to the server"); n != 1 {
		t.Fatalf("fallback warnings = %d; want 1", n)
	}
	do(t, client, client.B().Publish().Channel("notifications").Message(`{"userId":"u1"}`).Build())
	rec.waitFor(t, 1, 5*time.Second)
}

// TestPubSubHistoryOnSubscription: with Pub/Sub, every (re)subscription of
// a user channel tells the engine that history starts at the next message.
func TestPubSubHistoryOnSubscription(t *testing.T) {
	server := redistest.Start(t)
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, RedisOptions{URL: server.URL(), Router: router, MaxReconnectDelay: 50 * time.Millisecond})
	waitReady(t, source, true, 5*time.Second)
	waitHistories(t, rec, 3)

	server.Kill()
	waitReady(t, source, false, 5*time.Second)
	server.Start()
	waitReady(t, source, true, 5*time.Second)
	history := waitHistories(t, rec, 6)
	count := map[engine.Stream]int{}
	for _, c := range history {
		if c.id != (engine.EntryID{}) {
			t.Errorf("HistoryFrom(%v, %v); want the zero id", c.stream, c.id)
		}
		count[c.stream]++
	}
	for _, stream := range []engine.Stream{engine.StreamOrders, engine.StreamPositions, engine.StreamNotifications} {
		if count[stream] != 2 {
			t.Errorf("HistoryFrom(%v) called %d times; want 2 (subscribe, resubscribe)", stream, count[stream])
		}
	}
}

// waitHistories waits for n HistoryFrom calls; more than n fails.
func waitHistories(t *testing.T, rec *recorder, n int) []call {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		history := rec.historyCalls()
		if len(history) > n {
			t.Fatalf("HistoryFrom calls = %+v; want %d", history, n)
		}
		if len(history) == n {
			return history
		}
		if time.Now().After(deadline) {
			t.Fatalf("HistoryFrom calls = %+v after 5s; want %d", history, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
