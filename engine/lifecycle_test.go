package engine

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every connection's resources have an owner and a bounded life: these
// tests count them back to zero.

// TestHandedOffConnectionsLeaveNothing sends 20,000 plain HTTP requests,
// each on its own connection. Every one is handed from the event loop to
// net/http; the engine must keep nothing of them (no wheel entry, no live
// connection), and net/http must let each go once its client hangs up.
func TestHandedOffConnectionsLeaveNothing(t *testing.T) {
	e := startEngine(t, Config{})
	const requests, workers = 20_000, 8
	var failures atomic.Int64
	var group sync.WaitGroup
	for worker := range workers {
		group.Go(func() {
			for i := worker; i < requests; i += workers {
				if err := healthOnNewConnection(e.Addr().String()); err != nil {
					if failures.Add(1) == 1 {
						t.Errorf("request %d: %v", i, err)
					}
				}
			}
		})
	}
	group.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d of %d requests failed", failures.Load(), requests)
	}
	// Handed-off connections leave the wheel and the live set at the
	// hand-off itself, not at a deadline.
	if stats := e.Stats(); stats.TimerEntries != 0 || stats.Connections != 0 {
		t.Fatalf("after %d handed-off requests: %d timer entries, %d engine connections; want 0 and 0", requests, stats.TimerEntries, stats.Connections)
	}
	waitFor(t, "net/http to let go of every closed connection", func() bool { return e.Stats().HTTPConnections == 0 })
	if accepted := e.metrics.accepted.Load(); accepted < requests {
		t.Fatalf("accepted = %d; want at least %d", accepted, requests)
	}
}

// healthOnNewConnection makes one keep-alive GET /health on a connection of
// its own and hangs up once answered, as a probe does.
func healthOnNewConnection(address string) error {
	conn, err := net.Dial("tcp", address)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("GET /health HTTP/1.1\r\nHost: probe\r\n\r\n")); err != nil {
		return err
	}
	response, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", response.StatusCode)
	}
	return nil
}

// TestClosedSessionsLeaveTheWheel checks that a closed WebSocket or polling
// session is not kept by the wheel until its next deadline.
func TestClosedSessionsLeaveTheWheel(t *testing.T) {
	e := startEngine(t, Config{})
	var clients []*testClient
	for i := range 20 {
		client := dialClient(t, e, nil)
		client.connect(testToken(t, fmt.Sprint("user", i), time.Hour))
		clients = append(clients, client)
	}
	polling := openPolling(t, e, "")
	if stats := e.Stats(); stats.TimerEntries != 21 {
		t.Fatalf("timer entries = %d with 21 sessions; want one each", stats.TimerEntries)
	}
	for _, client := range clients {
		client.Close()
	}
	polling.post("1")
	waitFor(t, "every session to close", func() bool { return e.Stats().Connections == 0 })
	// An entry in a slot the wheel is visiting is counted out after the
	// visit, which may be just after its connection closed.
	waitFor(t, "the timer entries to return to zero", func() bool { return e.Stats().TimerEntries == 0 })
}

// TestSlowlorisHeadsCostNoGoroutine trickles request heads on many
// connections: the engine keeps their bytes and no goroutine for any of
// them, closes each at the handshake timeout, and counts every close.
func TestSlowlorisHeadsCostNoGoroutine(t *testing.T) {
	const connections = 200
	e := startEngine(t, Config{HandshakeTimeout: 2 * time.Second})
	baseline := runtime.NumGoroutine()
	var conns []net.Conn
	for range connections {
		conn, err := net.Dial("tcp", e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	waitFor(t, "every slowloris connection to be accepted", func() bool { return e.Stats().Connections == connections })
	// Had each partial head a goroutine waiting for the rest, there would
	// be one per connection until the handshake timeout (2 s). netpoll's
	// workers that read the heads finish within moments, but on a busy
	// machine a sample can still count them: the count must fall within
	// a second, well before the timeout.
	extra := 0
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		if extra = runtime.NumGoroutine() - baseline; extra <= connections/4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines more than before %d slowloris connections, a second after they sent their partial heads", extra, connections)
		}
	}
	waitFor(t, "the handshake timeout to close them", func() bool { return e.Stats().Connections == 0 })
	if closed := e.Stats().Disconnects["handshake_timeout"]; closed != connections {
		t.Fatalf("handshake_timeout disconnects = %d; want %d", closed, connections)
	}
	// The wheel counts an entry out once the callback that fired it has
	// returned, which may be just after the connection is counted out.
	waitFor(t, "the timer entries to return to zero", func() bool { return e.Stats().TimerEntries == 0 })
}

// TestRequestHeadLimit checks that a connection's first request head may
// take DefaultMaxHeaderBytes and no more, however it is split, and that
// later requests on a kept-alive connection are bounded too.
func TestRequestHeadLimit(t *testing.T) {
	e := startEngine(t, Config{})
	headOfSize := func(size int) string {
		start := "GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: "
		return start + strings.Repeat("p", size-len(start)-4) + "\r\n\r\n"
	}
	for _, test := range []struct {
		name   string
		size   int
		split  bool
		status string
	}{
		{"at the limit", DefaultMaxHeaderBytes, false, "HTTP/1.1 200"},
		{"at the limit, split", DefaultMaxHeaderBytes, true, "HTTP/1.1 200"},
		{"one byte over", DefaultMaxHeaderBytes + 1, false, "HTTP/1.1 431"},
		{"one byte over, split", DefaultMaxHeaderBytes + 1, true, "HTTP/1.1 431"},
		{"twice the limit", 2 * DefaultMaxHeaderBytes, false, "HTTP/1.1 431"},
	} {
		t.Run(test.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := headOfSize(test.size)
			if test.split {
				// The first part is read before the rest arrives.
				_, _ = conn.Write([]byte(head[:100]))
				time.Sleep(20 * time.Millisecond)
				head = head[100:]
			}
			_, _ = conn.Write([]byte(head))
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			status, _ := bufio.NewReader(conn).ReadString('\n')
			if !strings.HasPrefix(status, test.status) {
				t.Fatalf("status line = %q; want %s", status, test.status)
			}
		})
	}
	t.Run("second request on a kept-alive connection", func(t *testing.T) {
		conn, err := net.Dial("tcp", e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		reader := bufio.NewReader(conn)
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = conn.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
		response, err := http.ReadResponse(reader, nil)
		if err != nil || response.StatusCode != 200 {
			t.Fatalf("first request: %v %v", response, err)
		}
		response.Body.Close()
		// net/http does not count what it read ahead (at most 4 KiB) on a
		// kept-alive connection: the bound there is 12 KiB.
		_, _ = conn.Write([]byte(headOfSize(DefaultMaxHeaderBytes + 4096 + 1)))
		response, err = http.ReadResponse(reader, nil)
		if err != nil || response.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("second request over the limit: %v %v; want 431", response, err)
		}
		response.Body.Close()
	})
}

// TestSymbolTableFullIsCounted fills a small symbol table: ticks and
// subscriptions past it are refused and counted.
func TestSymbolTableFullIsCounted(t *testing.T) {
	e := startEngine(t, Config{MaxSymbols: 2})
	e.PublishTick("AAA", []byte(`{"symbol":"AAA"}`))
	e.PublishTick("BBB", []byte(`{"symbol":"BBB"}`))
	e.PublishTick("CCC", []byte(`{"symbol":"CCC"}`))
	client := dialClient(t, e, nil)
	client.connect(testToken(t, "collector", time.Hour))
	if ack := client.emitAck(1, "subscribe:market", `{"symbols":["DDD"]}`); !strings.Contains(ack, `"code":"TOO_MANY_SYMBOLS"`) {
		t.Fatalf("ack = %s", ack)
	}
	if full := e.metrics.symbolTableFull.Load(); full != 2 {
		t.Fatalf("symbol_table_full = %d; want 2 (one tick, one subscription)", full)
	}
}

// pendingSink is a memorySink whose socket holds bytes the engine has not
// read yet: a request head or a pong behind the node's own backlog.
type pendingSink struct {
	*memorySink
	pending atomic.Bool
}

func (s *pendingSink) inputPending() bool { return s.pending.Load() }

// TestDeadlinesGraceBytesNotYetRead checks the heartbeat's and the
// handshake's deadlines: a client whose pong or request head is buffered
// but unread when its deadline passes gets one more period, once; a client
// with nothing buffered, or still nothing read after the extra period, is
// closed on time; a pong that arrives restores the grace for the next ping.
func TestDeadlinesGraceBytesNotYetRead(t *testing.T) {
	e := newTestEngine(t, Config{})
	sink := &pendingSink{memorySink: newMemorySink(false)}
	c := attachTestConn(t, e, "slow-node", sink)
	ping := int64(e.config.PingTimeout)
	visit := func(now int64) {
		c.mu.Lock()
		c.timerAt = now
		c.mu.Unlock()
		c.onTimer(now, now)
	}
	pongDue := func(now int64) {
		c.mu.Lock()
		c.pongDeadline, c.nextPing = now, 0
		c.mu.Unlock()
	}
	closed := func() bool { return e.Stats().Disconnects["ping_timeout"] == 1 }

	now := timeNow()
	sink.pending.Store(true)
	pongDue(now)
	visit(now)
	c.mu.Lock()
	deadline := c.pongDeadline
	c.mu.Unlock()
	if closed() || deadline != now+ping {
		t.Fatalf("a pong buffered at the deadline: closed %v, deadline moved by %d; want one more PingTimeout", closed(), deadline-now)
	}
	c.pongReceived() // read at last: the next deadline has its grace again
	now += 2 * ping
	pongDue(now)
	visit(now)
	if closed() {
		t.Fatal("the grace was not restored by the pong")
	}
	visit(now + ping) // still unread after the extra period
	if !closed() {
		t.Fatal("bytes kept pending stretched the deadline past one extra period")
	}

	quiet := attachTestConn(t, e, "quiet", newMemorySink(false))
	quiet.mu.Lock()
	quiet.pongDeadline, quiet.nextPing, quiet.timerAt = now, 0, now
	quiet.mu.Unlock()
	quiet.onTimer(now, now)
	if timeouts := e.Stats().Disconnects["ping_timeout"]; timeouts != 2 {
		t.Fatalf("a client with nothing buffered was not closed at its deadline (%d ping timeouts)", timeouts)
	}

	handshake := &clientConn{engine: e, sink: sink}
	e.accept(handshake)
	handshake.mu.Lock()
	due := handshake.handshakeDeadline
	handshake.timerAt = due
	handshake.mu.Unlock()
	handshake.onTimer(due, due)
	handshake.mu.Lock()
	extended := handshake.handshakeDeadline
	handshake.timerAt = extended
	handshake.mu.Unlock()
	if e.Stats().Disconnects["handshake_timeout"] != 0 || extended != due+int64(e.config.HandshakeTimeout) {
		t.Fatalf("a request head buffered at the deadline: deadline moved by %d", extended-due)
	}
	handshake.onTimer(extended, extended)
	if e.Stats().Disconnects["handshake_timeout"] != 1 {
		t.Fatal("the handshake deadline was stretched twice")
	}
}
