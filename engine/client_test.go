package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "test-secret"

// testToken signs an HS256 token for userID valid for ttl.
func testToken(t testing.TB, userID string, ttl time.Duration) string {
	t.Helper()
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": userID,
		"exp": time.Now().Add(ttl).Unix(),
	})
	signed, err := token.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// startEngine runs an engine on a free loopback port.
func startEngine(t testing.TB, config Config) *Engine {
	t.Helper()
	if config.Logger == nil && !testing.Verbose() {
		config.Logger = slog.New(slog.DiscardHandler)
	}
	if config.Auth == nil {
		auth, err := NewAuthenticator(AuthOptions{Secret: []byte(testSecret)})
		if err != nil {
			t.Fatal(err)
		}
		config.Auth = auth
	}
	e, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.Serve(listener) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
		<-served
	})
	for e.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	return e
}

// testClient is a minimal Socket.IO client over WebSocket for engine tests.
type testClient struct {
	t      testing.TB
	conn   net.Conn
	reader *bufio.Reader
	open   map[string]any
	// autoPong answers server pings while reading.
	autoPong bool
}

func dialClient(t testing.TB, e *Engine, header map[string]string) *testClient {
	t.Helper()
	dialer := ws.Dialer{Timeout: 5 * time.Second}
	if header != nil {
		h := make(map[string][]string)
		for k, v := range header {
			h[k] = []string{v}
		}
		dialer.Header = ws.HandshakeHeaderHTTP(h)
	}
	conn, reader, _, err := dialer.Dial(context.Background(), "ws://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	client := &testClient{t: t, conn: conn, autoPong: true}
	if reader != nil {
		client.reader = reader
	} else {
		client.reader = bufio.NewReader(conn)
	}
	first := client.next()
	if !strings.HasPrefix(first, "0{") {
		t.Fatalf("first packet = %q; want the open packet", first)
	}
	if err := json.Unmarshal([]byte(first[1:]), &client.open); err != nil {
		t.Fatal(err)
	}
	return client
}

// connect sends CONNECT with token and returns the server's answer packet.
func (c *testClient) connect(token string) string {
	c.t.Helper()
	if token == "" {
		c.send(`40`)
	} else {
		c.send(`40{"token":"` + token + `"}`)
	}
	return c.next()
}

func (c *testClient) send(text string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(c.conn, []byte(text)); err != nil {
		c.t.Fatalf("send %q: %v", text, err)
	}
}

// nextWithin returns the next Engine.IO text packet, or an error.
func (c *testClient) nextWithin(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		data, op, err := wsutil.ReadServerData(readerWriter{c.reader, c.conn})
		if err != nil {
			return "", err
		}
		if op != ws.OpText {
			continue
		}
		text := string(data)
		if text == "2" && c.autoPong {
			c.send("3")
			continue
		}
		return text, nil
	}
}

func (c *testClient) next() string {
	c.t.Helper()
	text, err := c.nextWithin(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return text
}

// expectEvent reads until an event named name arrives and returns its payload.
func (c *testClient) expectEvent(name string) string {
	c.t.Helper()
	prefix := `42["` + name + `",`
	for {
		text := c.next()
		if strings.HasPrefix(text, prefix) {
			return strings.TrimSuffix(strings.TrimPrefix(text, prefix), "]")
		}
	}
}

// emit sends an event with an ack id and returns the ack payload.
func (c *testClient) emitAck(id int, name string, payload string) string {
	c.t.Helper()
	if payload == "" {
		c.send(fmt.Sprintf(`42%d["%s"]`, id, name))
	} else {
		c.send(fmt.Sprintf(`42%d["%s",%s]`, id, name, payload))
	}
	prefix := fmt.Sprintf("43%d[", id)
	for {
		text := c.next()
		if strings.HasPrefix(text, prefix) {
			return strings.TrimSuffix(strings.TrimPrefix(text, prefix), "]")
		}
	}
}

type readerWriter struct {
	reader *bufio.Reader
	conn   net.Conn
}

func (rw readerWriter) Read(p []byte) (int, error)  { return rw.reader.Read(p) }
func (rw readerWriter) Write(p []byte) (int, error) { return rw.conn.Write(p) }
