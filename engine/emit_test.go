package engine

import (
	"context"
	"slices"
	"testing"
	"time"
)

// emitFixture is five sockets on two users' shards and a third user:
//
//	a: u1, orders, BTCUSD     b: u1, nothing     c: u2, BTCUSD
//	d: u2, orders             x: u3, ETHUSD
type emitFixture struct {
	engine *Engine
	sinks  map[string]*memorySink
	conns  map[string]*clientConn
}

func newEmitFixture(t *testing.T) *emitFixture {
	t.Helper()
	f := &emitFixture{engine: newTestEngine(t, Config{Shards: 4}), sinks: map[string]*memorySink{}, conns: map[string]*clientConn{}}
	for _, socket := range []struct {
		name, user string
		orders     bool
		symbols    []string
	}{
		{"a", "u1", true, []string{"BTCUSD"}},
		{"b", "u1", false, nil},
		{"c", "u2", false, []string{"BTCUSD"}},
		{"d", "u2", true, nil},
		{"x", "u3", false, []string{"ETHUSD"}},
	} {
		sink := newMemorySink(true)
		c := attachTestConn(t, f.engine, socket.user, sink)
		if socket.orders {
			if _, failure := f.engine.streamEvent(c, StreamOrders, true); failure != nil {
				t.Fatal(failure.code)
			}
		}
		if socket.symbols != nil {
			subscribe(t, f.engine, c, socket.symbols...)
		}
		f.sinks[socket.name], f.conns[socket.name] = sink, c
	}
	return f
}

// received returns what each socket got since the last call.
func (f *emitFixture) received(t *testing.T) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f.engine.deliverPending(ctx)
	got := map[string][]string{}
	for name, sink := range f.sinks {
		sink.mu.Lock()
		if len(sink.payloads) > 0 {
			got[name] = sink.payloads
		}
		sink.payloads = nil
		sink.mu.Unlock()
	}
	return got
}

func TestEmitReachesItsAudienceOnce(t *testing.T) {
	f := newEmitFixture(t)
	cases := []struct {
		name     string
		emission Emission
		want     []string // sockets, each getting the event once
	}{
		{"user room", Emission{Rooms: []Room{{UserID: "u1"}}}, []string{"a", "b"}},
		{"user stream room", Emission{Rooms: []Room{{UserID: "u1", Stream: StreamOrders}}}, []string{"a"}},
		{"stream nobody follows", Emission{Rooms: []Room{{UserID: "u2", Stream: StreamNotifications}}}, nil},
		{"market room", Emission{Rooms: []Room{{Symbol: "BTCUSD"}}}, []string{"a", "c"}},
		{"unknown symbol", Emission{Rooms: []Room{{Symbol: "NOPE"}}}, nil},
		{"unknown user", Emission{Rooms: []Room{{UserID: "u9"}}}, nil},
		{"market room except a user", Emission{Rooms: []Room{{Symbol: "BTCUSD"}}, Except: []Room{{UserID: "u2"}}}, []string{"a"}},
		{"user room except a stream", Emission{Rooms: []Room{{UserID: "u1"}}, Except: []Room{{UserID: "u1", Stream: StreamOrders}}}, []string{"b"}},
		{"broadcast", Emission{}, []string{"a", "b", "c", "d", "x"}},
		{"broadcast except a market", Emission{Except: []Room{{Symbol: "BTCUSD"}, {Symbol: "NOPE"}}}, []string{"b", "d", "x"}},
		{"overlapping rooms, each socket once", Emission{Rooms: []Room{{UserID: "u2"}, {Symbol: "BTCUSD"}, {UserID: "u1", Stream: StreamOrders}}}, []string{"a", "c", "d"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.emission.Event = []byte(`["hello",{"n":1}]`)
			f.engine.Emit(tc.emission, time.Time{})
			got := f.received(t)
			var names []string
			for name, payloads := range got {
				if !slices.Equal(payloads, []string{`42["hello",{"n":1}]`}) {
					t.Errorf("socket %s got %q; want the event once", name, payloads)
				}
				names = append(names, name)
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.want) {
				t.Errorf("sockets reached %v; want %v", names, tc.want)
			}
		})
	}
	if stats := f.engine.EmitStats(); stats.Emissions != uint64(len(cases)) || stats.Queued != 18 {
		t.Errorf("EmitStats() = %+v; want %d emissions queued to 18 sockets", stats, len(cases))
	}
}

func TestEmitInOrderWithUserMessages(t *testing.T) {
	f := newEmitFixture(t)
	f.engine.PublishUser(StreamOrders, "u1", []byte(`{"n":1}`))
	f.engine.Emit(Emission{Event: []byte(`["between"]`), Rooms: []Room{{UserID: "u1"}}}, time.Time{})
	f.engine.PublishUser(StreamOrders, "u1", []byte(`{"n":2}`))
	got := f.received(t)
	want := []string{`42["order:update",{"n":1}]`, `42["between"]`, `42["order:update",{"n":2}]`}
	if !slices.Equal(got["a"], want) {
		t.Fatalf("socket a got %q; want %q", got["a"], want)
	}
}

func TestVolatileEmitSkipsBusySockets(t *testing.T) {
	f := newEmitFixture(t)
	// a stops reading with a message left in its queue: it is busy.
	f.sinks["a"].setStalled(true)
	f.engine.PublishUser(StreamOrders, "u1", []byte(`{"n":1}`))
	f.received(t)
	f.engine.Emit(Emission{Event: []byte(`["ping"]`), Rooms: []Room{{UserID: "u1"}}, Volatile: true}, time.Time{})
	got := f.received(t)
	if !slices.Equal(got["b"], []string{`42["ping"]`}) || len(got["a"]) != 0 {
		t.Fatalf("volatile emit reached %q; want b only", got)
	}
	if dropped := f.engine.EmitStats().VolatileDropped; dropped != 1 {
		t.Fatalf("VolatileDropped = %d; want 1", dropped)
	}
	f.sinks["a"].setStalled(false)
}

func TestDisconnectSockets(t *testing.T) {
	f := newEmitFixture(t)
	ctx := context.Background()
	before := f.engine.metrics.sockets.Load()
	if n := f.engine.DisconnectSockets(ctx, []Room{{UserID: "u1"}}, []Room{{UserID: "u1", Stream: StreamOrders}}, false); n != 1 {
		t.Fatalf("DisconnectSockets(u1 except orders) = %d; want 1", n)
	}
	got := f.received(t)
	if !slices.Equal(got["b"], []string{"41"}) || len(got) != 1 {
		t.Fatalf("after DisconnectSockets sockets got %q; want b a DISCONNECT", got)
	}
	if sockets := f.engine.metrics.sockets.Load(); sockets != before-1 {
		t.Fatalf("sockets = %d; want %d", sockets, before-1)
	}
	// Left the namespace: b is in no room any more.
	f.engine.Emit(Emission{Event: []byte(`["after"]`)}, time.Time{})
	if got := f.received(t); len(got["b"]) != 0 || len(got) != 4 {
		t.Fatalf("broadcast after the disconnect reached %v; want the four others", got)
	}

	if n := f.engine.DisconnectSockets(ctx, []Room{{Symbol: "ETHUSD"}}, nil, true); n != 1 {
		t.Fatalf("DisconnectSockets(ETHUSD, close) = %d; want 1", n)
	}
	waitFor(t, "x closed", func() bool {
		f.sinks["x"].mu.Lock()
		defer f.sinks["x"].mu.Unlock()
		return f.sinks["x"].closed
	})
	if closed := f.engine.Stats().Disconnects["server_disconnect"]; closed != 1 {
		t.Fatalf("server_disconnect closes = %d; want 1", closed)
	}
	if stats := f.engine.EmitStats(); stats.Disconnected != 2 {
		t.Fatalf("Disconnected = %d; want 2", stats.Disconnected)
	}
}
