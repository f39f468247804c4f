package ingest

import (
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
)

// call is one engine call seen by recorder.
type call struct {
	kind       string // "tick", "seed", "user", "entry", "refresh", "history"
	stream     engine.Stream
	id         engine.EntryID // "entry" and "history" calls
	key        string         // symbol or user id
	positionID string
	message    string
}

// recorder is a test double of OUR engine's Publisher: it records calls.
type recorder struct {
	mu         sync.Mutex
	calls      []call
	histories  []call          // HistoryFrom calls, kept apart so message counts stay exact
	subscribed map[string]bool // user ids subscribed to positions; nil means all
	notify     chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) add(c call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) PublishTick(symbol string, tick []byte) {
	r.add(call{kind: "tick", key: symbol, message: string(tick)})
}

func (r *recorder) SeedTick(symbol string, tick []byte) {
	r.add(call{kind: "seed", key: symbol, message: string(tick)})
}

func (r *recorder) PublishUser(stream engine.Stream, userID string, message []byte) {
	r.add(call{kind: "user", stream: stream, key: userID, message: string(message)})
}

func (r *recorder) PublishUserEntry(stream engine.Stream, userID string, message []byte, id engine.EntryID) {
	r.add(call{kind: "entry", stream: stream, key: userID, message: string(message), id: id})
}

func (r *recorder) HistoryFrom(stream engine.Stream, id engine.EntryID) {
	r.mu.Lock()
	r.histories = append(r.histories, call{kind: "history", stream: stream, id: id})
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// historyCalls returns the HistoryFrom calls so far.
func (r *recorder) historyCalls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.histories...)
}

func (r *recorder) PublishPositionRefresh(userID, positionID string, message []byte) {
	r.add(call{kind: "refresh", stream: engine.StreamPositions, key: userID, positionID: positionID, message: string(message)})
}

func (r *recorder) Subscribed(stream engine.Stream, userID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subscribed == nil || r.subscribed[userID]
}

func (r *recorder) setSubscribed(users ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subscribed = make(map[string]bool)
	for _, u := range users {
		r.subscribed[u] = true
	}
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.calls = nil
	r.histories = nil
	r.mu.Unlock()
}

// waitFor waits until at least n calls are recorded and returns them.
func (r *recorder) waitFor(t *testing.T, n int, timeout time.Duration) []call {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		calls := r.snapshot()
		if len(calls) >= n {
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %d calls; got %d: %+v", timeout, n, len(calls), calls)
		}
		select {
		case <-r.notify:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// manualClock is an injectable clock for throttling tests.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock { return &manualClock{now: time.Unix(1_700_000_000, 0)} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
