package ingest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
)

// Messages as @socket.io/redis-emitter 5.1.0 (notepack.io 3.0.1) encodes
// them, captured with node from the packages pinned in
// cmd/protrader5-ws/testdata/emitter.
var (
	// to("user:u1").emit("order:update", {orderId: "o1", userId: "u1", qty: 1.5})
	realOrderMessage = mustHex("93a7656d697474657283a47479706502a46461746192ac6f726465723a75706461746583a76f726465724964a26f31a6757365724964a27531a3717479cb3ff8000000000000a36e7370a12f83a5726f6f6d7391a7757365723a7531a5666c61677380a665786365707490")
	// volatile.to(["user:u1", "market:BTCUSD"]).except("user:u2").emit("alert",
	// {at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), gone: undefined, list: [1, undefined, "x"]})
	realAlertMessage = mustHex("93a7656d697474657283a47479706502a46461746192a5616c65727482a26174d7ffa1a5d600695735a5a46c6973749301c0a178a36e7370a12f83a5726f6f6d7392a7757365723a7531ad6d61726b65743a425443555344a5666c61677381a8766f6c6174696c65c3a665786365707491a7757365723a7532")
	// emit("file", Buffer.from([1, 2]))
	realBinaryMessage = mustHex("93a7656d697474657283a47479706502a46461746192a466696c65c4020102a36e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490")
)

func mustHex(text string) []byte {
	decoded, err := hex.DecodeString(text)
	if err != nil {
		panic(err)
	}
	return decoded
}

// emitterMessageBytes builds [uid, {type, data, nsp}, {rooms, except, flags}].
func emitterMessageBytes(packetType int, namespace string, data []any, rooms, except []string, volatile bool) []byte {
	return newNotepackBytes().value([]any{
		"emitter",
		map[string]any{"type": packetType, "data": data, "nsp": namespace},
		map[string]any{"rooms": rooms, "except": except, "flags": map[string]any{"volatile": volatile}},
	}).bytes()
}

func TestDecodeRealEmitterMessages(t *testing.T) {
	order, err := decodeEmitterMessage(realOrderMessage)
	if err != nil {
		t.Fatal(err)
	}
	if string(order.data) != `["order:update",{"orderId":"o1","userId":"u1","qty":1.5}]` || order.event != "order:update" ||
		!slices.Equal(order.rooms, []string{"user:u1"}) || len(order.except) != 0 || order.volatile || order.namespace != "/" || order.packetType != packetEvent {
		t.Fatalf("order message decoded as %+v (data %s)", order, order.data)
	}
	if got := string(order.arg(0)); got != `{"orderId":"o1","userId":"u1","qty":1.5}` {
		t.Fatalf("order arg(0) = %s", got)
	}
	alert, err := decodeEmitterMessage(realAlertMessage)
	if err != nil {
		t.Fatal(err)
	}
	if string(alert.data) != `["alert",{"at":"2026-01-02T03:04:05.678Z","list":[1,null,"x"]}]` ||
		!slices.Equal(alert.rooms, []string{"user:u1", "market:BTCUSD"}) || !slices.Equal(alert.except, []string{"user:u2"}) || !alert.volatile {
		t.Fatalf("alert message decoded as %+v (data %s)", alert, alert.data)
	}
	if _, err := decodeEmitterMessage(realBinaryMessage); !errors.Is(err, errEmitterBinary) {
		t.Fatalf("binary message: %v; want errEmitterBinary", err)
	}
}

func TestDecodeEmitterMessageRefuses(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
	}{
		{"not an array", newNotepackBytes().value("x").bytes()},
		{"two elements", newNotepackBytes().value([]any{"uid", map[string]any{}}).bytes()},
		{"packet not a map", newNotepackBytes().value([]any{"uid", 1, map[string]any{}}).bytes()},
		{"no data", newNotepackBytes().value([]any{"uid", map[string]any{"type": 2}, map[string]any{}}).bytes()},
		{"empty data", emitterMessageBytes(2, "/", []any{}, nil, nil, false)},
		{"event name not a string", emitterMessageBytes(2, "/", []any{1, 2}, nil, nil, false)},
		{"rooms not strings", newNotepackBytes().value([]any{"uid", map[string]any{"type": 2, "data": []any{"e"}}, map[string]any{"rooms": []any{1}}}).bytes()},
		{"volatile not a boolean", newNotepackBytes().value([]any{"uid", map[string]any{"type": 2, "data": []any{"e"}}, map[string]any{"flags": map[string]any{"volatile": "yes"}}}).bytes()},
		{"trailing bytes", append(emitterMessageBytes(2, "/", []any{"e"}, nil, nil, false), 0x00)},
		{"cut short", realOrderMessage[:len(realOrderMessage)-3]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if message, err := decodeEmitterMessage(tc.payload); !errors.Is(err, errEmitterMalformed) {
				t.Fatalf("decodeEmitterMessage = %+v, %v; want errEmitterMalformed", message, err)
			}
		})
	}
}

func TestParseRoom(t *testing.T) {
	cases := []struct {
		name string
		want engine.Room
		ok   bool
	}{
		{"user:42", engine.Room{UserID: "42"}, true},
		{"user:42:orders", engine.Room{UserID: "42", Stream: engine.StreamOrders}, true},
		{"user:42:positions", engine.Room{UserID: "42", Stream: engine.StreamPositions}, true},
		{"user:42:notifications", engine.Room{UserID: "42", Stream: engine.StreamNotifications}, true},
		{"user:a:b", engine.Room{UserID: "a:b"}, true},
		{"market:BTCUSD", engine.Room{Symbol: "BTCUSD"}, true},
		{"market:btcusd", engine.Room{Symbol: "btcusd"}, false},
		{"user:", engine.Room{}, false},
		{"user::orders", engine.Room{Stream: engine.StreamOrders}, false},
		{"admins", engine.Room{}, false},
		{"ZrfrUK5YRnHb9-BjAAAB", engine.Room{}, false},
	}
	for _, tc := range cases {
		if got, ok := parseRoom(tc.name); ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseRoom(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// roomRecorder is a test double of the engine's RoomPublisher.
type roomRecorder struct {
	mu          sync.Mutex
	emissions   []engine.Emission
	disconnects []string
}

func (r *roomRecorder) Emit(emission engine.Emission, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emissions = append(r.emissions, emission)
}

func (r *roomRecorder) DisconnectSockets(_ context.Context, rooms, except []engine.Room, closeTransport bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	encoded, _ := json.Marshal(map[string]any{"rooms": rooms, "except": except, "close": closeTransport})
	r.disconnects = append(r.disconnects, string(encoded))
	return 1
}

func newTestEmitter(t *testing.T, recoverable bool) (*Emitter, *recorder, *roomRecorder) {
	t.Helper()
	router, publisher := newTestRouter(t)
	rooms := &roomRecorder{}
	emitter, err := NewEmitter(EmitterOptions{Router: router, Rooms: rooms, Recoverable: recoverable, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return emitter, publisher, rooms
}

func TestEmitterMapsRoomsOntoTheGateway(t *testing.T) {
	order := map[string]any{"orderId": "o1", "userId": "u1"}
	tick := map[string]any{"symbol": "BTCUSD", "price": 1.5}
	cases := []struct {
		name     string
		message  []byte
		calls    []call           // Publisher calls
		emission *engine.Emission // the one Emit call, if any
		outcome  EmitterOutcome
	}{
		{
			name:    "stream event for a user room goes the channel's way",
			message: emitterMessageBytes(2, "/", []any{"order:update", order}, []string{"user:u1"}, nil, false),
			calls:   []call{{kind: "user", stream: engine.StreamOrders, key: "u1", message: `{"orderId":"o1","userId":"u1"}`}},
			outcome: EmitterUserMessage,
		},
		{
			name:    "stream event for its stream room",
			message: emitterMessageBytes(2, "/", []any{"notification", map[string]any{"id": "n"}}, []string{"user:u1:notifications"}, nil, false),
			calls:   []call{{kind: "user", stream: engine.StreamNotifications, key: "u1", message: `{"id":"n"}`}},
			outcome: EmitterUserMessage,
		},
		{
			name:     "stream event for another stream's room is as given",
			message:  emitterMessageBytes(2, "/", []any{"order:update", order}, []string{"user:u1:positions"}, nil, false),
			emission: &engine.Emission{Event: []byte(`["order:update",{"orderId":"o1","userId":"u1"}]`), Rooms: []engine.Room{{UserID: "u1", Stream: engine.StreamPositions}}},
			outcome:  EmitterEmitted,
		},
		{
			name:     "stream event with except narrows to the stream's subscribers",
			message:  emitterMessageBytes(2, "/", []any{"order:update", order}, []string{"user:u1"}, []string{"market:X"}, false),
			emission: &engine.Emission{Event: []byte(`["order:update",{"orderId":"o1","userId":"u1"}]`), Rooms: []engine.Room{{UserID: "u1", Stream: engine.StreamOrders}}, Except: []engine.Room{{Symbol: "X"}}},
			outcome:  EmitterEmitted,
		},
		{
			name:     "stream event with two arguments is as given",
			message:  emitterMessageBytes(2, "/", []any{"order:update", order, 2}, []string{"user:u1"}, nil, false),
			emission: &engine.Emission{Event: []byte(`["order:update",{"orderId":"o1","userId":"u1"},2]`), Rooms: []engine.Room{{UserID: "u1", Stream: engine.StreamOrders}}},
			outcome:  EmitterEmitted,
		},
		{
			name:     "other event for a user room reaches all of the user's sockets",
			message:  emitterMessageBytes(2, "/", []any{"account:alert", "x"}, []string{"user:u1"}, nil, true),
			emission: &engine.Emission{Event: []byte(`["account:alert","x"]`), Rooms: []engine.Room{{UserID: "u1"}}, Volatile: true},
			outcome:  EmitterEmitted,
		},
		{
			name:    "a valid tick for its market room is a tick",
			message: emitterMessageBytes(2, "/", []any{"market:data", tick}, []string{"market:BTCUSD"}, nil, false),
			calls:   []call{{kind: "tick", key: "BTCUSD", message: `{"price":1.5,"symbol":"BTCUSD"}`}},
			outcome: EmitterTick,
		},
		{
			name:     "a tick of another symbol is as given",
			message:  emitterMessageBytes(2, "/", []any{"market:data", tick}, []string{"market:ETHUSD"}, nil, false),
			emission: &engine.Emission{Event: []byte(`["market:data",{"price":1.5,"symbol":"BTCUSD"}]`), Rooms: []engine.Room{{Symbol: "ETHUSD"}}},
			outcome:  EmitterEmitted,
		},
		{
			name:     "broadcast, unknown rooms ignored in except",
			message:  emitterMessageBytes(2, "/", []any{"news"}, nil, []string{"user:u2", "admins"}, false),
			emission: &engine.Emission{Event: []byte(`["news"]`), Except: []engine.Room{{UserID: "u2"}}},
			outcome:  EmitterEmitted,
		},
		{
			name:     "unknown rooms among known ones are left out",
			message:  emitterMessageBytes(2, "/", []any{"news"}, []string{"admins", "market:BTCUSD"}, nil, false),
			emission: &engine.Emission{Event: []byte(`["news"]`), Rooms: []engine.Room{{Symbol: "BTCUSD"}}},
			outcome:  EmitterEmitted,
		},
		{name: "only unknown rooms", message: emitterMessageBytes(2, "/", []any{"news"}, []string{"admins"}, nil, false), outcome: EmitterUnknownRoom},
		{name: "another namespace", message: emitterMessageBytes(2, "/admin", []any{"news"}, nil, nil, false), outcome: EmitterNamespace},
		{name: "binary event packet", message: emitterMessageBytes(5, "/", []any{"news"}, nil, nil, false), outcome: EmitterBinary},
		{name: "not an event", message: emitterMessageBytes(0, "/", []any{"news"}, nil, nil, false), outcome: EmitterUnsupportedPacket},
		{name: "binary data", message: realBinaryMessage, outcome: EmitterBinary},
		{name: "malformed", message: []byte{0xc1}, outcome: EmitterMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emitter, publisher, rooms := newTestEmitter(t, true)
			emitter.HandleMessage(tc.message, time.Time{})
			if calls := publisher.snapshot(); !slices.Equal(calls, tc.calls) {
				t.Errorf("publisher calls = %+v; want %+v", calls, tc.calls)
			}
			var want []engine.Emission
			if tc.emission != nil {
				want = []engine.Emission{*tc.emission}
			}
			got, _ := json.Marshal(rooms.emissions)
			wanted, _ := json.Marshal(want)
			if string(got) != string(wanted) {
				t.Errorf("emissions = %s; want %s", got, wanted)
			}
			outcomes := emitter.Outcomes()
			for _, outcome := range EmitterOutcomes {
				if want := map[bool]uint64{true: 1}[outcome == tc.outcome]; outcomes[outcome] != want {
					t.Errorf("outcome %s counted %d; want %d", outcome, outcomes[outcome], want)
				}
			}
		})
	}
}

func TestEmitterStreamEventsWithoutRecovery(t *testing.T) {
	// With Redis Streams the offsets are entry IDs: emitter stream events go
	// out live, as room emissions of the stream's subscribers.
	emitter, publisher, rooms := newTestEmitter(t, false)
	emitter.HandleMessage(realOrderMessage, time.Time{})
	if calls := publisher.snapshot(); len(calls) != 0 {
		t.Fatalf("publisher calls = %+v; want none", calls)
	}
	if len(rooms.emissions) != 1 || !slices.Equal(rooms.emissions[0].Rooms, []engine.Room{{UserID: "u1", Stream: engine.StreamOrders}}) {
		t.Fatalf("emissions = %+v; want one to u1's order subscribers", rooms.emissions)
	}
}

func TestEmitterRequests(t *testing.T) {
	emitter, _, rooms := newTestEmitter(t, true)
	ctx := context.Background()
	// As the emitter writes them (JSON.stringify).
	emitter.HandleRequest(ctx, []byte(`{"type":4,"opts":{"rooms":["user:u1"],"except":["market:BTCUSD"]},"close":true}`))
	emitter.HandleRequest(ctx, []byte(`{"type":4,"opts":{"rooms":[],"except":[]},"close":false}`))
	emitter.HandleRequest(ctx, []byte(`{"type":4,"opts":{"rooms":["admins"],"except":[]},"close":false}`))
	emitter.HandleRequest(ctx, []byte(`{"type":2,"opts":{"rooms":["user:u1"],"except":[]},"rooms":["vip"]}`))
	emitter.HandleRequest(ctx, []byte(`{"type":3,"opts":{"rooms":[],"except":[]},"rooms":["vip"]}`))
	emitter.HandleRequest(ctx, []byte(`{"uid":"emitter","type":6,"data":["hello"]}`))
	emitter.HandleRequest(ctx, []byte(`{"uid":"x","requestId":"r","type":0,"opts":{}}`))
	emitter.HandleRequest(ctx, []byte(`not json`))
	emitter.HandleRequest(ctx, []byte(`{}`))

	want := []string{
		`{"close":true,"except":[{"UserID":"","Stream":0,"Symbol":"BTCUSD"}],"rooms":[{"UserID":"u1","Stream":0,"Symbol":""}]}`,
		`{"close":false,"except":null,"rooms":[]}`,
	}
	if !slices.Equal(rooms.disconnects, want) {
		t.Fatalf("disconnects = %q; want %q", rooms.disconnects, want)
	}
	wantCounts := [emitterRequestCount]uint64{
		RequestDisconnectSockets: 3, RequestSocketsJoin: 1, RequestSocketsLeave: 1,
		RequestServerSideEmit: 1, RequestOther: 1, RequestMalformed: 2,
	}
	if got := emitter.Requests(); got != wantCounts {
		t.Fatalf("Requests() = %v; want %v", got, wantCounts)
	}
}

func TestEmitterBroadcastPattern(t *testing.T) {
	router, _ := newTestRouter(t)
	for key, want := range map[string]string{"": "socket.io#/#*", "app*1": `app\*1#/#*`, "a[b]?": `a\[b\]\?#/#*`} {
		emitter, err := NewEmitter(EmitterOptions{Key: key, Router: router, Rooms: &roomRecorder{}})
		if err != nil {
			t.Fatal(err)
		}
		if got := emitter.BroadcastPattern(); got != want {
			t.Errorf("BroadcastPattern() with key %q = %q; want %q", key, got, want)
		}
	}
}

// FuzzEmitterMessage: any bytes on the emitter channel never panic; what is
// handed on is a JSON array starting with the event name, and every
// message is counted once.
func FuzzEmitterMessage(f *testing.F) {
	f.Add(realOrderMessage)
	f.Add(realAlertMessage)
	f.Add(realBinaryMessage)
	f.Add(emitterMessageBytes(2, "/", []any{"market:data", map[string]any{"symbol": "BTCUSD", "price": 1}}, []string{"market:BTCUSD"}, nil, false))
	f.Add(newNotepackBytes().array(3).value("u").object(2).value("type").value(2).value("data").array(3).value("e").raw(0xd4, 0, 0).raw(0xd7, 0xff, 1, 2, 3, 4, 5, 6, 7, 8).object(0).bytes())
	f.Add([]byte{0x93, 0xc1})
	f.Fuzz(func(t *testing.T, payload []byte) {
		router, _ := newTestRouter(t)
		rooms := &roomRecorder{}
		emitter, err := NewEmitter(EmitterOptions{Router: router, Rooms: rooms, Recoverable: true, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		emitter.HandleMessage(payload, time.Time{})
		total := uint64(0)
		for _, count := range emitter.Outcomes() {
			total += count
		}
		if total != 1 {
			t.Fatalf("%d outcomes counted; want 1", total)
		}
		for _, emission := range rooms.emissions {
			var event []json.RawMessage
			if err := json.Unmarshal(emission.Event, &event); err != nil || len(event) == 0 {
				t.Fatalf("emitted %s: not a JSON array (%v)", emission.Event, err)
			}
			var name string
			if err := json.Unmarshal(event[0], &name); err != nil {
				t.Fatalf("emitted %s: event name %s (%v)", emission.Event, event[0], err)
			}
		}
	})
}

// FuzzEmitterRequest: any bytes on the request channel never panic and are
// counted once.
func FuzzEmitterRequest(f *testing.F) {
	f.Add([]byte(`{"type":4,"opts":{"rooms":["user:u1"],"except":["market:BTCUSD"]},"close":true}`))
	f.Add([]byte(`{"type":2,"opts":{"rooms":[],"except":[]},"rooms":["vip"]}`))
	f.Add([]byte(`{"uid":"emitter","type":6,"data":["hello"]}`))
	f.Add([]byte(`{"type":4,"opts":{"rooms":[1]}}`))
	f.Add([]byte(`{"type":"4"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		emitter, _, _ := newTestEmitter(t, true)
		emitter.HandleRequest(context.Background(), payload)
		total := uint64(0)
		for _, count := range emitter.Requests() {
			total += count
		}
		if total != 1 {
			t.Fatalf("%d requests counted; want 1", total)
		}
	})
}
