package engine

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/protrader5/ws-gateway/engine/auth"
)

func TestAuthRefusals(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	authenticator, err := auth.New(auth.Options{Secret: []byte(testSecret), Issuer: "protrader5", Audience: "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, Config{Auth: authenticator})
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		token, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(), "iss": "protrader5", "aud": "gateway"}
	}
	publicPEM, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	publicKeyBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicPEM})
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u1","exp":`+itoa(int(time.Now().Add(time.Hour).Unix()))+`}`)) + "."
	cases := []struct {
		name  string
		token string
		code  string
	}{
		{"missing", "", "TOKEN_MISSING"},
		{"malformed", "not.a.jwt", "TOKEN_INVALID"},
		{"wrong secret", sign(jwt.SigningMethodHS256, []byte("other"), valid()), "TOKEN_INVALID"},
		{"alg none", unsigned, "TOKEN_INVALID"},
		{"HS256 signed with the RSA public key", sign(jwt.SigningMethodHS256, publicKeyBytes, valid()), "TOKEN_INVALID"},
		{"RS256 when only HS256 is configured", sign(jwt.SigningMethodRS256, rsaKey, valid()), "TOKEN_INVALID"},
		{"expired", sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(-time.Hour).Unix(), "iss": "protrader5", "aud": "gateway"}), "TOKEN_EXPIRED"},
		{"no exp", sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "u1", "iss": "protrader5", "aud": "gateway"}), "TOKEN_INVALID"},
		{"not yet valid", sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Add(time.Hour).Unix(), "iss": "protrader5", "aud": "gateway"}), "TOKEN_INVALID"},
		{"wrong issuer", sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(), "iss": "evil", "aud": "gateway"}), "TOKEN_INVALID"},
		{"wrong audience", sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix(), "iss": "protrader5", "aud": "other"}), "TOKEN_INVALID"},
		{"no user", sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "iss": "protrader5", "aud": "gateway"}), "TOKEN_INVALID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := dialClient(t, e, nil)
			want := `44{"message":"Authentication failed","data":{"code":"` + tc.code + `"}}`
			if got := client.connect(tc.token); got != want {
				t.Fatalf("CONNECT answer = %s; want %s", got, want)
			}
		})
	}
	t.Run("userId claim", func(t *testing.T) {
		client := dialClient(t, e, nil)
		token := sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"userId": "u9", "exp": time.Now().Add(time.Hour).Unix(), "iss": "protrader5", "aud": "gateway"})
		if got := client.connect(token); !strings.HasPrefix(got, `40{"sid":`) {
			t.Fatalf("CONNECT answer = %s", got)
		}
	})
	t.Run("bearer header", func(t *testing.T) {
		client := dialClient(t, e, map[string]string{"Authorization": "Bearer " + sign(jwt.SigningMethodHS256, []byte(testSecret), valid())})
		if got := client.connect(""); !strings.HasPrefix(got, `40{"sid":`) {
			t.Fatalf("CONNECT answer = %s", got)
		}
	})
}

func TestNamespacesAndEventRefusals(t *testing.T) {
	e := startEngine(t, Config{MaxSymbolsPerSocket: 3})
	client := dialClient(t, e, nil)
	client.send(`40/admin,{"token":"x"}`)
	if got := client.next(); got != `44/admin,{"message":"Invalid namespace"}` {
		t.Fatalf("other namespace answer = %s", got)
	}
	if got := client.connect(testToken(t, "u1", time.Hour)); !strings.HasPrefix(got, `40{"sid":`) {
		t.Fatalf("CONNECT answer = %s", got)
	}
	cases := []struct {
		name, payload, want string
	}{
		{"no payload", ``, `{"ok":false,"error":{"code":"INVALID_PAYLOAD","message":"expected {symbols: [string, ...]}"}}`},
		{"not an object", `"BTCUSD"`, `{"ok":false,"error":{"code":"INVALID_PAYLOAD","message":"expected {symbols: [string, ...]}"}}`},
		{"symbols not strings", `{"symbols":[1,2]}`, `{"ok":false,"error":{"code":"INVALID_PAYLOAD","message":"expected {symbols: [string, ...]}"}}`},
		{"bad characters", `{"symbols":["BTC USD","ok","<x>"]}`, `{"ok":false,"error":{"code":"INVALID_SYMBOL","message":"invalid symbols","symbols":["BTC USD","\u003cx\u003e"]}}`},
		{"too many", `{"symbols":["A","B","C","D"]}`, `{"ok":false,"error":{"code":"TOO_MANY_SYMBOLS","message":"at most 3 symbols per socket"}}`},
		{"fine", `{"symbols":["a","b"]}`, `{"ok":true,"symbols":["A","B"]}`},
		{"over the limit in total", `{"symbols":["C","D"]}`, `{"ok":false,"error":{"code":"TOO_MANY_SYMBOLS","message":"at most 3 symbols per socket"}}`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := client.emitAck(i+1, "subscribe:market", tc.payload); got != tc.want {
				t.Fatalf("ack = %s; want %s", got, tc.want)
			}
		})
	}
	// Without an ack, a refusal comes back as an "error" event.
	client.send(`42["subscribe:market",{"symbols":"BTCUSD"}]`)
	if got := client.expectEvent("error"); got != `{"code":"INVALID_PAYLOAD","message":"expected {symbols: [string, ...]}","event":"subscribe:market"}` {
		t.Fatalf("error event = %s", got)
	}
	if got := client.emitAck(20, "unsubscribe:market", `{"symbols":["a"]}`); got != `{"ok":true,"symbols":["B"]}` {
		t.Fatalf("unsubscribe ack = %s", got)
	}
	if got := client.emitAck(21, "subscribe:orders", ""); got != `{"ok":true}` {
		t.Fatalf("subscribe:orders ack = %s", got)
	}
	// Unknown events are ignored: the next ack still answers in turn.
	client.send(`42["hello",1]`)
	if got := client.emitAck(22, "unsubscribe:orders", ""); got != `{"ok":true}` {
		t.Fatalf("unsubscribe:orders ack = %s", got)
	}
}

func TestUserStreamsReachOnlyTheirUser(t *testing.T) {
	e := startEngine(t, Config{})
	alice, bob := dialClient(t, e, nil), dialClient(t, e, nil)
	alice.connect(testToken(t, "alice", time.Hour))
	bob.connect(testToken(t, "bob", time.Hour))
	for i, event := range []string{"subscribe:orders", "subscribe:positions", "subscribe:notifications"} {
		alice.emitAck(i+1, event, "")
		bob.emitAck(i+1, event, "")
	}
	e.PublishUser(StreamOrders, "alice", []byte(`{"userId":"alice","orderId":"a1"}`))
	e.PublishUser(StreamOrders, "bob", []byte(`{"userId":"bob","orderId":"b1"}`))
	e.PublishUser(StreamPositions, "bob", []byte(`{"userId":"bob","positionId":"p1"}`))
	e.PublishUser(StreamNotifications, "alice", []byte(`{"userId":"alice","id":"n1"}`))
	if got := alice.next(); got != `42["order:update",{"userId":"alice","orderId":"a1"}]` {
		t.Fatalf("alice got %s", got)
	}
	if got := alice.next(); got != `42["notification",{"userId":"alice","id":"n1"}]` {
		t.Fatalf("alice got %s", got)
	}
	if got := bob.next(); got != `42["order:update",{"userId":"bob","orderId":"b1"}]` {
		t.Fatalf("bob got %s", got)
	}
	if got := bob.next(); got != `42["position:update",{"userId":"bob","positionId":"p1"}]` {
		t.Fatalf("bob got %s", got)
	}
	if _, err := alice.Next(100 * time.Millisecond); err == nil {
		t.Fatal("alice received more than her own messages")
	}
}

func TestHeartbeat(t *testing.T) {
	// The timeout leaves room for a busy machine to schedule the idle
	// client's pong; the mute client sees one ping whatever the timeout.
	e := startEngine(t, Config{PingInterval: 100 * time.Millisecond, PingTimeout: 400 * time.Millisecond})
	idle := dialClient(t, e, nil)
	idle.connect(testToken(t, "u1", time.Hour))
	mute := dialClient(t, e, nil)
	mute.AutoPong = false
	mute.connect(testToken(t, "u2", time.Hour))
	if open := idle.Open; open["pingInterval"] != float64(100) || open["pingTimeout"] != float64(400) {
		t.Fatalf("open packet = %v", open)
	}
	idleErrors := make(chan error, 1)
	go func() {
		// Reading answers the pings; any other packet is a failure.
		text, err := idle.Next(time.Second)
		if err == nil {
			err = fmt.Errorf("idle client got %q", text)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil
		}
		idleErrors <- err
	}()
	pings := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		text, err := mute.Next(time.Until(deadline))
		if err != nil {
			break
		}
		if text == "2" {
			pings++
		}
	}
	if pings != 1 {
		t.Fatalf("a client that never answers saw %d pings before being dropped; want 1", pings)
	}
	if err := <-idleErrors; err != nil {
		t.Fatal(err)
	}
	// The idle client answered every ping for several intervals: still here.
	if got := idle.emitAck(1, "subscribe:orders", ""); got != `{"ok":true}` {
		t.Fatalf("idle client ack = %s", got)
	}
	if e.Stats().Disconnects["ping_timeout"] != 1 {
		t.Fatalf("disconnects = %v; want one ping_timeout", e.Stats().Disconnects)
	}
}

func TestTokenExpiryDisconnects(t *testing.T) {
	e := startEngine(t, Config{})
	client := dialClient(t, e, nil)
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(1500 * time.Millisecond).Unix()})
	signed, _ := token.SignedString([]byte(testSecret))
	if got := client.connect(signed); !strings.HasPrefix(got, `40{"sid":`) {
		t.Fatalf("CONNECT answer = %s", got)
	}
	text, err := client.Next(4 * time.Second)
	if err != nil || text != "41" {
		t.Fatalf("after expiry got %q, %v; want DISCONNECT 41", text, err)
	}
}

func TestConnectTimeout(t *testing.T) {
	e := startEngine(t, Config{ConnectTimeout: 100 * time.Millisecond})
	client := dialClient(t, e, nil)
	if _, err := client.Next(2 * time.Second); err == nil {
		t.Fatal("a socket that joined no namespace was not closed")
	}
	if e.Stats().Disconnects["connect_timeout"] != 1 {
		t.Fatalf("disconnects = %v", e.Stats().Disconnects)
	}
}

func TestLargeMessagesAreReadWhole(t *testing.T) {
	e := startEngine(t, Config{MaxSymbolsPerSocket: 3})
	client := dialClient(t, e, nil)
	client.connect(testToken(t, "u1", time.Hour))
	// 300 KB in one frame: netpoll's read buffer starts at 512 bytes and
	// has to grow for it.
	symbols := strings.TrimSuffix(strings.Repeat(`"ABCDEFGHIJKLMNOPQRSTUVWXYZ",`, 10000), ",")
	want := `{"ok":false,"error":{"code":"TOO_MANY_SYMBOLS","message":"at most 3 symbols per socket"}}`
	if got := client.emitAck(1, "subscribe:market", `{"symbols":[`+symbols+`]}`); got != want {
		t.Fatalf("ack = %.200s; want %s", got, want)
	}
	if got := client.emitAck(2, "subscribe:market", `{"symbols":["A"]}`); got != `{"ok":true,"symbols":["A"]}` {
		t.Fatalf("ack after the large message = %s", got)
	}
}
