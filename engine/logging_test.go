package engine

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// TestConnectionLogsCarryTheClient: at debug every connect and disconnect
// is logged with the user, transport and client address, and an
// authentication failure carries the address too.
func TestConnectionLogsCarryTheClient(t *testing.T) {
	var logs enginetest.LockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := startEngine(t, Config{Logger: logger})

	refused := dialClient(t, e, nil)
	if answer := refused.connect("not-a-token"); !strings.HasPrefix(answer, "44") {
		t.Fatalf("CONNECT with a bad token answered %q", answer)
	}
	client := dialClient(t, e, nil)
	if answer := client.connect(testToken(t, "alice", time.Hour)); !strings.HasPrefix(answer, "40") {
		t.Fatalf("CONNECT answered %q", answer)
	}
	client.Close()
	refused.Close()
	waitFor(t, "both connections to close", func() bool { return e.Stats().Connections == 0 })

	// Connection and socket ids are random: any id matches.
	for _, want := range []string{
		`"msg":"authentication failed","conn_id":"[^"]+","transport":"websocket","address":"127.0.0.1","reason":"TOKEN_INVALID"`,
		`"msg":"socket connected","conn_id":"[^"]+","user_id":"alice","socket_id":"[^"]+","transport":"websocket","address":"127.0.0.1","recovered":false`,
		`"msg":"connection closed","conn_id":"[^"]+","user_id":"alice","transport":"websocket","address":"127.0.0.1","reason":"client_closed"`,
	} {
		if !regexp.MustCompile(want).MatchString(logs.String()) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

// TestClientCloseIsNotLoggedAboveDebug: at info a client leaving is no news;
// the server's own closes still are.
func TestClientCloseIsNotLoggedAboveDebug(t *testing.T) {
	var logs enginetest.LockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := startEngine(t, Config{Logger: logger})
	client := dialClient(t, e, nil)
	client.connect(testToken(t, "bob", time.Hour))
	client.Close()
	waitFor(t, "the connection to close", func() bool { return e.Stats().Connections == 0 })
	if strings.Contains(logs.String(), "connection closed") || strings.Contains(logs.String(), "socket connected") {
		t.Errorf("info logs hold a debug record:\n%s", logs.String())
	}
}

// TestSubscribeAckComesBeforeTheLatestTick pins the order README.md and
// docs/protocol.md give: the ack of subscribe:market, then the latest tick
// of each new symbol (a live tick published in the same instant may
// overtake the ack; none is published here).
func TestSubscribeAckComesBeforeTheLatestTick(t *testing.T) {
	e := startEngine(t, Config{})
	e.PublishTick("BTCUSD", []byte(`{"symbol":"BTCUSD","price":1}`))
	client := dialClient(t, e, nil)
	client.connect(testToken(t, "carol", time.Hour))
	client.send(`421["subscribe:market",{"symbols":["BTCUSD"]}]`)
	first, second := client.next(), client.next()
	if first != `431[{"ok":true,"symbols":["BTCUSD"]}]` || second != `42["market:data",{"symbol":"BTCUSD","price":1}]` {
		t.Fatalf("after subscribe:market: %q, then %q; want the ack, then the latest tick", first, second)
	}
}
