package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/protrader5/ws-gateway/wire"
)

// msgpackClientDir holds the npm project with the stock socket.io-client
// and socket.io-msgpack-parser.
const msgpackClientDir = "testdata/msgpack"

var msgpackNpm = struct {
	once sync.Once
	err  error
	log  []byte
}{}

// requireMsgpackClient is requireNodeClient for the msgpack project.
func requireMsgpackClient(t *testing.T) string {
	t.Helper()
	node := requireNodeClient(t)
	msgpackNpm.once.Do(func() {
		if _, err := os.Stat(filepath.Join(msgpackClientDir, "node_modules", "socket.io-msgpack-parser", "index.js")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		command := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		command.Dir = msgpackClientDir
		msgpackNpm.log, msgpackNpm.err = command.CombinedOutput()
	})
	if msgpackNpm.err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", msgpackClientDir, msgpackNpm.err, msgpackNpm.log)
	}
	return node
}

// TestMsgpackNodeClient runs the stock client with socket.io-msgpack-parser
// over each transport: a refused token, connect with auth, subscriptions
// with acks, a tick, an order and a notification, and two refusals (in an
// ack, and as an "error" event).
func TestMsgpackNodeClient(t *testing.T) {
	node := requireMsgpackClient(t)
	for _, mode := range []string{"websocket", "polling", "default"} {
		t.Run(mode, func(t *testing.T) {
			e := startEngine(t, Config{})
			stop := tickUntil(e, 20*time.Millisecond)
			defer stop()
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			user := "msgpack-" + mode
			script, _ := filepath.Abs(filepath.Join(msgpackClientDir, "client.js"))
			command := exec.CommandContext(ctx, node, script, "http://"+e.Addr().String(), testToken(t, user, time.Hour), mode, user)
			command.Dir = msgpackClientDir
			command.Stderr = os.Stderr
			stdout, err := command.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := command.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = command.Wait() }()
			lines := bufio.NewScanner(stdout)
			var output []byte
			for lines.Scan() {
				line := lines.Bytes()
				var ready struct {
					Ready string `json:"ready"`
				}
				if json.Unmarshal(line, &ready) == nil && ready.Ready != "" {
					e.PublishUser(StreamOrders, ready.Ready, []byte(`{"orderId":"o-1","userId":"`+ready.Ready+`","price":64000.5,"qty":2}`))
					e.PublishUser(StreamNotifications, ready.Ready, []byte(`{"id":"n-1","text":"filled \u2713","at":1700000000000}`))
					continue
				}
				output = append([]byte(nil), line...)
				break
			}
			var result struct {
				Failure        string `json:"failure"`
				FirstTransport string `json:"firstTransport"`
				Transport      string `json:"transport"`
				Refused        struct {
					Message string `json:"message"`
					Data    struct {
						Code string `json:"code"`
					} `json:"data"`
				} `json:"refused"`
				MarketAck        json.RawMessage `json:"marketAck"`
				OrdersAck        json.RawMessage `json:"ordersAck"`
				NotificationsAck json.RawMessage `json:"notificationsAck"`
				Tick             struct {
					Symbol string  `json:"symbol"`
					Price  float64 `json:"price"`
				} `json:"tick"`
				Order        json.RawMessage `json:"order"`
				Notification json.RawMessage `json:"notification"`
				InvalidAck   struct {
					OK    bool `json:"ok"`
					Error struct {
						Code string `json:"code"`
					} `json:"error"`
				} `json:"invalidAck"`
				ErrorEvent struct {
					Code    string   `json:"code"`
					Event   string   `json:"event"`
					Symbols []string `json:"symbols"`
				} `json:"errorEvent"`
			}
			if err := json.Unmarshal(output, &result); err != nil {
				t.Fatalf("client output %q: %v", output, err)
			}
			if result.Failure != "" {
				t.Fatalf("client failed: %s (%s)", result.Failure, output)
			}
			want := map[string]string{"websocket": "websocket", "polling": "polling", "default": "websocket"}[mode]
			switch {
			case result.Refused.Message != "Authentication failed" || result.Refused.Data.Code != "TOKEN_INVALID":
				t.Fatalf("bad token: %s", output)
			case string(result.MarketAck) != `{"ok":true,"symbols":["BTCUSD"]}` || string(result.OrdersAck) != `{"ok":true}` || string(result.NotificationsAck) != `{"ok":true}`:
				t.Fatalf("acks: %s", output)
			case result.Transport != want || result.Tick.Symbol != "BTCUSD" || result.Tick.Price < 1:
				t.Fatalf("tick: %s", output)
			case string(result.Order) != `{"orderId":"o-1","userId":"`+user+`","price":64000.5,"qty":2}`:
				t.Fatalf("order: %s", output)
			case string(result.Notification) != `{"id":"n-1","text":"filled ✓","at":1700000000000}`:
				t.Fatalf("notification: %s", output)
			case result.InvalidAck.OK || result.InvalidAck.Error.Code != "INVALID_PAYLOAD":
				t.Fatalf("refusal in an ack: %s", output)
			case result.ErrorEvent.Code != "INVALID_SYMBOL" || result.ErrorEvent.Event != "subscribe:market" || len(result.ErrorEvent.Symbols) != 1:
				t.Fatalf("refusal as an error event: %s", output)
			}
			if mode == "default" && result.FirstTransport != "polling" {
				t.Fatalf("default options started on %s", result.FirstTransport)
			}
		})
	}
}

// TestMsgpackNodeClientRecovers is TestNodeClientRecovers with the msgpack
// parser: the CONNECT carrying {pid, offset} and the offsets as the last
// argument of each order survive the translation.
func TestMsgpackNodeClientRecovers(t *testing.T) {
	node := requireMsgpackClient(t)
	for _, mode := range []string{"websocket", "default"} {
		t.Run(mode, func(t *testing.T) {
			e := startEngine(t, recoveryConfig())
			stopTicks := tickUntil(e, 20*time.Millisecond)
			defer stopTicks()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			script, _ := filepath.Abs(filepath.Join(msgpackClientDir, "recover.js"))
			command := exec.CommandContext(ctx, node, script, "http://"+e.Addr().String(), testToken(t, "traveller", time.Hour), mode, "60")
			command.Dir = msgpackClientDir
			command.Stderr = os.Stderr
			stdout, err := command.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := command.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = command.Wait() }()
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || lines.Text() != `{"ready":true}` {
				t.Fatalf("client did not get ready: %q", lines.Text())
			}
			// Orders every 5 ms, through the client's cut after the tenth,
			// until it has enough.
			stopOrders := make(chan struct{})
			ordersDone := make(chan struct{})
			go func() {
				defer close(ordersDone)
				for seq := 1; ; seq++ {
					select {
					case <-stopOrders:
						return
					case <-time.After(5 * time.Millisecond):
					}
					e.PublishUser(StreamOrders, "traveller", []byte(fmt.Sprintf(`{"userId":"traveller","seq":%d}`, seq)))
				}
			}()
			defer func() { close(stopOrders); <-ordersDone }()
			if !lines.Scan() {
				t.Fatalf("no result from recover.js: %v", lines.Err())
			}
			output := lines.Bytes()
			result := checkRecoveredClient(t, output)
			if len(result.Orders) < 60 || result.Orders[0] != 1 {
				t.Fatalf("orders %v; want 1 to 60 at least", result.Orders)
			}
			for _, kind := range result.Offsets {
				if kind != "string" {
					t.Fatalf("offset arguments %v; want strings", result.Offsets)
				}
			}
		})
	}
}

// TestMixedNodeClients runs the stock client with the default parser and
// with the msgpack parser at once, on the same symbol and engine: each
// decodes its own frames.
func TestMixedNodeClients(t *testing.T) {
	node := requireMsgpackClient(t)
	e := startEngine(t, Config{})
	stop := tickUntil(e, 20*time.Millisecond)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	run := func(dir string, arguments ...string) ([]byte, error) {
		script, _ := filepath.Abs(filepath.Join(dir, "client.js"))
		command := exec.CommandContext(ctx, node, append([]string{script, "http://" + e.Addr().String()}, arguments...)...)
		command.Dir = dir
		return command.Output()
	}
	var wait sync.WaitGroup
	var jsonOutput, msgpackOutput []byte
	var jsonErr error
	wait.Add(1)
	go func() {
		defer wait.Done()
		jsonOutput, jsonErr = run(clientDir, testToken(t, "json-user", time.Hour), "default")
	}()
	// The msgpack client asks for its order and notification on the way.
	script, _ := filepath.Abs(filepath.Join(msgpackClientDir, "client.js"))
	command := exec.CommandContext(ctx, node, script, "http://"+e.Addr().String(), testToken(t, "mp-user", time.Hour), "websocket", "mp-user")
	command.Dir = msgpackClientDir
	stdout, err := command.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if strings.Contains(lines.Text(), `"ready"`) {
			e.PublishUser(StreamOrders, "mp-user", []byte(`{"orderId":"o"}`))
			e.PublishUser(StreamNotifications, "mp-user", []byte(`{"id":"n"}`))
			continue
		}
		msgpackOutput = append([]byte(nil), lines.Bytes()...)
		break
	}
	_ = command.Wait()
	wait.Wait()
	if jsonErr != nil {
		t.Fatalf("JSON client: %v", jsonErr)
	}
	for name, output := range map[string][]byte{"JSON": jsonOutput, "msgpack": msgpackOutput} {
		var result struct {
			Failure string `json:"failure"`
			Tick    struct {
				Symbol string `json:"symbol"`
			} `json:"tick"`
		}
		if err := json.Unmarshal(output, &result); err != nil || result.Failure != "" || result.Tick.Symbol != "BTCUSD" {
			t.Fatalf("%s client: %s (%v)", name, output, err)
		}
	}
}

// msgpackTestClient speaks the msgpack parser over a raw WebSocket.
type msgpackTestClient struct{ *testClient }

// sendPacket sends the Socket.IO packet text (without the Engine.IO '4')
// in its msgpack form, as a binary frame.
func (c msgpackTestClient) sendPacket(text string) {
	c.t.Helper()
	encoded, err := wire.AppendMsgpackSocketPacket(nil, []byte(text))
	if err != nil {
		c.t.Fatalf("encode %s: %v", text, err)
	}
	if err := wsutil.WriteClientBinary(c.ReadWriter(), encoded); err != nil {
		c.t.Fatal(err)
	}
}

// nextPacket returns the next msgpack packet, answering pings.
func (c msgpackTestClient) nextPacket() map[string]any {
	c.t.Helper()
	_ = c.Conn().SetReadDeadline(time.Now().Add(clientTimeout))
	for {
		data, op, err := wsutil.ReadServerData(c.ReadWriter())
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if op == ws.OpText {
			if string(data) == "2" {
				c.send("3")
			}
			continue
		}
		var packet map[string]any
		if err := msgpack.Unmarshal(data, &packet); err != nil {
			c.t.Fatalf("frame %x: %v", data, err)
		}
		return packet
	}
}

// TestMsgpackClientRawWebSocket drives the msgpack parser's packets over a
// raw WebSocket beside a JSON client on the same symbol, and checks the
// detection rule's edges: a text packet after a binary first one, and a
// binary first packet that is not msgpack, close the connection.
func TestMsgpackClientRawWebSocket(t *testing.T) {
	e := startEngine(t, Config{})
	client := msgpackTestClient{dialClient(t, e, nil)}
	client.sendPacket(`0{"token":"` + testToken(t, "mp", time.Hour) + `"}`)
	if answer := client.nextPacket(); answer["type"] != int8(0) || answer["nsp"] != "/" {
		t.Fatalf("CONNECT answer %v", answer)
	}
	client.sendPacket(`21["subscribe:market",{"symbols":["ethusd"]}]`)
	ack := client.nextPacket()
	if ack["type"] != int8(wire.SocketAck) || ack["id"] != int8(1) || asJSON(t, ack["data"]) != `[{"ok":true,"symbols":["ETHUSD"]}]` {
		t.Fatalf("ack %v", ack)
	}
	jsonClient := dialClient(t, e, nil)
	jsonClient.connect(testToken(t, "js", time.Hour))
	if ack := jsonClient.emitAck(1, "subscribe:market", `{"symbols":["ETHUSD"]}`); ack != `{"ok":true,"symbols":["ETHUSD"]}` {
		t.Fatalf("JSON ack %s", ack)
	}
	tick := `{"symbol":"ETHUSD","bid":3000.25,"ask":3001,"ts":1700000000000}`
	e.PublishTick("ETHUSD", []byte(tick))
	if got := jsonClient.expectEvent("market:data"); got != tick {
		t.Fatalf("JSON client got %s", got)
	}
	if event := client.nextPacket(); asJSON(t, event["data"]) != canonicalJSON(t, `["market:data",`+tick+`]`) {
		t.Fatalf("msgpack client got %v", event)
	}
	client.sendPacket(`22["subscribe:market",42]`)
	if refusal := client.nextPacket(); !strings.Contains(asJSON(t, refusal["data"]), `"code":"INVALID_PAYLOAD"`) {
		t.Fatalf("refusal %v", refusal)
	}
	// A text packet from a msgpack client is a protocol error.
	client.send(`42["subscribe:orders"]`)
	waitFor(t, "the close", func() bool { return e.metrics.disconnects[reasonProtocolError].Load() == 1 })

	// A binary first packet that is not msgpack.
	garbage := dialClient(t, e, nil)
	if err := wsutil.WriteClientBinary(garbage.ReadWriter(), []byte{0xc1, 0x00}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the close", func() bool { return e.metrics.disconnects[reasonProtocolError].Load() == 2 })
	if jsonClient.emitAck(2, "subscribe:orders", `{}`) != `{"ok":true}` {
		t.Fatal("the JSON client suffered")
	}
}
