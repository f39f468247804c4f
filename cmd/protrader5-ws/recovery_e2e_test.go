package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// TestRecoveryAcrossFailures runs three gateways in streams mode behind a
// proxy, with stock socket.io-clients and orders flowing all along, and
// puts them through a crash (kill -9), a restart, a drain (SIGTERM) and the
// loss of every gateway's Redis connections. Every order must reach its
// user exactly once and in order, every reconnection must be a recovery
// (socket.recovered, the same socket id), and ticks must flow again
// without the clients subscribing anew.
func TestRecoveryAcrossFailures(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	redis := redistest.Start(t) // private: the test kills its clients
	prefix := e2ePrefix(t)
	env := redisEnv(redis.URL(), prefix, "USER_STREAMS=streams", "RECOVERY_WINDOW_MS=60000")
	nodes := make([]*gateway, 3)
	for i := range nodes {
		nodes[i] = startGateway(t, 0, env...)
	}
	for _, node := range nodes {
		node.waitReady(200, 10*time.Second)
	}
	proxy := newSwitchProxy(t, nodes[0].port, nodes[1].port, nodes[2].port)

	const users = 24
	fleet := startFleet(t, proxy, users)
	backend := newBackend(t, redis.URL(), prefix)
	orders := startOrders(t, backend, users, true)
	time.Sleep(time.Second)
	nodes[0].kill() // a crash: nothing saved at the end
	proxy.setAlive(nodes[0].port, false)
	time.Sleep(3 * time.Second)
	nodes[0].start() // a node started after every client's offset
	nodes[0].waitReady(200, 10*time.Second)
	proxy.setAlive(nodes[0].port, true)
	time.Sleep(time.Second)
	proxy.setAlive(nodes[1].port, false)
	nodes[1].stop() // a drain
	time.Sleep(3 * time.Second)
	if killed := killGatewayConnections(t, backend); killed < len(nodes)-1 {
		t.Fatalf("killed %d gateway connections to Redis; want at least one per live gateway", killed)
	}
	time.Sleep(2 * time.Second)
	orders.stop()
	// Let the last orders arrive, then ask the fleet for its report.
	time.Sleep(3 * time.Second)
	total, reconnected := fleet.check(orders.published[:users])
	// The clients of the crashed and the drained node (two in three).
	if reconnected < users/2 {
		t.Errorf("%d of %d clients reconnected; the crash and the drain should have moved two in three", reconnected, users)
	}
	t.Logf("%d orders delivered to %d users (%d reconnected) across a crash, a restart, a drain and a Redis connection loss", total, users, reconnected)
}

// TestRecoveryOnOneNodeWithPubSub drops every client connection of a
// gateway in Pub/Sub mode while orders flow: the clients come back to the
// same gateway and recover there.
func TestRecoveryOnOneNodeWithPubSub(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	url, prefix := redistest.URL(t), e2ePrefix(t)
	node := startGateway(t, 0, redisEnv(url, prefix, "USER_STREAMS=pubsub", "RECOVERY_WINDOW_MS=60000")...)
	node.waitReady(200, 10*time.Second)
	proxy := newSwitchProxy(t, node.port)
	const users = 8
	fleet := startFleet(t, proxy, users)
	orders := startOrders(t, newBackend(t, url, prefix), users, false)
	time.Sleep(time.Second)
	proxy.dropAll() // a network blip
	time.Sleep(2 * time.Second)
	orders.stop()
	time.Sleep(2 * time.Second)
	total, reconnected := fleet.check(orders.published[:users])
	if reconnected != users {
		t.Errorf("%d of %d clients reconnected after the blip", reconnected, users)
	}
	t.Logf("%d orders delivered to %d users across a blip", total, users)
}

// fleet is recovery.js running users stock clients through a proxy.
type fleet struct {
	t     *testing.T
	users int
	stdin io.Closer
	lines *bufio.Scanner
	log   *strings.Builder
}

func startFleet(t *testing.T, proxy *switchProxy, users int) *fleet {
	t.Helper()
	tokens := make([]string, users)
	for i := range tokens {
		tokens[i] = interopToken(t, fmt.Sprintf("r%02d", i), time.Hour)
	}
	command := exec.Command("node", "recovery.js", fmt.Sprintf("http://%s", proxy.address()), strings.Join(tokens, ","))
	command.Dir = interopDirectory(t)
	stdin, _ := command.StdinPipe()
	stdout, _ := command.StdoutPipe()
	f := &fleet{t: t, users: users, stdin: stdin, log: &strings.Builder{}}
	command.Stderr = f.log
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = command.Process.Kill(); _ = command.Wait() })
	f.lines = bufio.NewScanner(stdout)
	f.lines.Buffer(make([]byte, 1<<20), 1<<24)
	readLines(t, f.lines, "ready", 20*time.Second)
	return f
}

// check ends the fleet and checks each client's report: every order of its
// user (published[user] of them) once and in order, every reconnection a
// recovery of the first socket, and ticks since the last one. It returns
// the orders delivered and how many clients reconnected.
func (f *fleet) check(published []atomic.Int64) (total, reconnected int) {
	t := f.t
	t.Helper()
	_ = f.stdin.Close()
	for range f.users {
		if !f.lines.Scan() {
			t.Fatalf("fleet ended early: %v\n%s", f.lines.Err(), f.log.String())
		}
		var report struct {
			User     int   `json:"user"`
			Orders   []int `json:"orders"`
			Connects []struct {
				Recovered bool   `json:"recovered"`
				ID        string `json:"id"`
			} `json:"connects"`
			TicksSinceConnect int `json:"ticksSinceConnect"`
		}
		if err := json.Unmarshal(f.lines.Bytes(), &report); err != nil {
			t.Fatalf("fleet report %q: %v", f.lines.Text(), err)
		}
		want := int(published[report.User].Load())
		total += len(report.Orders)
		for i, seq := range report.Orders {
			if seq != i+1 {
				t.Errorf("user r%02d: order %d has seq %d (of %d published): lost, duplicated or reordered", report.User, i, seq, want)
				break
			}
		}
		if len(report.Orders) != want {
			t.Errorf("user r%02d: %d orders; %d published", report.User, len(report.Orders), want)
		}
		if len(report.Connects) > 1 {
			reconnected++
		}
		for i, connect := range report.Connects {
			if i > 0 && (!connect.Recovered || connect.ID != report.Connects[0].ID) {
				t.Errorf("user r%02d: connection %d recovered=%v id=%s; want a recovery of %s", report.User, i, connect.Recovered, connect.ID, report.Connects[0].ID)
			}
		}
		if report.TicksSinceConnect == 0 {
			t.Errorf("user r%02d: no tick since its last connection", report.User)
		}
	}
	return total, reconnected
}

// orderFeed publishes orders round-robin to users, every 2 ms, with a seq
// per user, and a BTCUSD tick every tenth order.
type orderFeed struct {
	published [64]atomic.Int64
	done      chan struct{}
	finished  sync.WaitGroup
}

func startOrders(t *testing.T, backend *backend, users int, streams bool) *orderFeed {
	feed := &orderFeed{done: make(chan struct{})}
	feed.finished.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-feed.done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			user := n % users
			seq := feed.published[user].Add(1)
			message := fmt.Sprintf(`{"userId":"r%02d","orderId":"o%d","seq":%d}`, user, seq, seq)
			if streams {
				command := backend.client.B().Xadd().Key(backend.prefix+"order:updates").Id("*").FieldValue().FieldValue("data", message).Build()
				if err := backend.client.Do(context.Background(), command).Error(); err != nil {
					t.Errorf("XADD: %v", err)
					return
				}
			} else if backend.publish("order:updates", message) != 1 {
				t.Errorf("order %d of r%02d reached no gateway", seq, user)
				return
			}
			if n%10 == 0 {
				backend.publish("market:ticks", fmt.Sprintf(`{"symbol":"BTCUSD","price":%d}`, 50000+n))
			}
		}
	})
	t.Cleanup(feed.stop)
	return feed
}

func (f *orderFeed) stop() {
	select {
	case <-f.done:
	default:
		close(f.done)
	}
	f.finished.Wait()
}

// killGatewayConnections closes every Redis connection of every gateway
// (CLIENT KILL by id, for the clients named protrader5-ws-*), leaving the
// test's own alone, and returns how many it closed.
func killGatewayConnections(t *testing.T, backend *backend) int {
	t.Helper()
	list, err := backend.client.Do(context.Background(), backend.client.B().ClientList().Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		var id int64
		var name string
		for _, field := range strings.Fields(line) {
			if value, ok := strings.CutPrefix(field, "id="); ok {
				id, _ = strconv.ParseInt(value, 10, 64)
			}
			if value, ok := strings.CutPrefix(field, "name="); ok {
				name = value
			}
		}
		if !strings.HasPrefix(name, "protrader5-ws") {
			continue
		}
		if err := backend.client.Do(context.Background(), backend.client.B().ClientKill().Id(id).Build()).Error(); err == nil {
			killed++
		}
	}
	return killed
}

// kill ends the process at once (SIGKILL), as a crash would.
func (g *gateway) kill() {
	_ = g.command.Process.Kill()
	<-g.exited
}

// switchProxy forwards each new connection to the next live gateway, as a
// load balancer would: connections to a gateway taken out stay as they are
// until that gateway closes them.
type switchProxy struct {
	t        *testing.T
	listener net.Listener
	mu       sync.Mutex
	ports    []int
	alive    map[int]bool
	next     int
	conns    sync.Map // net.Conn -> true: every client connection open
}

func newSwitchProxy(t *testing.T, ports ...int) *switchProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{t: t, listener: listener, ports: ports, alive: map[int]bool{}}
	for _, port := range ports {
		p.alive[port] = true
	}
	var open sync.WaitGroup
	conns := &p.conns
	go func() {
		for {
			client, err := listener.Accept()
			if err != nil {
				return
			}
			conns.Store(client, true)
			open.Go(func() {
				defer conns.Delete(client)
				p.forward(client)
			})
		}
	}()
	t.Cleanup(func() {
		listener.Close()
		conns.Range(func(key, _ any) bool { key.(net.Conn).Close(); return true })
		open.Wait()
	})
	return p
}

func (p *switchProxy) address() string { return p.listener.Addr().String() }

// dropAll closes every connection the proxy carries, as a network blip
// would; clients reconnect through it.
func (p *switchProxy) dropAll() {
	p.conns.Range(func(key, _ any) bool { key.(net.Conn).Close(); return true })
}

func (p *switchProxy) setAlive(port int, alive bool) {
	p.mu.Lock()
	p.alive[port] = alive
	p.mu.Unlock()
}

// forward dials the next live gateway and copies both ways until either
// side ends.
func (p *switchProxy) forward(client net.Conn) {
	defer client.Close()
	var upstream net.Conn
	for range len(p.ports) {
		p.mu.Lock()
		port := p.ports[p.next%len(p.ports)]
		p.next++
		alive := p.alive[port]
		p.mu.Unlock()
		if !alive {
			continue
		}
		if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			upstream = conn
			break
		}
	}
	if upstream == nil {
		return
	}
	defer upstream.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, upstream); done <- struct{}{} }()
	<-done
}
