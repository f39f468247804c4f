package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// orderClient is a WebSocket-only Socket.IO client subscribed to its user's
// orders that reconnects through the balancer whenever its connection ends,
// as socket.io-client does.
type orderClient struct {
	user   string
	token  string
	orders chan string // the data of every order:update received

	mu        sync.Mutex
	connected bool            // guarded by mu
	connects  int             // guarded by mu
	closes    []ws.StatusCode // close codes seen, guarded by mu
}

func (c *orderClient) state() (connected bool, connects int, closes []ws.StatusCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected, c.connects, append([]ws.StatusCode(nil), c.closes...)
}

func (c *orderClient) deliver(packet string) {
	if name, payload, _, ok := enginetest.ParseEvent(packet); ok && name == "order:update" {
		c.orders <- payload
	}
}

// run connects, subscribes and reads until ctx ends, reconnecting after
// every loss with a short pause.
func (c *orderClient) run(ctx context.Context, balancer string) {
	for ctx.Err() == nil {
		c.session(ctx, balancer)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *orderClient) session(ctx context.Context, balancer string) {
	dialContext, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := enginetest.Dial(dialContext, balancer, nil)
	cancel()
	if err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	if answer, err := conn.Connect(c.token, 5*time.Second); err != nil || !strings.HasPrefix(answer, `40{"sid":`) {
		return
	}
	conn.Unmatched = c.deliver
	ack, err := conn.EmitAck(1, "subscribe:orders", "", 5*time.Second)
	if err != nil || !strings.Contains(ack, `"ok":true`) {
		return
	}
	c.mu.Lock()
	c.connected = true
	c.connects++
	c.mu.Unlock()
	for {
		packet, err := conn.Next(0)
		if err != nil {
			c.mu.Lock()
			c.connected = false
			c.closes = append(c.closes, enginetest.CloseStatus(err))
			c.mu.Unlock()
			return
		}
		c.deliver(packet)
	}
}

// expectOrders checks that every client receives exactly the order
// published for its user, and nothing else.
func expectOrders(t *testing.T, top *topology, clients []*orderClient, orderID string) {
	t.Helper()
	for _, client := range clients {
		top.publish(t, "order:updates", fmt.Sprintf(
			`{"orderId":%q,"userId":%q,"symbol":"BTCUSD","type":"LIMIT","side":"BUY","quantity":0.1,"price":50000,"status":"FILLED","filledQuantity":0.1,"remainingQuantity":0,"averagePrice":50000,"timestamp":1700000000000}`,
			orderID+"-"+client.user, client.user))
	}
	for _, client := range clients {
		select {
		case order := <-client.orders:
			var fields struct{ OrderID, UserID string }
			if err := json.Unmarshal([]byte(order), &fields); err != nil || fields.UserID != client.user || fields.OrderID != orderID+"-"+client.user {
				t.Errorf("client %s got order %s; want %s-%s", client.user, order, orderID, client.user)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("client %s: order %s did not arrive", client.user, orderID)
		}
	}
	// A message published once reaches its socket once, whichever gateway
	// holds it (docs/ingest.md#several-nodes).
	time.Sleep(300 * time.Millisecond)
	for _, client := range clients {
		select {
		case order := <-client.orders:
			t.Errorf("client %s got a second order %s", client.user, order)
		default:
		}
	}
}

func waitConnected(t *testing.T, clients []*orderClient, timeout time.Duration) {
	t.Helper()
	waitFor(t, "every client connected and subscribed", timeout, func() error {
		for _, client := range clients {
			if connected, _, _ := client.state(); !connected {
				return fmt.Errorf("client %s is not connected", client.user)
			}
		}
		return nil
	})
}

// socketsPerNode waits until the nodes' protrader5_sockets gauges add up to
// want and returns them.
func socketsPerNode(t *testing.T, nodes []*gatewayNode, want int) []int {
	t.Helper()
	var counts []int
	waitFor(t, "sockets on the nodes", 5*time.Second, func() error {
		counts = make([]int, len(nodes))
		total := 0
		for index, node := range nodes {
			count, err := node.sockets()
			if err != nil {
				return err
			}
			counts[index], total = count, total+count
		}
		if total != want {
			return fmt.Errorf("the nodes hold %v sockets; want %d in all", counts, want)
		}
		return nil
	})
	return counts
}

func TestTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis, three gateways and haproxy; skipped with -short")
	}
	top := startTopology(t)
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	t.Cleanup(func() { cancel(); running.Wait() })

	const clientCount = 9
	clients := make([]*orderClient, clientCount)
	for index := range clients {
		user := "u" + strconv.Itoa(index)
		clients[index] = &orderClient{user: user, token: topologyToken(t, user), orders: make(chan string, 16)}
		running.Go(func() { clients[index].run(ctx, top.balancer) })
	}
	waitConnected(t, clients, 15*time.Second)

	t.Run("WebSocketsSpreadOverTheNodes", func(t *testing.T) {
		counts := socketsPerNode(t, top.nodes, clientCount)
		for index, count := range counts {
			if count == 0 {
				t.Errorf("%s holds no socket (%v): the balancer does not spread", top.nodes[index].name, counts)
			}
		}
	})

	t.Run("MetricsOnlyOnTheMetricsPort", func(t *testing.T) {
		for _, node := range top.nodes {
			if status, body, err := httpGet(node.metricsURL()); err != nil || status != http.StatusOK || !strings.Contains(body, "protrader5_sockets ") {
				t.Errorf("%s GET /metrics on METRICS_PORT = %d %v; want 200 with protrader5_sockets", node.name, status, err)
			}
			if status, _, err := httpGet(node.url("/metrics")); err != nil || status != http.StatusNotFound {
				t.Errorf("%s GET /metrics on PORT = %d %v; want 404", node.name, status, err)
			}
		}
		if status, _, err := httpGet("http://" + top.balancer + "/metrics"); err != nil || status != http.StatusNotFound {
			t.Errorf("GET /metrics through the balancer = %d %v; want 404", status, err)
		}
	})

	t.Run("OrderReachesItsUserOnAnyNode", func(t *testing.T) {
		expectOrders(t, top, clients, "o1")
	})

	t.Run("PollingIsSticky", func(t *testing.T) {
		testPollingSticky(t, top)
	})

	t.Run("SIGTERMMovesClientsToTheOtherNodes", func(t *testing.T) {
		counts := socketsPerNode(t, top.nodes, clientCount)
		victim := 0
		for index, count := range counts {
			if count > counts[victim] {
				victim = index
			}
		}
		node := top.nodes[victim]
		moved := counts[victim]
		before := make([]int, len(clients))
		for index, client := range clients {
			_, before[index], _ = client.state()
		}
		drain := 10 * time.Second
		if value, err := strconv.Atoi(composeEnvironment(t, composeGateways(t)[node.name])["DRAIN_TIMEOUT"]); err == nil {
			drain = time.Duration(value) * time.Millisecond
		}
		start := time.Now()
		if err := node.process.command.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-node.process.exited:
			if node.process.err != nil {
				t.Errorf("%s exited with %v after SIGTERM; want 0", node.name, node.process.err)
			}
			t.Logf("%s drained %d sockets and exited in %v", node.name, moved, time.Since(start).Round(time.Millisecond))
		case <-time.After(drain + 5*time.Second):
			t.Fatalf("%s did not exit within DRAIN_TIMEOUT %v", node.name, drain)
		}

		remaining := append(append([]*gatewayNode(nil), top.nodes[:victim]...), top.nodes[victim+1:]...)
		waitConnected(t, clients, 15*time.Second)
		socketsPerNode(t, remaining, clientCount)
		reconnected := 0
		for index, client := range clients {
			_, connects, closes := client.state()
			if connects > before[index] {
				reconnected++
				if last := closes[len(closes)-1]; last != ws.StatusGoingAway {
					t.Errorf("client %s was closed with %d; want 1001 going away", client.user, last)
				}
			}
		}
		if reconnected != moved {
			t.Errorf("%d clients reconnected; %s held %d", reconnected, node.name, moved)
		}
		expectOrders(t, top, clients, "o2")
	})
}

// testPollingSticky opens long-polling sessions through the balancer: the
// handshake must set the sticky cookie, and the session's next requests,
// which carry only the sid and the cookie, must reach the node that knows
// the sid.
func testPollingSticky(t *testing.T, top *topology) {
	client := &http.Client{Timeout: 5 * time.Second}
	base := "http://" + top.balancer + "/socket.io/?EIO=4&transport=polling"
	servers := map[string]bool{}
	for _, node := range top.nodes {
		servers[node.name] = true
	}
	for session := range 6 {
		response, err := client.Get(base)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(response.Body)
		response.Body.Close()
		if response.StatusCode == http.StatusBadRequest && string(body) == `{"code":0,"message":"Transport unknown"}` {
			t.Skip("polling transport not in this build")
		}
		if response.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "0{") {
			t.Fatalf("polling handshake: %d %q; want 200 and the open packet 0{...}", response.StatusCode, body)
		}
		var open struct{ SID string }
		if err := json.Unmarshal(body[1:], &open); err != nil || open.SID == "" {
			t.Fatalf("open packet %q: no sid (%v)", body, err)
		}
		var sticky *http.Cookie
		for _, cookie := range response.Cookies() {
			if cookie.Name == "pt5_node" {
				sticky = cookie
			}
		}
		if sticky == nil || !servers[sticky.Value] {
			t.Fatalf("session %d: the handshake set no pt5_node cookie naming a gateway (Set-Cookie %q)", session, response.Header.Values("Set-Cookie"))
		}
		url := base + "&sid=" + open.SID
		request := func(method, body string) (int, string) {
			t.Helper()
			request, _ := http.NewRequest(method, url, strings.NewReader(body))
			request.AddCookie(sticky)
			if method == http.MethodPost {
				request.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			}
			response, err := client.Do(request)
			if err != nil {
				t.Fatalf("%s %s: %v", method, url, err)
			}
			defer response.Body.Close()
			data, _ := io.ReadAll(response.Body)
			return response.StatusCode, string(data)
		}
		if status, answer := request(http.MethodPost, `40{"token":"`+topologyToken(t, "poller")+`"}`); status != http.StatusOK {
			t.Fatalf("session %d on %s: POST CONNECT = %d %q; the cookie did not keep the session on its node", session, sticky.Value, status, answer)
		}
		if status, answer := request(http.MethodGet, ""); status != http.StatusOK || !strings.Contains(answer, `40{"sid":`) {
			t.Fatalf("session %d on %s: GET = %d %q; want the CONNECT answer 40{\"sid\":...}", session, sticky.Value, status, answer)
		}
		request(http.MethodPost, "1") // Engine.IO close
	}
}
