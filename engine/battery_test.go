package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// The bad-input battery: every case sends one kind of bad input, asserts
// the exact refusal, and asserts that a well-behaved client connected to
// the same engine received every tick published meanwhile, in order.

// watcher is a connected, subscribed client that records the seq of every
// WATCH tick it receives, from its own goroutine.
type watcher struct {
	mu    sync.Mutex
	seqs  []int
	err   error
	done  chan struct{}
	conn  net.Conn
	ready chan struct{}
}

func startWatcher(t *testing.T, e *Engine) *watcher {
	t.Helper()
	client := dialClient(t, e, nil)
	client.connect(testToken(t, "watcher", time.Hour))
	if ack := client.emitAck(1, "subscribe:market", `{"symbols":["WATCH"]}`); ack != `{"ok":true,"symbols":["WATCH"]}` {
		t.Fatalf("watcher subscribe = %s", ack)
	}
	w := &watcher{done: make(chan struct{}), conn: client.Conn()}
	go func() {
		defer close(w.done)
		prefix := `42["market:data",{"symbol":"WATCH","seq":`
		for {
			text, err := client.Next(30 * time.Second)
			if err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
			if strings.HasPrefix(text, prefix) {
				var seq int
				fmt.Sscanf(text[len(prefix):], "%d", &seq)
				w.mu.Lock()
				w.seqs = append(w.seqs, seq)
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *watcher) last() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seqs) == 0 {
		return 0, w.err
	}
	return w.seqs[len(w.seqs)-1], w.err
}

// batteryTicks is how many ticks the battery's watcher must receive in
// order, at least, for a case to pass.
const batteryTicks = 5

// battery is one engine with a watcher and a ticker publishing to it.
type battery struct {
	t       *testing.T
	engine  *Engine
	watcher *watcher
	stop    chan struct{}
	stopped chan int
	// published counts the ticks so far, so that finish can wait for enough
	// of them by count: a busy machine may starve the ticker for a while.
	published atomic.Int64
}

func newBattery(t *testing.T, config Config) *battery {
	t.Helper()
	b := &battery{t: t, engine: startEngine(t, config), stop: make(chan struct{}), stopped: make(chan int, 1)}
	b.watcher = startWatcher(t, b.engine)
	go func() {
		seq := 0
		ticker := time.NewTicker(3 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-b.stop:
				b.stopped <- seq
				return
			case <-ticker.C:
				seq++
				b.engine.PublishTick("WATCH", tick("WATCH", seq))
				b.published.Store(int64(seq))
			}
		}
	}()
	t.Cleanup(b.finish)
	return b
}

// finish stops the ticker and checks the watcher got every tick in order.
func (b *battery) finish() {
	t := b.t
	select {
	case <-b.stop:
		return
	default:
	}
	// Tick on until a few ticks have been published even when the case was
	// quick, so that the check covers more than one or two.
	waitFor(t, "the battery's ticks", func() bool { return b.published.Load() >= batteryTicks })
	close(b.stop)
	final := <-b.stopped
	deadline := time.Now().Add(5 * time.Second)
	for {
		last, err := b.watcher.last()
		if last >= final {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Errorf("watcher stopped at tick %d of %d (%v)", last, final, err)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.watcher.mu.Lock()
	defer b.watcher.mu.Unlock()
	for i, seq := range b.watcher.seqs {
		if seq != i+1 {
			t.Errorf("watcher tick %d has seq %d: ticks were lost or reordered", i, seq)
			return
		}
	}
}

// rawDial opens a WebSocket session and returns the raw connection, its
// reader, with the open packet consumed.
func rawDial(t *testing.T, e *Engine, header http.Header) (net.Conn, io.Reader) {
	t.Helper()
	client, err := enginetest.Dial(context.Background(), e.Addr().String(), header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client.Conn(), client.ReadWriter()
}

// expectCloseCode reads until a close frame and checks its status code.
func expectCloseCode(t *testing.T, conn net.Conn, reader io.Reader, want ws.StatusCode) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		frame, err := ws.ReadFrame(reader)
		if err != nil {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		if frame.Header.OpCode == ws.OpClose {
			if code, _ := ws.ParseCloseFrameData(frame.Payload); code != want {
				t.Fatalf("close code = %d; want %d", code, want)
			}
			return
		}
	}
}

func maskedFrame(fin bool, op ws.OpCode, payload []byte) ws.Frame {
	frame := ws.NewFrame(op, fin, append([]byte(nil), payload...))
	return ws.MaskFrameInPlace(frame)
}

func writeFrames(t *testing.T, conn net.Conn, frames ...ws.Frame) {
	t.Helper()
	for _, frame := range frames {
		if err := ws.WriteFrame(conn, frame); err != nil {
			t.Fatalf("write frame: %v", err)
		}
	}
}

func rawHTTP(t *testing.T, e *Engine, request string) string {
	t.Helper()
	conn, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(request))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(conn)
	return string(reply)
}

func TestBadInputBattery(t *testing.T) {
	// Warm up the pollers netpoll keeps for the process, then take the
	// goroutine baseline.
	t.Run("warm up", func(t *testing.T) { newBattery(t, Config{}) })
	baseline := runtime.NumGoroutine()
	heapBaseline := liveHeap()

	t.Run("malformed HTTP", func(t *testing.T) {
		b := newBattery(t, Config{})
		reply := rawHTTP(t, b.engine, "GARBAGE\r\n\r\n")
		if !strings.HasPrefix(reply, "HTTP/1.1 400 Bad Request") {
			t.Fatalf("reply = %q", reply)
		}
	})
	httpErrors := []struct{ name, query, body string }{
		{"unknown transport", "?EIO=4&transport=carrier-pigeon", `{"code":0,"message":"Transport unknown"}`},
		{"bad EIO", "?EIO=7&transport=polling", `{"code":5,"message":"Unsupported protocol version"}`},
		{"unknown sid", "?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA", `{"code":1,"message":"Session ID unknown"}`},
	}
	for _, tc := range httpErrors {
		t.Run(tc.name, func(t *testing.T) {
			b := newBattery(t, Config{})
			response, body := pollRequest(t, http.MethodGet, "http://"+b.engine.Addr().String()+"/socket.io/"+tc.query, "", nil)
			if response.StatusCode != 400 || body != tc.body {
				t.Fatalf("GET %s = %d %q; want 400 %s", tc.query, response.StatusCode, body, tc.body)
			}
		})
	}
	closes := []struct {
		name   string
		frames []ws.Frame
		code   ws.StatusCode
	}{
		{"bad Engine.IO packet", []ws.Frame{maskedFrame(true, ws.OpText, []byte("9"))}, ws.StatusProtocolError},
		{"bad Socket.IO packet", []ws.Frame{maskedFrame(true, ws.OpText, []byte("4x"))}, ws.StatusProtocolError},
		{"bad event payload", []ws.Frame{maskedFrame(true, ws.OpText, []byte("42{}"))}, ws.StatusProtocolError},
		{"invalid UTF-8", []ws.Frame{maskedFrame(true, ws.OpText, []byte("42[\"a\xff\xfe\"]"))}, ws.StatusInvalidFramePayloadData},
		{"frame over the limit", []ws.Frame{maskedFrame(true, ws.OpText, []byte("4"+strings.Repeat("x", 2000)))}, ws.StatusMessageTooBig},
		{"fragmented control frame", []ws.Frame{maskedFrame(false, ws.OpPing, []byte("a"))}, ws.StatusProtocolError},
		{"continuation without start", []ws.Frame{maskedFrame(true, ws.OpContinuation, []byte("6"))}, ws.StatusProtocolError},
		{"unmasked client frame", []ws.Frame{ws.NewTextFrame([]byte("6"))}, ws.StatusProtocolError},
		{"reserved opcode", []ws.Frame{maskedFrame(true, ws.OpCode(0x3), []byte("6"))}, ws.StatusProtocolError},
		{"binary without announcement", []ws.Frame{maskedFrame(true, ws.OpBinary, []byte{1, 2})}, ws.StatusProtocolError},
	}
	for _, tc := range closes {
		t.Run(tc.name, func(t *testing.T) {
			b := newBattery(t, Config{MaxPayload: 1000})
			conn, reader := rawDial(t, b.engine, nil)
			writeFrames(t, conn, tc.frames...)
			expectCloseCode(t, conn, reader, tc.code)
		})
	}
	t.Run("interleaved control frames", func(t *testing.T) {
		b := newBattery(t, Config{})
		conn, reader := rawDial(t, b.engine, nil)
		// A ping between the fragments of a message is allowed (RFC 6455
		// §5.4): it is answered and the message still arrives whole.
		writeFrames(t, conn,
			maskedFrame(false, ws.OpText, []byte("4")),
			maskedFrame(true, ws.OpPing, []byte("hi")),
			maskedFrame(true, ws.OpContinuation, []byte("0")))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		sawPong := false
		for {
			frame, err := ws.ReadFrame(reader)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if frame.Header.OpCode == ws.OpPong && string(frame.Payload) == "hi" {
				sawPong = true
				continue
			}
			if frame.Header.OpCode == ws.OpText {
				// The reassembled "40" is a CONNECT without a token.
				if got := string(frame.Payload); !sawPong || got != `44{"message":"Authentication failed","data":{"code":"TOKEN_MISSING"}}` {
					t.Fatalf("answer = %q (pong seen: %v)", got, sawPong)
				}
				return
			}
		}
	})
	t.Run("ping flood", func(t *testing.T) {
		b := newBattery(t, Config{})
		client := dialClient(t, b.engine, nil)
		client.connect(testToken(t, "pinger", time.Hour))
		conn, reader := client.Conn(), client.ReadWriter()
		const pings = 5000
		for i := range pings {
			writeFrames(t, conn, maskedFrame(true, ws.OpPing, []byte(fmt.Sprint(i))))
		}
		writeFrames(t, conn, maskedFrame(true, ws.OpText, []byte("2")))
		// The connection stays up and answers; pongs may be coalesced
		// (only the latest ping needs one), so at most one per ping.
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		pongs := 0
		for {
			frame, err := ws.ReadFrame(reader)
			if err != nil {
				t.Fatalf("read after %d pongs: %v", pongs, err)
			}
			if frame.Header.OpCode == ws.OpPong {
				pongs++
			}
			if frame.Header.OpCode == ws.OpText && string(frame.Payload) == "3" {
				break
			}
		}
		if pongs == 0 || pongs > pings {
			t.Fatalf("pongs = %d for %d pings", pongs, pings)
		}
	})
	t.Run("event flood", func(t *testing.T) {
		b := newBattery(t, Config{EventRate: 20})
		client := dialClient(t, b.engine, nil)
		client.connect(testToken(t, "flooder", time.Hour))
		send := func(from, to int) {
			for i := from; i < to; i++ {
				if err := wsutil.WriteClientText(client.Conn(), []byte(fmt.Sprintf(`42%d["subscribe:orders"]`, i+1))); err != nil {
					return // closed by the server mid-flood
				}
			}
		}
		// Past the burst (2 × EventRate: 40 events) and short of a flood
		// (40 refusals more): the extra events are refused, the socket
		// stays. In one blast with the flood, whether a refusal is written
		// before the disconnect drops the queue is a matter of timing.
		send(0, 60)
		for {
			text, err := client.Next(5 * time.Second)
			if err != nil {
				t.Fatalf("no RATE_LIMITED refusal for events past the burst: %v", err)
			}
			if strings.Contains(text, `"code":"RATE_LIMITED"`) {
				break
			}
		}
		if closed := b.engine.Stats().Disconnects["event_flood"]; closed != 0 {
			t.Fatal("refused events past the burst closed the socket as a flood")
		}
		// Flooding on: the socket is closed for it.
		send(60, 260)
		for {
			if _, err := client.Next(5 * time.Second); err != nil {
				break
			}
		}
		waitFor(t, "the event_flood disconnect", func() bool { return b.engine.Stats().Disconnects["event_flood"] == 1 })
	})
	t.Run("10000 symbols", func(t *testing.T) {
		b := newBattery(t, Config{})
		client := dialClient(t, b.engine, nil)
		client.connect(testToken(t, "greedy", time.Hour))
		symbols := make([]string, 10000)
		for i := range symbols {
			symbols[i] = fmt.Sprintf("S%d", i)
		}
		payload, _ := json.Marshal(map[string]any{"symbols": symbols})
		if ack := client.emitAck(1, "subscribe:market", string(payload)); ack != `{"ok":false,"error":{"code":"TOO_MANY_SYMBOLS","message":"at most 200 symbols per socket"}}` {
			t.Fatalf("ack = %s", ack)
		}
	})
	t.Run("bad symbol characters", func(t *testing.T) {
		b := newBattery(t, Config{})
		client := dialClient(t, b.engine, nil)
		client.connect(testToken(t, "typo", time.Hour))
		if ack := client.emitAck(1, "subscribe:market", `{"symbols":["BTC\u0000USD","ÉTH","../x"]}`); ack != `{"ok":false,"error":{"code":"INVALID_SYMBOL","message":"invalid symbols","symbols":["BTC\u0000USD","ÉTH","../x"]}}` {
			t.Fatalf("ack = %s", ack)
		}
	})
	t.Run("unknown namespace", func(t *testing.T) {
		b := newBattery(t, Config{})
		client := dialClient(t, b.engine, nil)
		client.send(`40/admin,`)
		if answer := client.next(); answer != `44/admin,{"message":"Invalid namespace"}` {
			t.Fatalf("answer = %q", answer)
		}
	})
	t.Run("trickled headers", func(t *testing.T) {
		b := newBattery(t, Config{HandshakeTimeout: 300 * time.Millisecond})
		conn, err := net.Dial("tcp", b.engine.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		head := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		for i := 0; i < len(head); i++ {
			if _, err := conn.Write([]byte{head[i]}); err != nil {
				break // cut off
			}
			time.Sleep(50 * time.Millisecond)
			if time.Since(start) > 3*time.Second {
				t.Fatal("a trickled head was not cut off")
			}
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Fatal("the server answered a trickled head")
		}
		if waited := time.Since(start); waited > 2*time.Second {
			t.Fatalf("cut off after %v; want about the 300ms handshake timeout", waited)
		}
	})
	t.Run("too many connections from one IP", func(t *testing.T) {
		b := newBattery(t, Config{MaxConnectionsPerIP: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
		header := http.Header{"X-Forwarded-For": {"198.51.100.1"}}
		rawDial(t, b.engine, header)
		rawDial(t, b.engine, header)
		dialer := ws.Dialer{Timeout: 5 * time.Second, Header: ws.HandshakeHeaderHTTP(header)}
		_, _, _, err := dialer.Dial(context.Background(), "ws://"+b.engine.Addr().String()+"/socket.io/?EIO=4&transport=websocket")
		if status, ok := err.(ws.StatusError); !ok || int(status) != 429 {
			t.Fatalf("third connection: %v; want HTTP 429", err)
		}
	})
	t.Run("disallowed Origin", func(t *testing.T) {
		b := newBattery(t, Config{AllowOrigin: func(origin string) bool { return origin == "" || origin == "https://app.example" }})
		reply := rawHTTP(t, b.engine, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"+
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(reply, "HTTP/1.1 403 Forbidden") || !strings.HasSuffix(reply, `{"code":4,"message":"Forbidden"}`) {
			t.Fatalf("reply = %q", reply)
		}
	})

	// Every engine above has shut down: the goroutines it started are gone.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buffer := make([]byte, 1<<20)
			t.Fatalf("goroutines = %d; baseline %d\n%s", runtime.NumGoroutine(), baseline, buffer[:runtime.Stack(buffer, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And the memory they held is garbage: nothing a bad peer sent (the
	// 10,000 symbols, the oversized frames, the flood) is still referenced.
	heap := liveHeap()
	t.Logf("live heap: %d KiB before the battery, %d KiB after", heapBaseline>>10, heap>>10)
	if heap > heapBaseline+batteryHeapSlack {
		t.Fatalf("live heap %d KiB after the battery; baseline %d KiB", heap>>10, heapBaseline>>10)
	}
}

// batteryHeapSlack allows for the test's own bookkeeping and the pools
// (netpoll's buffer cache, sync.Pools) that keep some memory warm.
const batteryHeapSlack = 1 << 20

// liveHeap returns the bytes still referenced after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return stats.HeapAlloc
}
