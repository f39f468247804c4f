package engine

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Conformance tests derived from the Engine.IO v4 and Socket.IO v5 specs,
// run against the conformance application (Config.Conformance): binary
// packets both ways on both transports, binary attachments and acks.

func conformanceConfig() Config {
	return Config{Conformance: true, PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, ConnectTimeout: time.Second}
}

func TestRawEngineIOEchoPollingBinary(t *testing.T) {
	e := startEngine(t, conformanceConfig())
	client := openPolling(t, e, ConformanceRawPath)
	if status, body := client.post("4hello\x1ebAQIDBA=="); status != 200 || body != "ok" {
		t.Fatalf("POST = %d %q", status, body)
	}
	if status, body := client.get(); status != 200 || body != "4hello\x1ebAQIDBA==" {
		t.Fatalf("poll = %d %q", status, body)
	}
}

func TestRawEngineIOEchoWebSocketBinary(t *testing.T) {
	e := startEngine(t, conformanceConfig())
	dialer := ws.Dialer{Timeout: 5 * time.Second}
	conn, reader, _, err := dialer.Dial(context.Background(), "ws://"+e.Addr().String()+ConformanceRawPath+"?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if reader == nil {
		t.Fatal("the open packet did not come with the handshake")
	}
	rw := struct {
		io.Reader
		io.Writer
	}{reader, conn}
	if data, _, err := wsutil.ReadServerData(rw); err != nil || !strings.HasPrefix(string(data), "0{") {
		t.Fatalf("open = %q %v", data, err)
	}
	if err := wsutil.WriteClientBinary(conn, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	data, op, err := wsutil.ReadServerData(rw)
	if err != nil || op != ws.OpBinary || string(data) != "\x01\x02\x03\x04" {
		t.Fatalf("echo = %v %q %v; want a binary frame 01020304", op, data, err)
	}
}

func TestSocketIOBinaryAttachmentsAndAcks(t *testing.T) {
	e := startEngine(t, conformanceConfig())
	client := dialClient(t, e, nil)
	client.send("40")
	if answer := client.next(); !strings.HasPrefix(answer, `40{"sid":"`) {
		t.Fatalf("CONNECT answer = %q", answer)
	}
	if auth := client.next(); auth != `42["auth",{}]` {
		t.Fatalf("auth event = %q", auth)
	}
	client.send(`42456["message-with-ack",1,"2",{"3":[false]}]`)
	if ack := client.next(); ack != `43456[1,"2",{"3":[false]}]` {
		t.Fatalf("ack = %q", ack)
	}
	client.send(`452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	for _, attachment := range [][]byte{{1, 2, 3}, {4, 5, 6}} {
		if err := wsutil.WriteClientBinary(client.Conn(), attachment); err != nil {
			t.Fatal(err)
		}
	}
	if ack := client.next(); ack != `462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` {
		t.Fatalf("binary ack = %q", ack)
	}
	for _, want := range []string{"\x01\x02\x03", "\x04\x05\x06"} {
		_ = client.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
		data, op, err := wsutil.ReadServerData(client.ReadWriter())
		if err != nil || op != ws.OpBinary || string(data) != want {
			t.Fatalf("attachment = %v %q %v; want %q", op, data, err, want)
		}
	}
}

func TestSocketIOBinaryOverPolling(t *testing.T) {
	e := startEngine(t, conformanceConfig())
	client := openPolling(t, e, "")
	client.post(`40/custom,{"token":"abc"}`)
	if got := client.expect("40/custom,"); !strings.HasPrefix(got, `40/custom,{"sid":"`) {
		t.Fatalf("CONNECT answer = %q", got)
	}
	if got := client.expect("42/custom,"); got != `42/custom,["auth",{"token":"abc"}]` {
		t.Fatalf("auth = %q", got)
	}
	client.post("451-/custom,[\"message\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID")
	packets := client.packets()
	if strings.Join(packets, "|") != `451-/custom,["message-back",{"_placeholder":true,"num":0}]|bAQID` {
		t.Fatalf("echo = %q", packets)
	}
}

// FuzzPollingPost feeds arbitrary POST bodies to a polling session: the
// answer is always one of the defined ones, and a refused payload ends the
// session.
func FuzzPollingPost(f *testing.F) {
	for _, seed := range []string{"4hello", "4a\x1e4b", "bAQIDBA==", "1", "3", "40", "42[\"message\",1]", "451-[\"message\",{\"_placeholder\":true,\"num\":0}]\x1ebAQ==", "", "\x1e", "b!", "abc", "42\xff"} {
		f.Add(seed)
	}
	e := newTestEngine(f, Config{Conformance: true, MaxPayload: 4096})
	f.Fuzz(func(t *testing.T, body string) {
		handshake := httptest.NewRecorder()
		e.serveEngineIO(handshake, httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil))
		if handshake.Code != 200 || !strings.HasPrefix(handshake.Body.String(), "0{") {
			t.Fatalf("handshake = %d %q", handshake.Code, handshake.Body.String())
		}
		sid := handshake.Body.String()[len(`0{"sid":"`):][:20]
		c := e.session(sid)
		post := httptest.NewRecorder()
		e.serveEngineIO(post, httptest.NewRequest(http.MethodPost, "/socket.io/?EIO=4&transport=polling&sid="+sid, strings.NewReader(body)))
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
		c.closeWith(ReasonClientClosed)
	})
}
