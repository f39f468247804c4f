package engine

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestDrainClosesEverySession(t *testing.T) {
	e := startEngine(t, Config{})
	base := "http://" + e.Addr().String()
	socket := dialClient(t, e, nil)
	polling := openPolling(t, e, "")
	pending := make(chan string, 1)
	go func() {
		_, body := polling.get()
		pending <- body
	}()
	waitForWaiter(t, e, polling.SID)

	e.StartDrain()
	if status, body := get(t, base+"/ready", nil); status != 503 || body != `{"status":"unavailable","reason":"draining"}` {
		t.Fatalf("/ready while draining = %d %s", status, body)
	}
	if status, _ := pollingStatus(t, e, ""); status != 503 {
		t.Fatalf("new session while draining = %d; want 503", status)
	}
	// Connected clients are still served until Shutdown.
	if answer := socket.connect(testToken(t, "u1", time.Hour)); answer[:2] != "40" {
		t.Fatalf("CONNECT while draining = %q", answer)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if body := <-pending; body != "1" {
		t.Fatalf("pending GET at shutdown = %q; want the close packet", body)
	}
	_ = socket.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		frame, err := ws.ReadFrame(socket.ReadWriter())
		if err != nil {
			t.Fatalf("no close frame before the socket ended: %v", err)
		}
		if frame.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(frame.Payload)
			if code != ws.StatusGoingAway {
				t.Fatalf("close code = %d; want 1001", code)
			}
			break
		}
	}
}

// TestDrainDeliversUntilGoodbye publishes orders without pause while the
// engine drains. Every socket, fast or stalled, must receive every order
// published before the drain began and then a gap-free run of the later
// ones, up to its close frame: nothing queued before the goodbye is dropped.
func TestDrainDeliversUntilGoodbye(t *testing.T) {
	// Orders of 40 KB, 100 of them before the drain: more than the kernel
	// buffers of a stalled socket hold, so that some wait in the engine.
	e := startEngine(t, Config{MaxPendingBytes: 16 << 20})
	const users = 20
	type reader struct {
		client *testClient
		stall  bool
	}
	var readers []reader
	for i := range users {
		client := dialClient(t, e, nil)
		client.connect(testToken(t, fmt.Sprint("user", i), time.Hour))
		if ack := client.emitAck(1, "subscribe:orders", ""); ack != `{"ok":true}` {
			t.Fatalf("subscribe = %s", ack)
		}
		stall := i%2 == 1
		if stall {
			// A small receive window: the server's writes to it back up.
			_ = client.Conn().(*net.TCPConn).SetReadBuffer(16 << 10)
		}
		readers = append(readers, reader{client, stall})
	}
	padding := strings.Repeat("x", 40_000)
	publish := func(seq int) {
		for i := range users {
			e.PublishUser(StreamOrders, fmt.Sprint("user", i), []byte(fmt.Sprintf(`{"userId":"user%d","seq":%d,"pad":"%s"}`, i, seq, padding)))
		}
	}
	const beforeDrain = 100
	for seq := 1; seq <= beforeDrain; seq++ {
		publish(seq)
	}
	stopPublishing := make(chan struct{})
	publishing := make(chan struct{})
	go func() {
		defer close(publishing)
		for seq := beforeDrain + 1; ; seq++ {
			select {
			case <-stopPublishing:
				return
			default:
			}
			publish(seq)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- e.Shutdown(ctx)
	}()
	// The stalled readers start reading only once the drain is under way.
	waitFor(t, "the drain to begin", e.Draining)
	time.Sleep(100 * time.Millisecond)

	var group sync.WaitGroup
	results := make([][]int, users)
	failures := make([]error, users)
	for i, r := range readers {
		group.Go(func() {
			prefix := `42["order:update",{"userId":"user` + fmt.Sprint(i) + `","seq":`
			_ = r.client.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				frame, err := ws.ReadFrame(r.client.ReadWriter())
				if err != nil {
					failures[i] = fmt.Errorf("no close frame after %d orders: %w", len(results[i]), err)
					return
				}
				if frame.Header.OpCode == ws.OpClose {
					if code, _ := ws.ParseCloseFrameData(frame.Payload); code != ws.StatusGoingAway {
						failures[i] = fmt.Errorf("close code %d", code)
					}
					return
				}
				if text := string(frame.Payload); strings.HasPrefix(text, prefix) {
					var seq int
					fmt.Sscanf(text[len(prefix):], "%d", &seq)
					results[i] = append(results[i], seq)
				}
			}
		})
	}
	group.Wait()
	close(stopPublishing)
	<-publishing
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i, seqs := range results {
		if failures[i] != nil {
			t.Errorf("user%d (stalled %v): %v", i, readers[i].stall, failures[i])
		}
		for n, seq := range seqs {
			if seq != n+1 {
				t.Errorf("user%d (stalled %v): order %d has seq %d: lost or reordered", i, readers[i].stall, n, seq)
				break
			}
		}
		if len(seqs) < beforeDrain {
			t.Errorf("user%d (stalled %v): %d orders; want at least the %d published before the drain", i, readers[i].stall, len(seqs), beforeDrain)
		}
	}
}
