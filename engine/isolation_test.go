package engine

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestStalledClientsDoNotDelayOthers runs real sockets: 1 % of the clients
// stop reading. Every other client still gets every tick in order; the
// stalled market-only client is conflated and stays connected; the stalled
// client with user data is disconnected as a slow consumer.
func TestStalledClientsDoNotDelayOthers(t *testing.T) {
	e := startEngine(t, Config{MaxPendingBytes: 256 << 10, WriteTimeout: time.Minute})
	const clients = 100
	padding := strings.Repeat("x", 8000) // big ticks fill the stalled sockets quickly
	readers := make([]*testClient, 0, clients)
	var stalledMarket, stalledOrders *testClient
	for i := 0; i < clients; i++ {
		client := dialClient(t, e, nil)
		user := fmt.Sprintf("user%d", i)
		client.connect(testToken(t, user, time.Hour))
		client.emitAck(1, "subscribe:market", `{"symbols":["AAA"]}`)
		switch i {
		case 0:
			stalledMarket = client
		case 1:
			client.emitAck(2, "subscribe:orders", "")
			stalledOrders = client
		default:
			readers = append(readers, client)
		}
	}
	// The stalled clients read no more, and take as little as TCP lets them.
	for _, client := range []*testClient{stalledMarket, stalledOrders} {
		_ = client.Conn().(*net.TCPConn).SetReadBuffer(4096)
	}
	// Likewise the server's side of them: loopback send buffers grow to
	// megabytes, which only makes the test slower.
	e.connsMu.Lock()
	for c := range e.conns {
		c.mu.Lock()
		if c.userID == "user0" || c.userID == "user1" {
			_ = syscall.SetsockoptInt(c.sink.(*netpollSink).fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
		}
		c.mu.Unlock()
	}
	e.connsMu.Unlock()
	const ticks = 300
	var received atomic.Int64
	var wg sync.WaitGroup
	failures := make(chan string, len(readers))
	for _, client := range readers {
		wg.Go(func() {
			for want := 1; want <= ticks; {
				text, err := client.Next(10 * time.Second)
				if err != nil {
					failures <- fmt.Sprintf("reader stopped at tick %d: %v", want, err)
					return
				}
				if !strings.HasPrefix(text, `42["market:data",`) {
					continue
				}
				var seq int
				if _, err := fmt.Sscanf(text[len(`42["market:data",{"symbol":"AAA","seq":`):], "%d", &seq); err != nil || seq != want {
					failures <- fmt.Sprintf("got seq %d (%v); want %d", seq, err, want)
					return
				}
				want++
				received.Add(1)
			}
		})
	}
	for i := 1; i <= ticks; i++ {
		e.PublishTick("AAA", []byte(fmt.Sprintf(`{"symbol":"AAA","seq":%d,"padding":"%s"}`, i, padding)))
		e.PublishUser(StreamOrders, "user1", []byte(fmt.Sprintf(`{"userId":"user1","n":%d,"padding":"%s"}`, i, padding)))
		// Paced by the readers: a reader more than a ring behind would be
		// conflated by design, which is not what this test is about. A
		// stalled client delaying the others shows as this wait timing out.
		waitFor(t, fmt.Sprintf("tick %d at every reader", i), func() bool { return received.Load() >= int64(i*len(readers)) })
	}
	wg.Wait()
	close(failures)
	for failure := range failures {
		t.Fatal(failure)
	}
	waitFor(t, "slow consumer disconnect", func() bool { return e.Stats().Disconnects["slow_consumer"] == 1 })
	// The stalled market client held no backlog: when it reads again it
	// gets what was already in flight, then the newest tick.
	got, last := 0, 0
	for last != ticks {
		text, err := stalledMarket.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("stalled market client after resuming: %v (last seq %d)", err, last)
		}
		if _, err := fmt.Sscanf(text, `42["market:data",{"symbol":"AAA","seq":%d`, &last); err == nil {
			got++
		}
	}
	if got >= ticks/2 {
		t.Fatalf("the stalled client received %d of %d ticks; want a conflated few", got, ticks)
	}
	stats := e.Stats()
	if stats.Conflated == 0 {
		t.Fatal("conflated counter did not move")
	}
	if stats.Sockets != clients-1 {
		t.Fatalf("sockets = %d; want %d (only the stalled orders client gone)", stats.Sockets, clients-1)
	}
}
