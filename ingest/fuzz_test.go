package ingest

import (
	"encoding/json"
	"testing"

	"github.com/bytedance/sonic"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/wire"
)

// FuzzRouterHandle: any bytes on any channel never panic, and whatever is
// published is one JSON object whose symbol/userId is valid and equal to the
// routing key as a browser's JSON.parse reads it (names unescaped, the last
// of equal names kept); a message that cannot be routed so is not published.
func FuzzRouterHandle(f *testing.F) {
	seeds := []struct {
		channel uint8
		payload string
	}{
		{0, `{"symbol":"BTCUSD","price":50000,"volume":1}`},
		{0, `[{"symbol":"ETHUSD","price":1},{"symbol":"x"},3,[],{"symbol":"A.B","price":"x"}]`},
		{0, ` {"a":{"symbol":"NESTED"},"symbol":"\u0041BC"} `},
		{0, `{"symbol":"BTCUSD","symbol":"ETHUSD"}`},
		{1, `{"orderId":"o1","userId":"u1","status":"FILLED"}`},
		{1, `{"userId":"a","metadata":{"userId":"b"},"userId":"c"}`},
		{1, `{"user\u0049d":"bob","userId":"alice"}`},
		{1, `{"userId":"alice","user\u0049d":"bob"}`},
		{1, `{"\u0075ser\u0049d":"b\u006fb","user\\Id":"x"}`},
		{0, `{"\u0073ymbol":"ETHUSD","symbol":"BTCUSD"}`},
		{0, `[{"symbol":"BTCUSD","\u0073ymbol":"ETHUSD"},{"symbo\u006c":"SOLUSD","price":3}]`},
		{2, `{"positionId":"p1","userId":"u1","symbol":"BTCUSD","side":"LONG","quantity":0.1,"entryPrice":50000}`},
		{2, `{"positionId":7,"userId":"u1","symbol":"BTCUSD","side":"SHORT","quantity":"1","entryPrice":null}`},
		{3, `{"id":"n1","userId":"\ud83d\ude00","read":false}`},
		{3, "{\"userId\":\"\xff\"}"},
		{1, "{\"\x01\":\"\",\"userId\":\"0\"}"},
		{1, `{"\0":"","userId":"0"}`},
		{0, `[`},
		{1, `{"userId":"u1"`},
	}
	for _, s := range seeds {
		f.Add(s.channel, []byte(s.payload))
	}
	f.Fuzz(func(t *testing.T, channel uint8, payload []byte) {
		rec := newRecorder()
		router := NewRouter(rec, RouterOptions{Logger: quietLogger(), MaxMessageBytes: 4096})
		// A held position so that ticks also exercise live P&L.
		router.Handle(ChannelPositions, []byte(`{"positionId":"p","userId":"u","symbol":"BTCUSD","side":"LONG","quantity":1,"entryPrice":2}`))
		rec.reset()
		ch := Channel(channel % channelCount)
		router.Handle(ch, payload)
		// The halves too: a payload split by a transport must not panic either.
		router.Handle(ch, payload[:len(payload)/2])
		for _, c := range rec.snapshot() {
			// encoding/json, not sonic: an independent reader, which decodes
			// object names as JSON.parse does.
			var object map[string]any
			if err := json.Unmarshal([]byte(c.message), &object); err != nil {
				t.Fatalf("published %q (%s) is not a JSON object: %v", c.message, c.kind, err)
			}
			switch c.kind {
			case "tick":
				if !wire.ValidSymbol(c.key) || object["symbol"] != c.key {
					t.Fatalf("tick routed to %q has symbol %v", c.key, object["symbol"])
				}
			case "user":
				if !auth.ValidUserID(c.key) || object["userId"] != c.key {
					t.Fatalf("user message routed to %q has userId %v", c.key, object["userId"])
				}
			case "refresh":
				if c.key != "u" || c.positionID != "p" {
					t.Fatalf("refresh for %q/%q; want u/p", c.key, c.positionID)
				}
			}
		}
	})
}

// FuzzForEachElement: splitting a valid array yields valid elements whose
// count matches a full decode.
func FuzzForEachElement(f *testing.F) {
	for _, seed := range []string{`[]`, `[1, "a\"]", {"b":[1,2]}, null ]`, `[[[]],{}]`, ` [ "x" ] `} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !sonic.Valid(data) {
			return
		}
		var decoded []any
		if sonic.Unmarshal(data, &decoded) != nil {
			return // not an array
		}
		start := wire.SkipJSONSpace(data, 0)
		count := 0
		forEachElement(data, start, func(element []byte) {
			count++
			if !sonic.Valid(element) {
				t.Fatalf("element %q of %q is not valid JSON", element, data)
			}
		})
		if count != len(decoded) {
			t.Fatalf("forEachElement(%q) gave %d elements; want %d", data, count, len(decoded))
		}
	})
}
