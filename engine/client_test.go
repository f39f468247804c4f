package engine

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/engine/enginetest"
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
func startEngine(t testing.TB, config Config, options ...Option) *Engine {
	t.Helper()
	if config.Logger == nil && !testing.Verbose() {
		config.Logger = slog.New(slog.DiscardHandler)
	}
	if config.Auth == nil {
		authenticator, err := auth.New(auth.Options{Secret: []byte(testSecret)})
		if err != nil {
			t.Fatal(err)
		}
		config.Auth = authenticator
	}
	e, err := New(config, options...)
	if err != nil {
		t.Fatal(err)
	}
	enginetest.Serve(t, e)
	for e.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	return e
}

// testClient is an enginetest.Client whose helpers fail the test on an
// error, closed when the test ends.
type testClient struct {
	*enginetest.Client
	t testing.TB
}

// clientTimeout bounds each helper's wait.
const clientTimeout = 5 * time.Second

// dialClient opens a WebSocket session to e and reads the open packet.
func dialClient(t testing.TB, e *Engine, header map[string]string) *testClient {
	t.Helper()
	var h http.Header
	if header != nil {
		h = make(http.Header)
		for k, v := range header {
			h[k] = []string{v}
		}
	}
	client, err := enginetest.Dial(context.Background(), e.Addr().String(), h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return newTestClient(t, client)
}

// dialURL opens the WebSocket at url and reads nothing.
func dialURL(t testing.TB, dialer ws.Dialer, url string) *testClient {
	t.Helper()
	client, err := enginetest.DialURL(context.Background(), dialer, url)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return newTestClient(t, client)
}

func newTestClient(t testing.TB, client *enginetest.Client) *testClient {
	t.Cleanup(func() { client.Close() })
	return &testClient{Client: client, t: t}
}

// connect sends CONNECT with token and returns the server's answer packet.
func (c *testClient) connect(token string) string {
	c.t.Helper()
	answer, err := c.Connect(token, clientTimeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return answer
}

func (c *testClient) send(text string) {
	c.t.Helper()
	if err := c.Send(text); err != nil {
		c.t.Fatal(err)
	}
}

func (c *testClient) next() string {
	c.t.Helper()
	text, err := c.Next(clientTimeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return text
}

// expectEvent reads until an event named name arrives and returns its payload.
func (c *testClient) expectEvent(name string) string {
	c.t.Helper()
	payload, err := c.ExpectEvent(name, clientTimeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return payload
}

// emitAck sends an event with an ack id and returns the ack payload.
func (c *testClient) emitAck(id int, name string, payload string) string {
	c.t.Helper()
	ack, err := c.EmitAck(id, name, payload, clientTimeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return ack
}
