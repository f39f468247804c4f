package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// Tests of the echo application derived from the Engine.IO v4 and
// Socket.IO v5 specs and the suites' expectations: binary messages both
// ways on both transports, namespaces, binary attachments and acks, the
// connect deadline.

const timeout = 5 * time.Second

// pollClient is the shared polling client; its POSTs must be accepted.
type pollClient struct{ *enginetest.Polling }

// openPolling makes the polling handshake at path.
func openPolling(t *testing.T, address, path string) *pollClient {
	t.Helper()
	return &pollClient{enginetest.OpenPolling(t, "http://"+address+path)}
}

func (p *pollClient) post(payload string) {
	p.T.Helper()
	if status, body := p.Post(payload); status != 200 || body != "ok" {
		p.T.Fatalf("POST %q = %d %q", payload, status, body)
	}
}

func (p *pollClient) packets() []string {
	p.T.Helper()
	return p.Packets()
}

// dial opens a WebSocket session at path and reads its open packet.
func dial(t *testing.T, address, path string) *enginetest.Client {
	t.Helper()
	client, err := enginetest.DialURL(context.Background(), ws.Dialer{Timeout: timeout}, "ws://"+address+path+"?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if open := next(t, client); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open = %q", open)
	}
	return client
}

func send(t *testing.T, client *enginetest.Client, text string) {
	t.Helper()
	if err := client.Send(text); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, client *enginetest.Client) string {
	t.Helper()
	text, err := client.Next(timeout)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return text
}

// nextBinary reads one WebSocket frame and fails unless it is binary data.
func nextBinary(t *testing.T, client *enginetest.Client, want string) {
	t.Helper()
	_ = client.Conn().SetReadDeadline(time.Now().Add(timeout))
	data, op, err := wsutil.ReadServerData(client.ReadWriter())
	if err != nil || op != ws.OpBinary || string(data) != want {
		t.Fatalf("read %v %q %v; want a binary frame %q", op, data, err, want)
	}
}

func TestRawEchoPollingBinary(t *testing.T) {
	client := openPolling(t, startServer(t), rawPath)
	client.post("4hello\x1ebAQIDBA==")
	if got := strings.Join(client.packets(), "\x1e"); got != "4hello\x1ebAQIDBA==" {
		t.Fatalf("echo = %q", got)
	}
}

func TestRawEchoWebSocketBinary(t *testing.T) {
	client := dial(t, startServer(t), rawPath)
	if err := wsutil.WriteClientBinary(client.Conn(), []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	nextBinary(t, client, "\x01\x02\x03\x04")
}

// TestRawEchoHasNoConnectDeadline checks that a raw Engine.IO session, which
// never sends a Socket.IO CONNECT, outlives the connect timeout.
func TestRawEchoHasNoConnectDeadline(t *testing.T) {
	client := dial(t, startServer(t), rawPath)
	// Read all along, so that pings are answered (AutoPong) meanwhile.
	received := make(chan string, 1)
	go func() {
		for {
			text, err := client.Next(0)
			if err != nil {
				text = err.Error()
			}
			received <- text
			if err != nil {
				return
			}
		}
	}()
	select {
	case got := <-received:
		t.Fatalf("before the connect timeout passed: %q", got)
	case <-time.After(Config("", nil).ConnectTimeout + 300*time.Millisecond):
	}
	send(t, client, "4still")
	if got := <-received; got != "4still" {
		t.Fatalf("echo after the connect timeout = %q", got)
	}
}

func TestSocketIOConnectWithoutHandshakeTimesOut(t *testing.T) {
	client := dial(t, startServer(t), socketIOPath)
	if _, err := client.Next(timeout); err == nil {
		t.Fatal("a session that never sent CONNECT stayed open")
	}
}

func TestSocketIONamespaces(t *testing.T) {
	client := dial(t, startServer(t), socketIOPath)
	send(t, client, "40/unknown,")
	if got := next(t, client); got != `44/unknown,{"message":"Invalid namespace"}` {
		t.Fatalf("CONNECT to an unknown namespace = %q", got)
	}
	send(t, client, `40/custom,{"token":"abc"}`)
	if got := next(t, client); !strings.HasPrefix(got, `40/custom,{"sid":"`) {
		t.Fatalf("CONNECT answer = %q", got)
	}
	if got := next(t, client); got != `42/custom,["auth",{"token":"abc"}]` {
		t.Fatalf("auth event = %q", got)
	}
	send(t, client, `42/custom,["message",1]`)
	if got := next(t, client); got != `42/custom,["message-back",1]` {
		t.Fatalf("echo = %q", got)
	}
	// Events of a namespace left, or never joined, are not answered.
	send(t, client, "41/custom,")
	send(t, client, `42/custom,["message",2]`)
	send(t, client, `42["message",3]`)
	send(t, client, "40")
	if got := next(t, client); !strings.HasPrefix(got, `40{"sid":"`) {
		t.Fatalf("CONNECT answer = %q", got)
	}
}

func TestSocketIOBinaryAttachmentsAndAcks(t *testing.T) {
	client := dial(t, startServer(t), socketIOPath)
	send(t, client, "40")
	if answer := next(t, client); !strings.HasPrefix(answer, `40{"sid":"`) {
		t.Fatalf("CONNECT answer = %q", answer)
	}
	if auth := next(t, client); auth != `42["auth",{}]` {
		t.Fatalf("auth event = %q", auth)
	}
	send(t, client, `42456["message-with-ack",1,"2",{"3":[false]}]`)
	if ack := next(t, client); ack != `43456[1,"2",{"3":[false]}]` {
		t.Fatalf("ack = %q", ack)
	}
	send(t, client, `452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	for _, attachment := range [][]byte{{1, 2, 3}, {4, 5, 6}} {
		if err := wsutil.WriteClientBinary(client.Conn(), attachment); err != nil {
			t.Fatal(err)
		}
	}
	if ack := next(t, client); ack != `462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` {
		t.Fatalf("binary ack = %q", ack)
	}
	nextBinary(t, client, "\x01\x02\x03")
	nextBinary(t, client, "\x04\x05\x06")
}

func TestSocketIOBinaryOverPolling(t *testing.T) {
	client := openPolling(t, startServer(t), socketIOPath)
	client.post(`40/custom,{"token":"abc"}`)
	var packets []string
	for len(packets) < 2 {
		packets = append(packets, client.packets()...)
	}
	if !strings.HasPrefix(packets[0], `40/custom,{"sid":"`) || packets[1] != `42/custom,["auth",{"token":"abc"}]` {
		t.Fatalf("CONNECT answer and auth event = %q", packets)
	}
	client.post("451-/custom,[\"message\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID")
	if got := strings.Join(client.packets(), "|"); got != `451-/custom,["message-back",{"_placeholder":true,"num":0}]|bAQID` {
		t.Fatalf("echo = %q", got)
	}
}

// TestSocketIOViolationsCloseTheSession checks the suite's "invalid format"
// cases: each closes the session.
func TestSocketIOViolationsCloseTheSession(t *testing.T) {
	address := startServer(t)
	for _, packet := range []string{"4abc", "42{}", `42abc["message-with-ack",1,"2",{"3":[false]}]`} {
		client := dial(t, address, socketIOPath)
		send(t, client, "40")
		next(t, client) // CONNECT answer
		next(t, client) // auth event
		send(t, client, packet)
		if _, err := client.Next(timeout); err == nil {
			t.Fatalf("%q left the session open", packet)
		}
	}
}
