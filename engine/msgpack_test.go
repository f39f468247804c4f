package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/protrader5/ws-gateway/wire"
)

// frameSink records each frame written to it, with the address of its
// bytes, so that a test can tell shared frames from copies.
type frameSink struct {
	mu     sync.Mutex
	frames [][]byte
	starts []uintptr
}

func (s *frameSink) writeNow(buffers [][]byte, _ []syscall.Iovec) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, buffer := range buffers {
		n += len(buffer)
		s.frames = append(s.frames, append([]byte(nil), buffer...))
		s.starts = append(s.starts, uintptr(unsafe.Pointer(unsafe.SliceData(buffer))))
	}
	return n, nil
}

func (s *frameSink) writeWait(buffers [][]byte) error { _, err := s.writeNow(buffers, nil); return err }
func (s *frameSink) close()                           {}

func (s *frameSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.frames)
}

func (s *frameSink) last() ([]byte, uintptr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames[len(s.frames)-1], s.starts[len(s.starts)-1]
}

// attachParserConn is attachTestConn for a client with the given parser.
func attachParserConn(t testing.TB, e *Engine, userID string, parser clientParser, sink sink) *clientConn {
	c := attachTestConn(t, e, userID, sink)
	c.setParser(parser)
	return c
}

// decodeMsgpackFrame checks that frame is a binary WebSocket frame and
// decodes its msgpack packet.
func decodeMsgpackFrame(t testing.TB, frame []byte) map[string]any {
	t.Helper()
	if frame[0] != 0x80|byte(wire.OpBinary) {
		t.Fatalf("frame %q is not a binary frame", frame)
	}
	var packet map[string]any
	if err := msgpack.Unmarshal(frameBody(frame), &packet); err != nil {
		t.Fatalf("frame %x: %v", frame, err)
	}
	return packet
}

// asJSON writes a decoded value as canonical JSON (keys sorted, numbers by
// value), for comparing what two parsers delivered.
func asJSON(t testing.TB, value any) string {
	t.Helper()
	encoded, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	return string(encoded)
}

func canonicalJSON(t testing.TB, text string) string {
	t.Helper()
	var value any
	if err := json.Unmarshal([]byte(text), &value); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return asJSON(t, value)
}

// TestMixedParsersShareOneFramePerParser publishes a tick and a user
// message to JSON and msgpack sockets of the same symbol and user: each
// parser's sockets get the same frame (one allocation per parser), with the
// same content.
func TestMixedParsersShareOneFramePerParser(t *testing.T) {
	// One shard: with several, two workers may translate a tick at the same
	// time, and the one whose translation is not stored uses its own.
	e := newTestEngine(t, Config{Shards: 1})
	const perParser = 3
	var jsonSinks, msgpackSinks []*frameSink
	for i := range 2 * perParser {
		sink := &frameSink{}
		parser := parserJSON
		if i%2 == 1 {
			parser = parserMsgpack
			msgpackSinks = append(msgpackSinks, sink)
		} else {
			jsonSinks = append(jsonSinks, sink)
		}
		c := attachParserConn(t, e, fmt.Sprintf("user%d", i), parser, sink)
		subscribe(t, e, c, "BTCUSD")
		if !e.setStream(c, StreamOrders, true) {
			t.Fatal("setStream failed")
		}
	}
	tick := `{"symbol":"BTCUSD","bid":64000.5,"ask":64001,"ts":1700000000000,"note":"caf\u00e9","flags":[true,null]}`
	e.PublishTick("BTCUSD", []byte(tick))
	e.deliverPending(context.Background())
	wantTick := canonicalJSON(t, `["market:data",`+tick+`]`)
	check := func(what string, want string) (jsonStart, msgpackStart uintptr) {
		t.Helper()
		for i, sink := range jsonSinks {
			frame, start := sink.last()
			if got := canonicalJSON(t, string(frameBody(frame)[2:])); got != want {
				t.Fatalf("%s: JSON socket %d got %s; want %s", what, i, frame, want)
			}
			if i > 0 && start != jsonStart {
				t.Fatalf("%s: JSON sockets got different copies", what)
			}
			jsonStart = start
		}
		for i, sink := range msgpackSinks {
			frame, start := sink.last()
			packet := decodeMsgpackFrame(t, frame)
			if packet["type"] != int8(wire.SocketEvent) || packet["nsp"] != "/" || packet["id"] != nil {
				t.Fatalf("%s: msgpack socket %d got packet %v", what, i, packet)
			}
			if got := asJSON(t, packet["data"]); got != want {
				t.Fatalf("%s: msgpack socket %d got %s; want %s", what, i, got, want)
			}
			if i > 0 && start != msgpackStart {
				t.Fatalf("%s: msgpack sockets got different copies", what)
			}
			msgpackStart = start
		}
		return jsonStart, msgpackStart
	}
	check("tick", wantTick)
	ring := e.ring("BTCUSD", false)
	seq := ring.seq.Load()
	if translation := ring.msgpack[seq%ringSize].Load(); translation == nil || translation.seq != seq {
		t.Fatalf("ring position %d holds translation %v", seq, translation)
	}

	// One user with sockets of both parsers: the message is translated
	// once for all its msgpack sockets.
	for i := range jsonSinks {
		jsonSinks[i], msgpackSinks[i] = &frameSink{}, &frameSink{}
		attachParserConn(t, e, "both", parserJSON, jsonSinks[i])
		attachParserConn(t, e, "both", parserMsgpack, msgpackSinks[i])
	}
	s := e.shardOf("both")
	s.mu.Lock()
	for _, c := range s.users["both"] {
		c.mu.Lock()
		c.streams |= 1 << StreamOrders
		c.mu.Unlock()
	}
	s.mu.Unlock()
	order := `{"orderId":"o1","userId":"both","price":1.25,"qty":3}`
	e.PublishUser(StreamOrders, "both", []byte(order))
	e.deliverPending(context.Background())
	check("order", canonicalJSON(t, `["order:update",`+order+`]`))

	// A frame queued to many sockets by a path of its own (as an emitted
	// broadcast is): translated when collected, once for the shard.
	broadcast := newTextFrame(wire.AppendEvent(nil, "/", "news", []byte(`{"headline":"hi","n":1}`)))
	s.mu.Lock()
	var everyone []*clientConn
	for _, sockets := range s.users {
		everyone = append(everyone, sockets...)
	}
	s.mu.Unlock()
	for _, c := range everyone {
		if !c.enqueueUser(broadcast, 0) {
			t.Fatal("enqueue failed")
		}
		c.flush()
	}
	check("broadcast", canonicalJSON(t, `["news",{"headline":"hi","n":1}]`))
}

// TestMsgpackRingTranslationIsPerPosition checks msgpackAt: built once per
// ring position, and never one left from an earlier lap.
func TestMsgpackRingTranslationIsPerPosition(t *testing.T) {
	e := newTestEngine(t, Config{})
	ring := newSymbolRing("AAA", 0, 1)
	var first *outboundFrame
	for lap := 1; lap <= ringSize+1; lap++ {
		frame := newEventFrame("market:data", tick("AAA", lap))
		ring.push(frame, false)
		translation := ring.msgpackAt(e, frame.seq, frame)
		if again := ring.msgpackAt(e, frame.seq, frame); again != translation {
			t.Fatalf("seq %d translated twice", frame.seq)
		}
		if lap == 1 {
			first = translation
		}
		if lap == ringSize+1 && translation == first {
			t.Fatal("the translation of an earlier lap was reused")
		}
		packet := decodeMsgpackFrame(t, translation.WebSocket())
		if got, want := asJSON(t, packet["data"]), canonicalJSON(t, `["market:data",`+string(tick("AAA", lap))+`]`); got != want {
			t.Fatalf("seq %d translated to %s; want %s", frame.seq, got, want)
		}
	}
}

// TestMixedParsersConcurrentShards runs ticks through several shard
// workers at once to msgpack and JSON sockets (the race detector watches
// the lazily built translations): every socket gets every tick in order,
// in its parser's form.
func TestMixedParsersConcurrentShards(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 4})
	type socket struct {
		sink   *memorySink
		parser clientParser
	}
	var sockets []socket
	for i := range 16 {
		parser := parserJSON
		if i%2 == 0 {
			parser = parserMsgpack
		}
		sink := newMemorySink(true)
		c := attachParserConn(t, e, fmt.Sprintf("user%d", i), parser, sink)
		subscribe(t, e, c, "AAA")
		sockets = append(sockets, socket{sink, parser})
	}
	const ticks = 200
	for i := 1; i <= ticks; i++ {
		e.PublishTick("AAA", tick("AAA", i))
		if i%(ringSize/2) == 0 {
			e.deliverPending(context.Background())
		}
	}
	e.deliverPending(context.Background())
	for i, socket := range sockets {
		payloads := socket.sink.snapshot()
		if socket.parser == parserMsgpack {
			for j, payload := range payloads {
				text, err := wire.DecodeMsgpackSocketPacket(nil, []byte(payload), 1<<20)
				if err != nil {
					t.Fatalf("socket %d frame %d: %v", i, j, err)
				}
				payloads[j] = "4" + string(text)
			}
		}
		seqs := tickSeqs(payloads, "AAA")
		if len(seqs) != ticks {
			t.Fatalf("socket %d (parser %d) got %d ticks; want %d", i, socket.parser, len(seqs), ticks)
		}
		for j, seq := range seqs {
			if seq != j+1 {
				t.Fatalf("socket %d tick %d has seq %d", i, j, seq)
			}
		}
	}
}

// TestMsgpackUntranslatableFrameIsLeftOut: a frame the server should never
// build (not valid JSON) is left out for msgpack sockets and counted, and
// the next one goes through.
func TestMsgpackUntranslatableFrameIsLeftOut(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1})
	sink := &frameSink{}
	c := attachParserConn(t, e, "u", parserMsgpack, sink)
	subscribe(t, e, c, "AAA")
	e.PublishTick("AAA", []byte(`{"broken":`))
	e.deliverPending(context.Background())
	if sink.count() != 0 || e.metrics.msgpackUntranslatable.Load() != 1 {
		t.Fatalf("%d frames written, %d counted; want 0 and 1", sink.count(), e.metrics.msgpackUntranslatable.Load())
	}
	e.PublishTick("AAA", tick("AAA", 2))
	e.deliverPending(context.Background())
	if sink.count() != 1 {
		t.Fatalf("%d frames after a good tick; want 1", sink.count())
	}
}

// BenchmarkFanoutMixedParsers is BenchmarkFanout with half of the sockets
// on the msgpack parser, beside the all-JSON population in the same run:
// the msgpack frame is built once per tick, so the cost per delivery
// should stay close. bytes/delivery is what the sockets were given.
func BenchmarkFanoutMixedParsers(b *testing.B) {
	for _, subs := range []int{1000, 10000} {
		for _, msgpackShare := range []int{0, 50, 100} {
			b.Run(fmt.Sprintf("subs=%d/msgpack=%d%%", subs, msgpackShare), func(b *testing.B) {
				e := newTestEngine(b, Config{Shards: 1})
				sinks := make([]*countingSink, subs)
				for i := range sinks {
					sinks[i] = &countingSink{}
					parser := parserJSON
					if i*100/subs < msgpackShare {
						parser = parserMsgpack
					}
					c := attachParserConn(b, e, fmt.Sprintf("user%d", i), parser, sinks[i])
					subscribe(b, e, c, "S000")
				}
				ring := e.ring("S000", false)
				// The tick shape docs/protocol.md documents.
				payload := []byte(`{"symbol":"S000","price":50000.5,"volume":1000000,"high24h":51000,"low24h":49000,"change24h":500,"changePercent24h":1.01,"timestamp":1700000000000}`)
				s := e.shards[0]
				events := make([]shardEvent, 1)
				deliveriesBefore := e.Stats().Deliveries
				bytesBefore := totalBytes(sinks)
				cpuBefore := processCPU()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					ring.push(newEventFrame("market:data", payload), false)
					events[0] = shardEvent{ring: ring}
					s.deliver(events)
				}
				b.StopTimer()
				cpu := processCPU() - cpuBefore
				deliveries := float64(e.Stats().Deliveries - deliveriesBefore)
				b.ReportMetric(b.Elapsed().Seconds()*1e9/deliveries, "ns/delivery")
				// CPU time, unlike elapsed time, leaves out what other
				// processes of a shared machine take.
				b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
				b.ReportMetric(float64(totalBytes(sinks)-bytesBefore)/deliveries, "bytes/delivery")
			})
		}
	}
}

func totalBytes(sinks []*countingSink) int64 {
	var total int64
	for _, sink := range sinks {
		total += sink.bytes.Load()
	}
	return total
}
