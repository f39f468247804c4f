package ingest

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// messageLog records log messages.
type messageLog struct {
	mu       sync.Mutex
	messages []string
}

func (h *messageLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *messageLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *messageLog) WithGroup(string) slog.Handler            { return h }
func (h *messageLog) Handle(_ context.Context, record slog.Record) error {
	h.mu.Lock()
	h.messages = append(h.messages, record.Level.String()+" "+record.Message)
	h.mu.Unlock()
	return nil
}

func (h *messageLog) count(message string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.messages {
		if m == message {
			n++
		}
	}
	return n
}

// TestRedisOutages kills the redis-server it started and starts it again on
// the same port, 20 times: Ready follows, the same Router keeps receiving,
// each outage is logged with its end, and no goroutine is left behind.
func TestRedisOutages(t *testing.T) {
	const outages = 20
	server := redistest.Start(t)
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	logs := &messageLog{}
	source := runRedis(t, RedisOptions{
		URL: server.URL(), Router: router, Logger: slog.New(logs), MaxReconnectDelay: 100 * time.Millisecond,
	})
	waitReady(t, source, true, 5*time.Second)

	sent := 0
	publish := func() {
		t.Helper()
		client := redistest.Client(t, server.URL())
		sent++
		message := `{"userId":"u1","orderId":"o` + strconv.Itoa(sent) + `"}`
		do(t, client, client.B().Publish().Channel("order:updates").Message(message).Build())
		client.Close()
		calls := rec.waitFor(t, sent, 5*time.Second)
		if got := calls[sent-1].message; got != message {
			t.Fatalf("message %d = %s; want %s", sent, got, message)
		}
	}
	publish()
	outage := func() {
		server.Kill()
		waitReady(t, source, false, 5*time.Second)
		if _, reason := source.Ready(); reason != "redis_disconnected" {
			t.Fatalf("Ready() reason during outage = %q; want redis_disconnected", reason)
		}
		server.Start()
		waitReady(t, source, true, 5*time.Second)
		publish()
	}
	// The first reconnections allocate what the client keeps for good
	// (pools, buffers): the baseline is taken after them, so that what
	// is measured is what outages add, not when the client warmed up.
	for range warmUpOutages {
		outage()
	}
	heapBaseline := liveHeap()
	baseline := runtime.NumGoroutine()
	started := time.Now()
	for range outages - warmUpOutages {
		outage()
	}
	t.Logf("%d outages in %v", outages-warmUpOutages, time.Since(started))

	deadline := time.Now().Add(3 * time.Second)
	for {
		now := runtime.NumGoroutine()
		if now <= baseline+5 {
			break
		}
		if time.Now().After(deadline) {
			buffer := make([]byte, 1<<20)
			t.Fatalf("goroutines %d after %d outages; baseline %d\n%s", now, outages, baseline, buffer[:runtime.Stack(buffer, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nor memory: each outage's dead connection is garbage once replaced.
	// The last outage's dead connection may still be referenced for a
	// moment (rueidis lets its pipe go from a goroutine of its own): a leak
	// stays, that does not.
	heap := liveHeap()
	for deadline := time.Now().Add(2 * time.Second); heap > heapBaseline+outageHeapSlack && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		heap = liveHeap()
	}
	t.Logf("live heap %d KiB before the outages, %d KiB after", heapBaseline>>10, heap>>10)
	if heap > heapBaseline+outageHeapSlack {
		t.Errorf("live heap grew from %d KiB to %d KiB across %d outages", heapBaseline>>10, heap>>10, outages-warmUpOutages)
	}
	if got := source.Stats().Outages; got != outages {
		t.Errorf("Stats().Outages = %d; want %d", got, outages)
	}
	// The monitor logs asynchronously; give it a moment for the last one.
	deadline = time.Now().Add(time.Second)
	for logs.count("INFO ingest: redis pub/sub resubscribed") < outages && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if lost, back := logs.count("WARN ingest: redis pub/sub lost, resubscribing"), logs.count("INFO ingest: redis pub/sub resubscribed"); lost != outages || back != outages {
		t.Errorf("logged %d outages and %d ends; want %d each", lost, back, outages)
	}
}

// TestRedisRefreshAfterOutage: positions of tracked users are read again
// after a resubscription and delivered to subscribed users.
func TestRedisRefreshAfterOutage(t *testing.T) {
	// An append-only file synced on every write, so the hash survives the
	// kill; it is written without a position:update, as if published during
	// the outage, so only the refresh can see it.
	server := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, RedisOptions{URL: server.URL(), Router: router, MaxReconnectDelay: 100 * time.Millisecond})
	waitReady(t, source, true, 5*time.Second)
	router.Handle(ChannelPositions, []byte(`{"positionId":"gone","userId":"u1","symbol":"AAPL","side":"LONG","quantity":1,"entryPrice":1}`))
	client := redistest.Client(t, server.URL())
	do(t, client, client.B().Hset().Key("positions:u1").FieldValue().
		FieldValue("p1", `{"positionId":"p1","userId":"u1","symbol":"BTCUSD","side":"LONG","quantity":1,"entryPrice":1}`).Build())
	client.Close()
	rec.reset()

	server.Kill()
	waitReady(t, source, false, 5*time.Second)
	server.Start()
	waitReady(t, source, true, 5*time.Second)
	calls := rec.waitFor(t, 1, 5*time.Second)
	if calls[0].kind != "user" || calls[0].key != "u1" || decodeObject(t, calls[0].message)["positionId"] != "p1" {
		t.Fatalf("calls after outage = %+v; want p1 delivered to u1", calls)
	}
	if open := router.OpenPositions("u1"); len(open) != 1 {
		t.Fatalf("OpenPositions(u1) = %q; want only p1 (the snapshot replaces)", open)
	}
}

// outageHeapSlack allows for the messages the recorder keeps and for
// rueidis's pools; one leaked connection (rueidis gives each a 0.5 MiB read
// and a 0.5 MiB write buffer by default) would already pass it.
const outageHeapSlack = 1 << 20

// warmUpOutages are the outages of TestRedisOutages before its baselines.
const warmUpOutages = 5

// liveHeap returns the bytes still referenced after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return stats.HeapAlloc
}
