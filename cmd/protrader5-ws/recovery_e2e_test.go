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
	tokens := make([]string, users)
	for i := range tokens {
		tokens[i] = interopToken(t, fmt.Sprintf("r%02d", i), time.Hour)
	}
	fleet := exec.Command("node", "recovery.js", fmt.Sprintf("http://%s", proxy.address()), strings.Join(tokens, ","))
	fleet.Dir = interopDirectory(t)
	stdin, _ := fleet.StdinPipe()
	stdout, _ := fleet.StdoutPipe()
	var stderr strings.Builder
	fleet.Stderr = &stderr
	if err := fleet.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fleet.Process.Kill(); _ = fleet.Wait() })
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<24)
	readLines(t, lines, "ready", 20*time.Second)

	backend := newBackend(t, redis.URL(), prefix)
	var published [users]atomic.Int64
	stop := make(chan struct{})
	var publishing sync.WaitGroup
	publishing.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			user := n % users
			seq := published[user].Add(1)
			message := fmt.Sprintf(`{"userId":"r%02d","orderId":"o%d","seq":%d}`, user, seq, seq)
			command := backend.client.B().Xadd().Key(prefix+"order:updates").Id("*").FieldValue().FieldValue("data", message).Build()
			if err := backend.client.Do(context.Background(), command).Error(); err != nil {
				t.Errorf("XADD: %v", err)
				return
			}
			if n%10 == 0 {
				backend.publish("market:ticks", fmt.Sprintf(`{"symbol":"BTCUSD","price":%d}`, 50000+n))
			}
		}
	})

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
	close(stop)
	publishing.Wait()
	// Let the last orders arrive, then ask the fleet for its report.
	time.Sleep(3 * time.Second)
	_ = stdin.Close()

	total := 0
	for range users {
		if !lines.Scan() {
			t.Fatalf("fleet ended early: %v\n%s", lines.Err(), stderr.String())
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
		if err := json.Unmarshal(lines.Bytes(), &report); err != nil {
			t.Fatalf("fleet report %q: %v", lines.Text(), err)
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
		for i, connect := range report.Connects {
			if i > 0 && (!connect.Recovered || connect.ID != report.Connects[0].ID) {
				t.Errorf("user r%02d: connection %d recovered=%v id=%s; want a recovery of %s", report.User, i, connect.Recovered, connect.ID, report.Connects[0].ID)
			}
		}
		if report.TicksSinceConnect == 0 {
			t.Errorf("user r%02d: no tick since its last connection", report.User)
		}
	}
	t.Logf("%d orders delivered to %d users across a crash, a restart, a drain and a Redis connection loss", total, users)
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
	var conns sync.Map
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
