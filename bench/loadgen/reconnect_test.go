package main

import (
	"context"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest/redistest"
)

func TestReconnectOrder(t *testing.T) {
	targets := []string{"a", "b", "c"}
	cases := []struct {
		lost  string
		index int
		want  []string
	}{
		{"a", 0, []string{"b", "c", "a"}},
		{"a", 1, []string{"c", "b", "a"}},
		{"a", 2, []string{"b", "c", "a"}},
		{"b", 1, []string{"c", "a", "b"}},
		{"x", 0, []string{"a", "b", "c"}}, // not one of them: every one, in turn
	}
	for _, tc := range cases {
		if got := reconnectOrder(targets, tc.lost, tc.index); !slices.Equal(got, tc.want) {
			t.Errorf("reconnectOrder(%v, %q, %d) = %v; want %v", targets, tc.lost, tc.index, got, tc.want)
		}
	}
	if got := reconnectOrder([]string{"a"}, "a", 7); !slices.Equal(got, []string{"a"}) {
		t.Errorf("one target: %v", got)
	}
}

func TestReconnectDelay(t *testing.T) {
	c := &config{ReconnectDelay: time.Second, ReconnectDelayMax: 5 * time.Second}
	for range 200 {
		if delay := reconnectDelay(c, 0); delay < 500*time.Millisecond || delay > 1500*time.Millisecond {
			t.Fatalf("first delay %s; want 0.5-1.5 s as the stock client", delay)
		}
		if delay := reconnectDelay(c, 1); delay < time.Second || delay > 3*time.Second {
			t.Fatalf("second delay %s; want 1-3 s", delay)
		}
		for _, attempt := range []int{3, 40, 1000} {
			if delay := reconnectDelay(c, attempt); delay < 2500*time.Millisecond || delay > 5*time.Second {
				t.Fatalf("delay of attempt %d %s; want within the maximum", attempt, delay)
			}
		}
	}
}

func TestReconnectStatsMerge(t *testing.T) {
	first := reconnectStats{Lost: 2, Recovered: 1, Fresh: 1, Attempts: 3, FirstLoss: 50, FirstAttempt: 60, LastBack: 90, Downtime: &Histogram{}}
	first.Downtime.Record(10)
	second := reconnectStats{Lost: 1, NeverBack: 1, Attempts: 4, FirstLoss: 40, FirstAttempt: 0, LastBack: 80}
	var merged reconnectStats
	merged.add(first)
	merged.add(second)
	merged.add(reconnectStats{})
	if merged.Lost != 3 || merged.Recovered != 1 || merged.Fresh != 1 || merged.NeverBack != 1 || merged.Attempts != 7 ||
		merged.FirstLoss != 40 || merged.FirstAttempt != 60 || merged.LastBack != 90 || merged.Downtime.Count() != 1 {
		t.Fatalf("merged = %+v", merged)
	}
}

func TestStormSplitsTickLatencyAtTheKill(t *testing.T) {
	second := int64(time.Second)
	fleet := &fleetResult{Reconnects: reconnectStats{LastBack: 1000 + 4*second + 1}}
	for index := range 8 {
		histogram := &Histogram{}
		histogram.Record(int64(index + 1))
		fleet.TickSeconds = append(fleet.TickSeconds, histogram)
	}
	storm := &stormOutcome{WindowStart: 1000, KilledAt: 1000 + 2*second + 5}
	storm.summarize(fleet)
	// Seconds 0-1 before, 2-4 until the last client is back, 5-7 after.
	if storm.TickBefore.Count() != 2 || storm.TickBefore.Max() != 2 || storm.TickStorm.Count() != 3 || storm.TickStorm.Max() != 5 {
		t.Fatalf("before %d samples (max %d), storm %d (max %d); want 2 (2) and 3 (5)",
			storm.TickBefore.Count(), storm.TickBefore.Max(), storm.TickStorm.Count(), storm.TickStorm.Max())
	}
}

// cutProxy forwards TCP connections to a server and can drop them all at
// once, as a crashed balancer or a network blip does.
type cutProxy struct {
	listener net.Listener
	mu       sync.Mutex
	open     []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &cutProxy{listener: listener}
	t.Cleanup(func() { listener.Close(); proxy.cut() })
	go func() {
		for {
			client, err := listener.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			proxy.mu.Lock()
			proxy.open = append(proxy.open, client, server)
			proxy.mu.Unlock()
			go func() { io.Copy(server, client); server.Close() }()
			go func() { io.Copy(client, server); client.Close() }()
		}
	}()
	return proxy
}

func (p *cutProxy) address() string { return p.listener.Addr().String() }

// cut closes every connection made so far.
func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conn := range p.open {
		conn.Close()
	}
	cut := len(p.open) / 2
	p.open = nil
	return cut
}

// runThroughCut runs clients that follow ticks and orders through a proxy
// that drops every connection in the middle of the window.
func runThroughCut(t *testing.T, recovery time.Duration) *result {
	redisURL := redistest.URL(t, redistest.Required())
	address := startTestGateway(t, redisURL, func(settings *engine.Config) { settings.RecoveryWindow = recovery })
	proxy := newCutProxy(t, address)
	_, port, _ := net.SplitHostPort(proxy.address())
	portNumber, _ := strconv.Atoi(port)
	c := smallConfig(redisURL, portNumber, os.Getpid())
	c.JWTSecret = testSecret
	c.Clients = 20
	c.OrdersRate = 1000
	c.Reconnect = true
	c.ReconnectDelay, c.ReconnectDelayMax = 50*time.Millisecond, 100*time.Millisecond
	c.Drain = time.Second
	go func() {
		time.Sleep(c.Warmup + time.Second)
		t.Logf("cut %d connections", proxy.cut())
	}()
	outcome, err := run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	reconnects := outcome.Fleet.Reconnects
	if reconnects.Lost != c.Clients || reconnects.Recovered+reconnects.Fresh != c.Clients || reconnects.NeverBack != 0 {
		t.Fatalf("reconnects %+v; want every one of %d clients lost and back", reconnects, c.Clients)
	}
	if outcome.Fleet.ForeignMessages != 0 || outcome.Fleet.Orders.Published == 0 {
		t.Fatalf("foreign %d, orders %+v", outcome.Fleet.ForeignMessages, outcome.Fleet.Orders)
	}
	return outcome
}

// TestReconnectRecoversTheSession: through a blip, clients come back with
// their pid and offset and the gateway recovers every session, with every
// order once and in order.
func TestReconnectRecoversTheSession(t *testing.T) {
	outcome := runThroughCut(t, time.Minute)
	reconnects, orders := outcome.Fleet.Reconnects, outcome.Fleet.Orders
	if reconnects.Recovered != outcome.Config.Clients {
		t.Fatalf("reconnects %+v; want every session recovered", reconnects)
	}
	if orders.Delivered != orders.Published || orders.Lost+orders.Duplicates+orders.OutOfOrder+orders.Misrouted != 0 {
		t.Fatalf("orders %+v; want every order exactly once, in order", orders)
	}
}

// TestReconnectFreshSessionsLoseOrders: without recovery every client comes
// back as a fresh session, subscribes again (ticks flow again), and the
// orders addressed to it meanwhile are lost and counted as such.
func TestReconnectFreshSessionsLoseOrders(t *testing.T) {
	outcome := runThroughCut(t, 0)
	reconnects, orders := outcome.Fleet.Reconnects, outcome.Fleet.Orders
	if reconnects.Fresh != outcome.Config.Clients {
		t.Fatalf("reconnects %+v; want every one a fresh session", reconnects)
	}
	if orders.Lost == 0 || orders.Unrecovered != orders.Lost || orders.Delivered+orders.Lost != orders.Published || orders.Duplicates != 0 {
		t.Fatalf("orders %+v; want the orders sent while away lost, and counted", orders)
	}
	if ticks := outcome.Fleet.Ticks; ticks.TailMissed != 0 {
		t.Fatalf("ticks %+v: a fresh session that subscribed again gets ticks to the end", ticks)
	}
}
