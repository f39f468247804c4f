package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// timedRecorder is a recorder that also takes receive times, as the engine
// does (engine.ReceivedPublisher).
type timedRecorder struct {
	*recorder
	mu       sync.Mutex
	received map[string]time.Time // by call kind: "tick", "user", "entry"
}

func newTimedRecorder() *timedRecorder {
	return &timedRecorder{recorder: newRecorder(), received: make(map[string]time.Time)}
}

func (r *timedRecorder) stamp(kind string, received time.Time) {
	r.mu.Lock()
	r.received[kind] = received
	r.mu.Unlock()
}

func (r *timedRecorder) PublishTickReceived(symbol string, tick []byte, received time.Time) {
	r.stamp("tick", received)
	r.PublishTick(symbol, tick)
}

func (r *timedRecorder) PublishUserReceived(stream engine.Stream, userID string, message []byte, received time.Time) {
	r.stamp("user", received)
	r.PublishUser(stream, userID, message)
}

func (r *timedRecorder) PublishUserEntryReceived(stream engine.Stream, userID string, message []byte, id engine.EntryID, received time.Time) {
	r.stamp("entry", received)
	r.PublishUserEntry(stream, userID, message, id)
}

var _ engine.ReceivedPublisher = (*timedRecorder)(nil)

// TestRedisStampsReceiveTimes: what Redis hands over reaches the engine with
// the time it was received, Pub/Sub and streams alike, and the source
// measures its round trip to Redis and how old stream entries are when read.
func TestRedisStampsReceiveTimes(t *testing.T) {
	url := redistest.URL(t)
	prefix := testPrefix(t)
	rec := newTimedRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, streamsOptions(url, prefix, router))
	waitReady(t, source, true, 5*time.Second)

	client := redistest.Client(t, url)
	before := time.Now()
	if err := client.Do(context.Background(), client.B().Publish().Channel(prefix+"market:ticks").Message(`{"symbol":"BTCUSD","price":1}`).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	xadd(t, client, prefix+"order:updates", nil, "data", `{"orderId":"o1","userId":"u1"}`)
	rec.waitFor(t, 2, 5*time.Second)
	after := time.Now()
	rec.mu.Lock()
	for _, kind := range []string{"tick", "entry"} {
		if received := rec.received[kind]; received.Before(before) || received.After(after) {
			t.Errorf("%s received at %v; want between the publish (%v) and its arrival (%v)", kind, received, before, after)
		}
	}
	rec.mu.Unlock()

	deadline := time.Now().Add(5 * time.Second)
	for source.Stats().RoundTrip == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stats := source.Stats()
	if stats.RoundTrip <= 0 || stats.RoundTrip > time.Second || stats.PingFailures != 0 {
		t.Errorf("round trip %v with %d failures; want a first PING timed at start", stats.RoundTrip, stats.PingFailures)
	}
	// The entry was read within the test's few seconds; its ID time is
	// Redis's clock, the same host's here.
	if delay := stats.StreamReadDelay[ChannelOrders]; delay < 0 || delay > 5*time.Second {
		t.Errorf("stream read delay %v; want a few milliseconds", delay)
	}
}

// TestRouterWithoutReceiveTimes: a publisher that takes no receive times
// gets the plain calls, and a zero time falls back to them too.
func TestRouterWithoutReceiveTimes(t *testing.T) {
	rec := newTimedRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	router.Handle(ChannelTicks, []byte(`{"symbol":"AAA"}`))
	router.HandleReceived(ChannelOrders, []byte(`{"userId":"u1"}`), time.Now())
	if len(rec.received) != 1 || rec.received["user"].IsZero() {
		t.Errorf("receive times %v; want the order's only", rec.received)
	}
	plain := newRecorder()
	NewRouter(plain, RouterOptions{Logger: quietLogger()}).HandleReceived(ChannelTicks, []byte(`{"symbol":"AAA"}`), time.Now())
	if calls := plain.snapshot(); len(calls) != 1 || calls[0].kind != "tick" {
		t.Errorf("plain publisher calls %+v; want one tick", calls)
	}
}
