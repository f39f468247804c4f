package engine

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestPreAuthAllowance checks the frames and bytes a socket may send before
// its CONNECT succeeds, on both transports.
func TestPreAuthAllowance(t *testing.T) {
	noop := maskedFrame(true, ws.OpText, []byte("6"))
	t.Run("too many frames", func(t *testing.T) {
		b := newBattery(t, Config{PreAuthFrames: 8})
		conn, reader := rawDial(t, b.engine, nil)
		for range 9 {
			writeFrames(t, conn, noop)
		}
		expectCloseCode(t, conn, reader, ws.StatusPolicyViolation)
		waitFor(t, "the input_flood disconnect", func() bool { return b.engine.Stats().Disconnects["input_flood"] == 1 })
	})
	t.Run("too many bytes", func(t *testing.T) {
		b := newBattery(t, Config{PreAuthBytes: 4096})
		conn, reader := rawDial(t, b.engine, nil)
		ping := maskedFrame(true, ws.OpText, []byte("2"+strings.Repeat("x", 1000)))
		for range 5 {
			writeFrames(t, conn, ping)
		}
		expectCloseCode(t, conn, reader, ws.StatusPolicyViolation)
	})
	t.Run("a frame larger than the allowance", func(t *testing.T) {
		b := newBattery(t, Config{PreAuthBytes: 4096})
		conn, reader := rawDial(t, b.engine, nil)
		writeFrames(t, conn, maskedFrame(true, ws.OpText, []byte("4"+strings.Repeat("x", 5000))))
		expectCloseCode(t, conn, reader, ws.StatusMessageTooBig)
	})
	t.Run("control frames count", func(t *testing.T) {
		b := newBattery(t, Config{PreAuthFrames: 8})
		conn, reader := rawDial(t, b.engine, nil)
		for range 9 {
			writeFrames(t, conn, maskedFrame(true, ws.OpPing, []byte("p")))
		}
		expectCloseCode(t, conn, reader, ws.StatusPolicyViolation)
	})
	t.Run("after CONNECT the allowance no longer applies", func(t *testing.T) {
		b := newBattery(t, Config{PreAuthFrames: 8})
		client := dialClient(t, b.engine, nil)
		client.connect(testToken(t, "member", time.Hour))
		for range 100 {
			client.send("6")
		}
		if ack := client.emitAck(1, "subscribe:orders", ""); ack != `{"ok":true}` {
			t.Fatalf("ack after 100 noops = %s", ack)
		}
	})
	t.Run("failed CONNECTs use it up", func(t *testing.T) {
		b := newBattery(t, Config{PreAuthFrames: 8})
		client := dialClient(t, b.engine, nil)
		for range 8 {
			if answer := client.connect("not-a-token"); !strings.HasPrefix(answer, "44") {
				t.Fatalf("answer = %q", answer)
			}
		}
		client.send(`40{"token":"still-not-a-token"}`)
		expectCloseCode(t, client.Conn(), client.ReadWriter(), ws.StatusPolicyViolation)
	})
	t.Run("polling", func(t *testing.T) {
		b := newBattery(t, Config{PreAuthFrames: 8})
		polling := openPolling(t, b.engine, "")
		status, _ := polling.post(strings.Repeat("6\x1e", 8) + "6")
		if status != http.StatusBadRequest {
			t.Fatalf("POST over the allowance = %d; want 400", status)
		}
		if status, body := polling.get(); status != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` {
			t.Fatalf("GET after the flood = %d %s; want the session gone", status, body)
		}
		if closed := b.engine.Stats().Disconnects["input_flood"]; closed != 1 {
			t.Fatalf("input_flood disconnects = %d; want 1", closed)
		}
	})
}

// TestFloodKeepsBufferedInputBounded floods from an unauthenticated and an
// authenticated socket at once, as fast as loopback takes it, and checks
// that the gateway's memory stays bounded while a well-behaved client keeps
// receiving every tick (the battery's watcher).
func TestFloodKeepsBufferedInputBounded(t *testing.T) {
	// Input shrunk for the test: one message is at most 4 KiB, so the
	// bound on a socket's unhandled input is about 72 KiB.
	b := newBattery(t, Config{MaxPayload: 4096})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	// 64 KiB of masked noop frames, written again and again.
	var burst bytes.Buffer
	for burst.Len() < 64<<10 {
		_ = ws.WriteFrame(&burst, maskedFrame(true, ws.OpText, []byte("6")))
	}
	unauthenticated, _ := rawDial(t, b.engine, nil)
	member := dialClient(t, b.engine, nil)
	member.connect(testToken(t, "flooder", time.Hour))
	const floodFor = 2 * time.Second
	var flooders sync.WaitGroup
	written := make([]int, 2)
	for i, conn := range []net.Conn{unauthenticated, member.Conn()} {
		flooders.Go(func() {
			until := time.Now().Add(floodFor)
			_ = conn.SetWriteDeadline(until)
			for time.Now().Before(until) {
				n, err := conn.Write(burst.Bytes())
				written[i] += n
				if err != nil {
					return // closed by the server, or the deadline
				}
			}
		})
	}
	var peak uint64
	for done := false; !done; {
		var stats runtime.MemStats
		runtime.ReadMemStats(&stats)
		peak = max(peak, stats.HeapInuse)
		select {
		case <-waitGroupDone(&flooders):
			done = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	const bound = 64 << 20
	t.Logf("flooders wrote %d and %d bytes; heap in use peaked %d KiB above the %d KiB before",
		written[0], written[1], (peak-before.HeapInuse)>>10, before.HeapInuse>>10)
	if peak > before.HeapInuse+bound {
		t.Fatalf("heap in use peaked at %d MiB, %d MiB above before the flood; bound %d MiB",
			peak>>20, (peak-before.HeapInuse)>>20, bound>>20)
	}
	if closed := b.engine.Stats().Disconnects["input_flood"]; closed < 1 {
		t.Fatalf("input_flood disconnects = %d; the unauthenticated flooder was not closed", closed)
	}
}

// waitGroupDone returns a channel closed when group's goroutines are done.
func waitGroupDone(group *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		group.Wait()
		close(done)
	}()
	return done
}

// TestEventRateCoversEveryEvent checks that events the server ignores
// still count against the socket's event rate, and that payloads the
// reference parser refuses close the connection.
func TestEventRateCoversEveryEvent(t *testing.T) {
	for _, test := range []struct{ name, packet string }{
		{"numeric event name", `42[1]`},
		{"another namespace", `42/admin,["subscribe:orders"]`},
		{"unknown event", `42["no:such:event"]`},
		{"acks", `43[]`},
	} {
		t.Run(test.name, func(t *testing.T) {
			b := newBattery(t, Config{EventRate: 5})
			client := dialClient(t, b.engine, nil)
			client.connect(testToken(t, "flooder", time.Hour))
			for range 100 {
				if err := wsutil.WriteClientText(client.Conn(), []byte(test.packet)); err != nil {
					break // closed mid-flood
				}
			}
			expectCloseCode(t, client.Conn(), client.ReadWriter(), ws.StatusPolicyViolation)
			waitFor(t, "the event_flood disconnect", func() bool { return b.engine.Stats().Disconnects["event_flood"] == 1 })
		})
	}
	for _, packet := range []string{`42`, `42{}`, `42[]`, `42["connect"]`, `42[null]`} {
		t.Run(fmt.Sprintf("refused payload %s", packet), func(t *testing.T) {
			b := newBattery(t, Config{})
			client := dialClient(t, b.engine, nil)
			client.connect(testToken(t, "sloppy", time.Hour))
			client.send(packet)
			expectCloseCode(t, client.Conn(), client.ReadWriter(), ws.StatusProtocolError)
		})
	}
}

// TestInvalidCloseFrames checks the answers to close frames (RFC 6455
// §5.5.1, §7.4): a valid code is echoed, an invalid body is a protocol
// error, a reason that is not UTF-8 is invalid data.
func TestInvalidCloseFrames(t *testing.T) {
	for _, test := range []struct {
		name    string
		payload []byte
		want    ws.StatusCode
	}{
		{"empty body", nil, ws.StatusNormalClosure},
		{"normal", []byte{0x03, 0xe8}, ws.StatusNormalClosure},
		{"going away", []byte{0x03, 0xe9, 'b', 'y', 'e'}, ws.StatusGoingAway},
		{"application code", []byte{0x0f, 0xa0}, ws.StatusCode(4000)},
		{"one byte", []byte{0x03}, ws.StatusProtocolError},
		{"1005 sent", []byte{0x03, 0xed}, ws.StatusProtocolError},
		{"1006 sent", []byte{0x03, 0xee}, ws.StatusProtocolError},
		{"code 999", []byte{0x03, 0xe7}, ws.StatusProtocolError},
		{"reason not UTF-8", []byte{0x03, 0xe8, 0xff, 0xfe}, ws.StatusInvalidFramePayloadData},
	} {
		t.Run(test.name, func(t *testing.T) {
			b := newBattery(t, Config{})
			conn, reader := rawDial(t, b.engine, nil)
			writeFrames(t, conn, maskedFrame(true, ws.OpClose, test.payload))
			expectCloseCode(t, conn, reader, test.want)
		})
	}
}
