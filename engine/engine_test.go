package engine

import (
	"strings"
	"testing"
	"time"
)

func TestConnectSubscribeReceive(t *testing.T) {
	e := startEngine(t, Config{})
	client := dialClient(t, e, nil)
	if answer := client.connect(testToken(t, "u1", time.Hour)); !strings.HasPrefix(answer, `40{"sid":"`) {
		t.Fatalf("CONNECT answer = %q", answer)
	}
	e.PublishTick("BTCUSD", []byte(`{"symbol":"BTCUSD","price":1}`))
	ack := client.emitAck(1, "subscribe:market", `{"symbols":["btcusd","ETHUSD"]}`)
	if ack != `{"ok":true,"symbols":["BTCUSD","ETHUSD"]}` {
		t.Fatalf("ack = %s", ack)
	}
	if got := client.expectEvent("market:data"); got != `{"symbol":"BTCUSD","price":1}` {
		t.Fatalf("snapshot tick = %s", got)
	}
	e.PublishTick("ETHUSD", []byte(`{"symbol":"ETHUSD","price":2}`))
	if got := client.expectEvent("market:data"); got != `{"symbol":"ETHUSD","price":2}` {
		t.Fatalf("tick = %s", got)
	}
}
