package engine

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// echoPath is where echoApplication serves its sessions.
const echoPath = "/echo/"

// echoApplication is a minimal Application for the hook's tests: at
// echoPath every message comes back twice in one Send, "join" stops the
// connect deadline and "violation" is refused. Sessions at other paths are
// left to the gateway.
type echoApplication struct {
	mu     sync.Mutex
	opened []string // the path of every session offered to Open
}

func (a *echoApplication) Paths() []string { return []string{echoPath, "/socket.io/"} }

func (a *echoApplication) Open(path string, session ApplicationSession) Handler {
	a.mu.Lock()
	a.opened = append(a.opened, path)
	a.mu.Unlock()
	if path != echoPath {
		return nil
	}
	return echoHandler{session}
}

func (a *echoApplication) openedPaths() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.opened...)
}

type echoHandler struct{ session ApplicationSession }

func (h echoHandler) HandleMessage(message Message) bool {
	switch {
	case !message.Binary && string(message.Data) == "violation":
		return false
	case !message.Binary && string(message.Data) == "join":
		h.session.Connected()
	}
	h.session.Send(message, message)
	return true
}

func TestApplicationServesItsPathOverPolling(t *testing.T) {
	application := &echoApplication{}
	e := startEngine(t, Config{}, WithApplication(application))
	client := openPolling(t, e, echoPath)
	if status, body := client.post("4hello\x1ebAQIDBA=="); status != 200 || body != "ok" {
		t.Fatalf("POST = %d %q", status, body)
	}
	if got := strings.Join(client.packets(), "|"); got != "4hello|4hello|bAQIDBA==|bAQIDBA==" {
		t.Fatalf("echo = %q", got)
	}
	// The main path stays the gateway's: a CONNECT without a token is
	// refused there, not echoed.
	main := openPolling(t, e, "")
	main.post("40")
	if got := main.expect("4"); !strings.HasPrefix(got, "44") {
		t.Fatalf("CONNECT without a token at the main path = %q", got)
	}
	if got := application.openedPaths(); strings.Join(got, " ") != echoPath+" /socket.io/" {
		t.Fatalf("Open was called for %q", got)
	}
}

func TestApplicationServesItsPathOverWebSocket(t *testing.T) {
	e := startEngine(t, Config{}, WithApplication(&echoApplication{}))
	client := dialURL(t, ws.Dialer{Timeout: clientTimeout}, "ws://"+e.Addr().String()+echoPath+"?EIO=4&transport=websocket")
	if open := client.next(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open = %q", open)
	}
	if err := wsutil.WriteClientBinary(client.Conn(), []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_ = client.Conn().SetReadDeadline(time.Now().Add(clientTimeout))
		data, op, err := wsutil.ReadServerData(client.ReadWriter())
		if err != nil || op != ws.OpBinary || string(data) != "\x01\x02\x03\x04" {
			t.Fatalf("echo = %v %q %v; want a binary frame 01020304", op, data, err)
		}
	}
	client.send("4text")
	for range 2 {
		if got := client.next(); got != "4text" {
			t.Fatalf("echo = %q", got)
		}
	}
}

func TestApplicationUpgradeKeepsHandler(t *testing.T) {
	e := startEngine(t, Config{}, WithApplication(&echoApplication{}))
	client := openPolling(t, e, echoPath)
	probe := dialURL(t, ws.Dialer{Timeout: clientTimeout}, "ws://"+e.Addr().String()+echoPath+"?EIO=4&transport=websocket&sid="+client.SID)
	probe.send("2probe")
	if got := probe.next(); got != "3probe" {
		t.Fatalf("probe answer = %q", got)
	}
	probe.send("5")
	probe.send("4after")
	if got := probe.next(); got != "4after" {
		t.Fatalf("echo after the upgrade = %q", got)
	}
}

func TestApplicationViolationClosesSession(t *testing.T) {
	e := startEngine(t, Config{}, WithApplication(&echoApplication{}))
	client := dialURL(t, ws.Dialer{Timeout: clientTimeout}, "ws://"+e.Addr().String()+echoPath+"?EIO=4&transport=websocket")
	client.next() // open
	client.send("4violation")
	_, err := client.Next(clientTimeout)
	if status := enginetest.CloseStatus(err); status != ws.StatusProtocolError {
		t.Fatalf("after a violation: %v (close status %d); want close 1002", err, status)
	}
}

// TestApplicationConnectDeadline checks that the connect deadline holds for
// an application's sessions until the application reports a join.
func TestApplicationConnectDeadline(t *testing.T) {
	config := Config{ConnectTimeout: 300 * time.Millisecond, PingInterval: time.Second, PingTimeout: time.Second}
	e := startEngine(t, config, WithApplication(&echoApplication{}))
	url := "ws://" + e.Addr().String() + echoPath + "?EIO=4&transport=websocket"

	idle := dialURL(t, ws.Dialer{Timeout: clientTimeout}, url)
	idle.next() // open
	if _, err := idle.Next(clientTimeout); err == nil {
		t.Fatal("a session that never joined outlived the connect deadline")
	}

	joined := dialURL(t, ws.Dialer{Timeout: clientTimeout}, url)
	joined.next() // open
	joined.send("4join")
	joined.next()
	joined.next()
	time.Sleep(2 * config.ConnectTimeout)
	joined.send("4still")
	if got := joined.next(); got != "4still" {
		t.Fatalf("echo after the connect deadline = %q", got)
	}
}

func TestApplicationPathsOnlyWithApplication(t *testing.T) {
	e := startEngine(t, Config{})
	response, _ := pollRequest(t, http.MethodGet, "http://"+e.Addr().String()+echoPath+"?EIO=4&transport=polling", "", nil)
	if response.StatusCode != http.StatusNotFound {
		t.Fatalf("handshake at %s without an application = %d; want 404", echoPath, response.StatusCode)
	}
}

// FuzzPollingPost feeds arbitrary POST bodies to a polling session: the
// answer is always one of the defined ones, and a refused payload ends the
// session. The session is the echo application's, which accepts every
// message, so that the payload decoding is what is exercised.
func FuzzPollingPost(f *testing.F) {
	for _, seed := range []string{"4hello", "4a\x1e4b", "bAQIDBA==", "1", "3", "40", "42[\"message\",1]", "451-[\"message\",{\"_placeholder\":true,\"num\":0}]\x1ebAQ==", "", "\x1e", "b!", "abc", "42\xff"} {
		f.Add(seed)
	}
	e := newTestEngine(f, Config{MaxPayload: 4096}, WithApplication(&echoApplication{}))
	f.Fuzz(func(t *testing.T, body string) {
		handshake := httptest.NewRecorder()
		e.serveEngineIO(handshake, httptest.NewRequest(http.MethodGet, echoPath+"?EIO=4&transport=polling", nil))
		if handshake.Code != 200 || !strings.HasPrefix(handshake.Body.String(), "0{") {
			t.Fatalf("handshake = %d %q", handshake.Code, handshake.Body.String())
		}
		sid := handshake.Body.String()[len(`0{"sid":"`):][:20]
		c := e.session(sid)
		post := httptest.NewRecorder()
		e.serveEngineIO(post, httptest.NewRequest(http.MethodPost, echoPath+"?EIO=4&transport=polling&sid="+sid, strings.NewReader(body)))
		c.mu.Lock()
		closed := c.state == stateClosed
		c.mu.Unlock()
		switch {
		case post.Code == 200 && post.Body.String() == "ok":
		case post.Code == 400 && post.Body.String() == `{"code":3,"message":"Bad request"}` && closed:
		case post.Code == 413 && len(body) > 4096 && closed:
		default:
			t.Fatalf("POST %q = %d %q (session closed: %v)", body, post.Code, post.Body.String(), closed)
		}
		c.closeWith(reasonClientClosed)
	})
}

// pathsApplication declares paths and serves nothing.
type pathsApplication []string

func (a pathsApplication) Paths() []string                         { return a }
func (a pathsApplication) Open(string, ApplicationSession) Handler { return nil }

func TestApplicationPathsMustBeAvailable(t *testing.T) {
	for _, path := range []string{"/health", "/metrics", "relative/"} {
		if e, err := New(Config{}, WithApplication(pathsApplication{path})); err == nil {
			e.stop()
			t.Errorf("New accepted application path %q", path)
		}
	}
}
