package ingest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// sessionStores returns two gateways' session stores on one Redis, each
// recording the pids it was told to release, with their claim listeners
// running.
func sessionStores(t *testing.T) (first, second *RedisSessions, released func(*RedisSessions) []string) {
	t.Helper()
	return sessionStoresAt(t, redistest.URL(t))
}

// sessionStoresAt is sessionStores on the Redis (or Redis Cluster) at url.
func sessionStoresAt(t *testing.T, url string) (first, second *RedisSessions, released func(*RedisSessions) []string) {
	t.Helper()
	prefix := testPrefix(t)
	var mu sync.Mutex
	releases := map[*RedisSessions][]string{}
	newStore := func() *RedisSessions {
		source, err := NewRedis(RedisOptions{URL: url, Prefix: prefix, Router: NewRouter(newRecorder(), RouterOptions{Logger: quietLogger()}), Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		var store *RedisSessions
		store = source.Sessions(func(pid string) {
			mu.Lock()
			releases[store] = append(releases[store], pid)
			mu.Unlock()
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = store.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
		return store
	}
	first, second = newStore(), newStore()
	return first, second, func(store *RedisSessions) []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(releases[store])
	}
}

func TestRedisSessions(t *testing.T) {
	first, second, released := sessionStores(t)
	session := engine.Session{PID: "p1", SocketID: "s1", UserID: "alice", Symbols: []string{"BTCUSD"}, Streams: 1 << engine.StreamOrders, Start: "s.0-0.0-0.0-0"}
	if err := first.Save(session, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Any gateway reads what another saved.
	loaded, found, err := second.Load("p1")
	if err != nil || !found || loaded.UserID != "alice" || loaded.SocketID != "s1" || !slices.Equal(loaded.Symbols, session.Symbols) || loaded.Streams != session.Streams || loaded.Start != session.Start {
		t.Fatalf("Load = %+v, %v, %v", loaded, found, err)
	}
	if _, found, err := second.Load("nobody"); found || err != nil {
		t.Fatalf("Load(nobody) = %v, %v", found, err)
	}

	// A session lives for its ttl from the last Save or Touch.
	if err := first.Save(engine.Session{PID: "short", UserID: "bob"}, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := first.Touch([]string{"short", "p1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := first.Save(engine.Session{PID: "gone", UserID: "carol"}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, found, _ := second.Load("short"); !found {
		t.Fatal("a touched session expired")
	}
	if _, found, _ := second.Load("gone"); found {
		t.Fatal("a session outlived its ttl")
	}
	if err := second.Delete("p1"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := first.Load("p1"); found {
		t.Fatal("a deleted session is still there")
	}

	// A claim reaches the other gateway, not the one that made it.
	waitFor(t, func() bool {
		_ = second.Claim("p2")
		return len(released(first)) > 0
	})
	if got := released(first); got[0] != "p2" {
		t.Fatalf("first released %v; want p2", got)
	}
	if got := released(second); len(got) != 0 {
		t.Fatalf("the claiming gateway released %v", got)
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisSessionsKeepThrottles saves a session with throttled symbols
// and reads back one saved before throttles existed.
func TestRedisSessionsKeepThrottles(t *testing.T) {
	url := redistest.URL(t)
	first, second, _ := sessionStoresAt(t, url)
	session := engine.Session{PID: "t1", UserID: "alice", Symbols: []string{"BTCUSD", "ETHUSD"},
		Throttles: map[string]uint16{"BTCUSD": 250}, Start: "s.0-0.0-0.0-0"}
	if err := first.Save(session, time.Minute); err != nil {
		t.Fatal(err)
	}
	loaded, found, err := second.Load("t1")
	if err != nil || !found || len(loaded.Throttles) != 1 || loaded.Throttles["BTCUSD"] != 250 || !slices.Equal(loaded.Symbols, session.Symbols) {
		t.Fatalf("Load = %+v, %v, %v", loaded, found, err)
	}
	client := redistest.Client(t, url)
	old := `{"pid":"t0","sid":"s0","userId":"bob","symbols":["BTCUSD"],"streams":2,"start":"s.0-0.0-0.0-0"}`
	do(t, client, client.B().Set().Key(first.key("t0")).Value(old).Px(time.Minute).Build())
	loaded, found, err = second.Load("t0")
	if err != nil || !found || loaded.Throttles != nil || !slices.Equal(loaded.Symbols, []string{"BTCUSD"}) || loaded.Streams != 2 {
		t.Fatalf("Load of a session saved without throttles = %+v, %v, %v", loaded, found, err)
	}
}
