package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// The emitter's channels on a real redis-server: readiness waits for both
// subscriptions, one-room and room-less broadcasts and requests arrive,
// other namespaces do not match, and garbage is counted and survived. With
// REDIS_SHARDED the emitter still PUBLISHes, and the gateway still hears it.
func TestRedisEmitterChannels(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) {
			url := redistest.URL(t)
			// Glob characters in the key must be matched literally.
			key := fmt.Sprintf("emitter[%d]*", time.Now().UnixNano())
			publisher := newRecorder()
			router := NewRouter(publisher, RouterOptions{Logger: quietLogger()})
			rooms := &roomRecorder{}
			emitter, err := NewEmitter(EmitterOptions{Key: key, Router: router, Rooms: rooms, Recoverable: true, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			source := runRedis(t, RedisOptions{URL: url, Prefix: testPrefix(t), Router: router, Sharded: sharded, Emitter: emitter})
			waitReady(t, source, true, 5*time.Second)
			if source.emitterSubscribed.Load() != emitterAllSubscribed {
				t.Fatal("Ready() before both emitter subscriptions were up")
			}

			client := redistest.Client(t, url)
			publish := func(channel string, message []byte, subscribers int64) {
				t.Helper()
				n, err := client.Do(context.Background(), client.B().Publish().Channel(channel).Message(string(message)).Build()).AsInt64()
				if err != nil || n != subscribers {
					t.Fatalf("PUBLISH %s reached %d subscribers (%v); want %d", channel, n, err, subscribers)
				}
			}
			publish(key+"#/#", []byte{0xc1}, 1)
			publish(key+"#/#user:u1#", realOrderMessage, 1)
			publish(key+"#/#", realAlertMessage, 1)
			publish(key+"#/admin#", realAlertMessage, 0)
			publish("x"+key+"#/#", realAlertMessage, 0)
			publish(key+"-request#/#", []byte(`{"type":4,"opts":{"rooms":["user:u1"],"except":[]},"close":false}`), 1)

			calls := publisher.waitFor(t, 1, 5*time.Second)
			if len(calls) != 1 || calls[0].kind != "user" || calls[0].key != "u1" || calls[0].stream != engine.StreamOrders {
				t.Fatalf("publisher calls = %+v; want u1's order", calls)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				rooms.mu.Lock()
				emitted, disconnects := len(rooms.emissions), len(rooms.disconnects)
				rooms.mu.Unlock()
				if emitted == 1 && disconnects == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d emissions and %d disconnects after 5s; want 1 and 1", emitted, disconnects)
				}
				time.Sleep(5 * time.Millisecond)
			}
			outcomes := emitter.Outcomes()
			if outcomes[EmitterMalformed] != 1 || outcomes[EmitterUserMessage] != 1 || outcomes[EmitterEmitted] != 1 {
				t.Fatalf("outcomes = %v; want one malformed, one user message, one emitted", outcomes)
			}
			// A (re)subscription of the broadcasts means Pub/Sub may have lost
			// user messages: recovery must not replay across it.
			// Three from the user channels' subscriptions, three from the
			// emitter's.
			histories := map[engine.Stream]int{}
			for _, call := range publisher.historyCalls() {
				histories[call.stream]++
			}
			want := map[engine.Stream]int{engine.StreamOrders: 2, engine.StreamPositions: 2, engine.StreamNotifications: 2}
			if fmt.Sprint(histories) != fmt.Sprint(want) {
				t.Fatalf("HistoryFrom calls per stream = %v; want %v", histories, want)
			}
		})
	}
}
