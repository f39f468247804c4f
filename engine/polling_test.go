package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// pollClient is the shared polling client with the engine's own paths.
type pollClient struct{ *enginetest.Polling }

func pollRequest(t testing.TB, method, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	return enginetest.Request(t, method, url, body, header)
}

// openPolling makes the polling handshake.
func openPolling(t testing.TB, e *Engine, path string) *pollClient {
	t.Helper()
	if path == "" {
		path = "/socket.io/"
	}
	return &pollClient{enginetest.OpenPolling(t, "http://"+e.Addr().String()+path)}
}

func (p *pollClient) url() string                       { return p.URL() }
func (p *pollClient) get() (int, string)                { p.T.Helper(); return p.Get() }
func (p *pollClient) post(payload string) (int, string) { p.T.Helper(); return p.Post(payload) }
func (p *pollClient) packets() []string                 { p.T.Helper(); return p.Packets() }

// expect polls until a packet with prefix arrives and returns it.
func (p *pollClient) expect(prefix string) string {
	p.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, packet := range p.packets() {
			if strings.HasPrefix(packet, prefix) {
				return packet
			}
		}
	}
	p.T.Fatalf("no packet starting %q", prefix)
	return ""
}

func TestPollingHandshakeHeaders(t *testing.T) {
	e := startEngine(t, Config{})
	response, body := pollRequest(t, http.MethodGet, "http://"+e.Addr().String()+"/socket.io/?EIO=4&transport=polling", "", nil)
	if got := response.Header.Get("Content-Type"); got != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := response.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	var open map[string]any
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	if upgrades, _ := json.Marshal(open["upgrades"]); string(upgrades) != `["websocket"]` {
		t.Errorf("upgrades = %s", upgrades)
	}
	if open["pingInterval"] != float64(25000) || open["pingTimeout"] != float64(20000) || open["maxPayload"] != float64(1e6) {
		t.Errorf("open = %v", open)
	}
}

func TestPollingConnectSubscribeBatch(t *testing.T) {
	e := startEngine(t, Config{})
	client := openPolling(t, e, "")
	if status, body := client.post(`40{"token":"` + testToken(t, "u1", time.Hour) + `"}`); status != 200 || body != "ok" {
		t.Fatalf("POST = %d %q", status, body)
	}
	if answer := client.expect("40"); !strings.HasPrefix(answer, `40{"sid":"`) {
		t.Fatalf("CONNECT answer = %q", answer)
	}
	client.post(`421["subscribe:market",{"symbols":["BTCUSD","ETHUSD"]}]`)
	if ack := client.expect("431"); ack != `431[{"ok":true,"symbols":["BTCUSD","ETHUSD"]}]` {
		t.Fatalf("ack = %q", ack)
	}
	// Ticks published while no GET waits arrive in one payload, the same
	// prebuilt packets, in order per symbol.
	e.PublishTick("BTCUSD", []byte(`{"symbol":"BTCUSD","price":1}`))
	e.PublishTick("ETHUSD", []byte(`{"symbol":"ETHUSD","price":2}`))
	e.PublishTick("BTCUSD", []byte(`{"symbol":"BTCUSD","price":3}`))
	time.Sleep(50 * time.Millisecond) // let the fanout workers mark the session
	status, body := client.get()
	want := "42[\"market:data\",{\"symbol\":\"BTCUSD\",\"price\":1}]\x1e42[\"market:data\",{\"symbol\":\"BTCUSD\",\"price\":3}]\x1e42[\"market:data\",{\"symbol\":\"ETHUSD\",\"price\":2}]"
	if status != 200 || body != want {
		t.Fatalf("poll = %d %q; want %q", status, body, want)
	}
}

func TestPollingHeartbeat(t *testing.T) {
	e := startEngine(t, Config{PingInterval: 100 * time.Millisecond, PingTimeout: 150 * time.Millisecond})
	client := openPolling(t, e, "")
	for range 3 {
		start := time.Now()
		if status, body := client.get(); status != 200 || body != "2" {
			t.Fatalf("poll = %d %q; want the ping", status, body)
		}
		if waited := time.Since(start); waited < 50*time.Millisecond {
			t.Fatalf("ping after %v; want about the ping interval", waited)
		}
		if status, body := client.post("3"); status != 200 || body != "ok" {
			t.Fatalf("pong POST = %d %q", status, body)
		}
	}
	// No pong: the session ends PingInterval+PingTimeout later.
	time.Sleep(300 * time.Millisecond)
	if status, body := client.get(); status != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("poll after ping timeout = %d %q", status, body)
	}
}

func TestPollingDuplicateGetClosesSession(t *testing.T) {
	e := startEngine(t, Config{})
	client := openPolling(t, e, "")
	first := make(chan string, 1)
	go func() {
		_, body := client.get()
		first <- body
	}()
	waitForWaiter(t, e, client.SID)
	if status, body := client.get(); status != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("second GET = %d %q", status, body)
	}
	if body := <-first; body != "1" {
		t.Fatalf("first GET = %q; want the close packet", body)
	}
	if status, _ := client.get(); status != 400 {
		t.Fatalf("GET after close = %d; want 400", status)
	}
}

func TestPollingClientCloseAnswersNoop(t *testing.T) {
	e := startEngine(t, Config{})
	client := openPolling(t, e, "")
	first := make(chan string, 1)
	go func() {
		_, body := client.get()
		first <- body
	}()
	waitForWaiter(t, e, client.SID)
	if status, body := client.post("1"); status != 200 || body != "ok" {
		t.Fatalf("close POST = %d %q", status, body)
	}
	if body := <-first; body != "6" {
		t.Fatalf("pending GET = %q; want noop", body)
	}
	if status, body := client.get(); status != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("GET after close = %d %q", status, body)
	}
}

func TestPollingPayloadLimits(t *testing.T) {
	e := startEngine(t, Config{MaxPayload: 64})
	client := openPolling(t, e, "")
	if status, _ := client.post("4" + strings.Repeat("x", 100)); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized POST = %d; want 413", status)
	}
	if status, _ := client.get(); status != 400 {
		t.Fatalf("GET after an oversized POST = %d; want 400", status)
	}
	for _, bad := range []string{"abc", "", "4a\x1e\x1e4b", "b!!!", "9"} {
		client := openPolling(t, e, "")
		if status, body := client.post(bad); status != 400 || body != `{"code":3,"message":"Bad request"}` {
			t.Errorf("POST %q = %d %q; want 400 Bad request", bad, status, body)
		}
		if status, _ := client.get(); status != 400 {
			t.Errorf("GET after POST %q = %d; want the session closed", bad, status)
		}
	}
}

func TestPollingCORS(t *testing.T) {
	e := startEngine(t, Config{AllowOrigin: func(origin string) bool { return origin == "https://app.example" }})
	url := "http://" + e.Addr().String() + "/socket.io/?EIO=4&transport=polling"
	response, _ := pollRequest(t, http.MethodOptions, url, "", map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
	})
	if response.StatusCode != 204 || response.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		response.Header.Get("Access-Control-Allow-Credentials") != "true" || response.Header.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Fatalf("preflight = %d %v", response.StatusCode, response.Header)
	}
	response, body := pollRequest(t, http.MethodGet, url, "", map[string]string{"Origin": "https://app.example"})
	if response.StatusCode != 200 || response.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake = %d %v %q", response.StatusCode, response.Header, body)
	}
	response, body = pollRequest(t, http.MethodGet, url, "", map[string]string{"Origin": "https://evil.example"})
	if response.StatusCode != 403 || body != `{"code":4,"message":"Forbidden"}` {
		t.Fatalf("disallowed origin = %d %q", response.StatusCode, body)
	}
}

// waitForWaiter waits until the session sid has a GET waiting.
func waitForWaiter(t testing.TB, e *Engine, sid string) {
	t.Helper()
	waitFor(t, "a waiting GET", func() bool {
		c := e.session(sid)
		if c == nil {
			return false
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.polling.waiter != nil
	})
}

// dialUpgrade opens the WebSocket of an upgrade for sid; no open packet
// comes on it.
func dialUpgrade(t testing.TB, e *Engine, sid string) *testClient {
	t.Helper()
	return dialURL(t, ws.Dialer{Timeout: 5 * time.Second}, "ws://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket&sid="+sid)
}

func TestUpgradeKeepsSession(t *testing.T) {
	e := startEngine(t, Config{})
	client := openPolling(t, e, "")
	client.post(`40{"token":"` + testToken(t, "u1", time.Hour) + `"}`)
	client.expect("40")
	client.post(`421["subscribe:market",{"symbols":["BTCUSD"]}]`)
	client.expect("431")

	pending := make(chan string, 1)
	go func() {
		_, body := client.get()
		pending <- body
	}()
	waitForWaiter(t, e, client.SID)
	probe := dialUpgrade(t, e, client.SID)
	probe.send("2probe")
	if got := probe.next(); got != "3probe" {
		t.Fatalf("probe answer = %q", got)
	}
	if body := <-pending; body != "6" {
		t.Fatalf("pending GET during the probe = %q; want noop", body)
	}
	// A tick published between the probe and the upgrade is buffered and
	// flushed over the WebSocket.
	e.PublishTick("BTCUSD", []byte(`{"symbol":"BTCUSD","price":7}`))
	time.Sleep(20 * time.Millisecond)
	probe.send("5")
	if got := probe.expectEvent("market:data"); got != `{"symbol":"BTCUSD","price":7}` {
		t.Fatalf("tick over the upgraded socket = %s", got)
	}
	// The session kept its user and subscriptions.
	if ack := probe.emitAck(2, "unsubscribe:market", `{"symbols":["ETHUSD"]}`); ack != `{"ok":true,"symbols":["BTCUSD"]}` {
		t.Fatalf("ack after upgrade = %s", ack)
	}
	if status, body := client.get(); status != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("GET after upgrade = %d %q", status, body)
	}
	if status, body := client.post("3"); status != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("POST after upgrade = %d %q", status, body)
	}
	// A second WebSocket for the sid is closed.
	second := dialUpgrade(t, e, client.SID)
	if _, err := second.Next(2 * time.Second); err == nil {
		t.Fatal("second WebSocket for an upgraded sid stayed open")
	}
	e.PublishTick("BTCUSD", []byte(`{"symbol":"BTCUSD","price":8}`))
	if got := probe.expectEvent("market:data"); got != `{"symbol":"BTCUSD","price":8}` {
		t.Fatalf("tick after upgrade = %s", got)
	}
}

func TestUpgradeUnknownSid(t *testing.T) {
	e := startEngine(t, Config{})
	dialer := ws.Dialer{Timeout: 5 * time.Second}
	_, _, _, err := dialer.Dial(context.Background(), "ws://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket&sid=unknown")
	var status ws.StatusError
	if !asStatusError(err, &status) || int(status) != 400 {
		t.Fatalf("dial with an unknown sid: %v; want HTTP 400", err)
	}
	response, body := pollRequest(t, http.MethodGet, "http://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket&sid=unknown",
		"", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
	if response.StatusCode != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("upgrade with an unknown sid = %d %q", response.StatusCode, body)
	}
}

func asStatusError(err error, target *ws.StatusError) bool {
	if status, ok := err.(ws.StatusError); ok {
		*target = status
		return true
	}
	return false
}

func TestProbeFailureKeepsPolling(t *testing.T) {
	e := startEngine(t, Config{})
	client := openPolling(t, e, "")
	probe := dialUpgrade(t, e, client.SID)
	probe.send("4nonsense")
	if _, err := probe.Next(2 * time.Second); err == nil {
		t.Fatal("probe sent a message instead of closing")
	}
	// The session is still served over polling and can be probed again.
	if status, body := client.post("6"); status != 200 || body != "ok" {
		t.Fatalf("POST after a failed probe = %d %q", status, body)
	}
	waitFor(t, "the probe to end", func() bool {
		c := e.session(client.SID)
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.polling.upgrading
	})
	again := dialUpgrade(t, e, client.SID)
	again.send("2probe")
	if got := again.next(); got != "3probe" {
		t.Fatalf("second probe answer = %q", got)
	}
}
