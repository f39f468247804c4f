package ingest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// parsedMember returns the top-level member key of message as a browser's
// JSON.parse sees it: names unescaped, the last of equal names kept.
// encoding/json decoding into a map follows the same rules.
func parsedMember(t testing.TB, message, key string) any {
	t.Helper()
	var object map[string]any
	if err := json.Unmarshal([]byte(message), &object); err != nil {
		t.Fatalf("%q is not a JSON object: %v", message, err)
	}
	return object[key]
}

// A routing key written with escapes is the same key to JSON.parse: it must
// route like the plain one, and count as a duplicate of it.
func TestRouterEscapedKeys(t *testing.T) {
	cases := []struct {
		name    string
		channel Channel
		payload string
		want    string // the routing key; empty when the message is rejected
		reason  Reason // when rejected
	}{
		{"tick plain duplicate", ChannelTicks, `{"symbol":"ETHUSD","symbol":"BTCUSD"}`, "", ReasonDuplicateKey},
		{"tick escaped duplicate first", ChannelTicks, `{"\u0073ymbol":"ETHUSD","symbol":"BTCUSD"}`, "", ReasonDuplicateKey},
		{"tick escaped duplicate last", ChannelTicks, `{"symbol":"BTCUSD","price":1,"\u0073ymbol":"ETHUSD"}`, "", ReasonDuplicateKey},
		{"tick both escaped", ChannelTicks, `{"sym\u0062ol":"BTCUSD","\u0073\u0079mbol":"ETHUSD"}`, "", ReasonDuplicateKey},
		{"tick duplicate with an invalid first", ChannelTicks, `{"symbol":"bad","\u0073ymbol":"BTCUSD"}`, "", ReasonDuplicateKey},
		{"tick escaped single", ChannelTicks, `{"\u0073ymbol":"BTCUSD","price":1}`, "BTCUSD", 0},
		{"tick escaped single after others", ChannelTicks, `{"price":1,"volume":2,"symbo\u006c":"ETHUSD"}`, "ETHUSD", 0},
		{"tick escaped value", ChannelTicks, `{"symbol":"\u0042TCUSD"}`, "BTCUSD", 0},
		{"tick other case", ChannelTicks, `{"\u0053ymbol":"BTCUSD"}`, "", ReasonMissingSymbol},
		{"tick nested escaped", ChannelTicks, `{"a":{"\u0073ymbol":"ETHUSD"},"symbol":"BTCUSD"}`, "BTCUSD", 0},
		{"tick escaped quote in another name", ChannelTicks, `{"x\"symbol":"ETHUSD","symbol":"BTCUSD"}`, "BTCUSD", 0},
		{"user plain duplicate", ChannelOrders, `{"userId":"alice","userId":"bob"}`, "", ReasonDuplicateKey},
		{"user escaped duplicate first", ChannelOrders, `{"user\u0049d":"bob","userId":"alice"}`, "", ReasonDuplicateKey},
		{"user escaped duplicate last", ChannelNotifications, `{"userId":"alice","id":"n1","user\u0049d":"bob"}`, "", ReasonDuplicateKey},
		{"user all escaped duplicate", ChannelPositions, `{"\u0075\u0073\u0065\u0072\u0049\u0064":"bob","userId":"alice"}`, "", ReasonDuplicateKey},
		{"user both escaped", ChannelOrders, `{"user\u0049d":"bob","\u0075serId":"alice"}`, "", ReasonDuplicateKey},
		{"user escaped single", ChannelOrders, `{"orderId":"o1","user\u0049d":"bob"}`, "bob", 0},
		{"user escaped value", ChannelOrders, `{"userId":"b\u006fb"}`, "bob", 0},
		{"user other case", ChannelOrders, `{"user\u0069d":"bob"}`, "", ReasonMissingUser},
		{"user escaped backslash is another name", ChannelOrders, `{"user\\Id":"bob","userId":"alice"}`, "alice", 0},
		{"user nested escaped", ChannelOrders, `{"metadata":{"user\u0049d":"bob"},"userId":"alice"}`, "alice", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecorder()
			router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
			router.Handle(c.channel, []byte(c.payload))
			calls := rec.snapshot()
			if c.want == "" {
				if len(calls) != 0 {
					t.Fatalf("Handle(%v, %s) published %+v; want nothing", c.channel, c.payload, calls)
				}
				if got := router.Rejects(c.channel, c.reason); got != 1 {
					t.Fatalf("Handle(%v, %s): Rejects(%v) = %d; want 1 (stats %+v)", c.channel, c.payload, c.reason, got, router.Stats().Rejected[c.channel])
				}
				return
			}
			if len(calls) != 1 || calls[0].key != c.want || calls[0].message != c.payload {
				t.Fatalf("Handle(%v, %s) = %+v; want one message for %q", c.channel, c.payload, calls, c.want)
			}
			key := "userId"
			if c.channel == ChannelTicks {
				key = "symbol"
			}
			if parsed := parsedMember(t, c.payload, key); parsed != c.want {
				t.Fatalf("Handle(%v, %s) routed to %q; JSON.parse reads %s %v", c.channel, c.payload, c.want, key, parsed)
			}
		})
	}
}

// Each element of a tick array is checked alone: an escaped duplicate costs
// only its own element.
func TestRouterTickArrayEscapedDuplicate(t *testing.T) {
	router, rec := newTestRouter(t)
	router.Handle(ChannelTicks, []byte(`[{"\u0073ymbol":"ETHUSD","symbol":"BTCUSD"},{"\u0073ymbol":"SOLUSD"}]`))
	calls := rec.snapshot()
	if len(calls) != 1 || calls[0].key != "SOLUSD" || calls[0].message != `{"\u0073ymbol":"SOLUSD"}` {
		t.Fatalf("Handle(array) calls = %+v; want one tick of SOLUSD", calls)
	}
	if got := router.Rejects(ChannelTicks, ReasonDuplicateKey); got != 1 {
		t.Fatalf("Rejects(ticks, duplicate_key) = %d; want 1", got)
	}
}

// A snapshot position is checked like a position:update: an escaped
// duplicate userId cannot pass it off as the requesting user's.
func TestSeedPositionsEscapedDuplicateUser(t *testing.T) {
	router, _ := newTestRouter(t)
	positions := [][]byte{
		[]byte(`{"positionId":"p1","user\u0049d":"mallory","userId":"alice","symbol":"BTCUSD","side":"LONG","quantity":1,"entryPrice":2}`),
		[]byte(`{"positionId":"p2","user\u0049d":"alice","symbol":"BTCUSD","side":"LONG","quantity":1,"entryPrice":2}`),
	}
	accepted := router.seedPositions("alice", positions, true)
	if len(accepted) != 1 || string(accepted[0]) != string(positions[1]) {
		t.Fatalf("seedPositions accepted %q; want only p2", accepted)
	}
	if got := router.Rejects(ChannelPositions, ReasonDuplicateKey); got != 1 {
		t.Fatalf("Rejects(positions, duplicate_key) = %d; want 1", got)
	}
}

// JSON forbids raw control characters and escapes other than its own
// inside strings, and JSON.parse refuses them; white space between tokens
// is fine.
func TestRouterStringContents(t *testing.T) {
	cases := []struct {
		name    string
		channel Channel
		payload string
		routed  bool
	}{
		{"control character in a value", ChannelOrders, "{\"userId\":\"u1\",\"note\":\"a\x01b\"}", false},
		{"control character in the user id", ChannelOrders, "{\"userId\":\"u\x1f\"}", false},
		{"newline in a value", ChannelTicks, "{\"symbol\":\"BTCUSD\",\"note\":\"a\nb\"}", false},
		{"tab in a name", ChannelTicks, "{\"symbol\":\"BTCUSD\",\"a\tb\":1}", false},
		{"in a tick array", ChannelTicks, "[{\"symbol\":\"BTCUSD\"},{\"symbol\":\"ETHUSD\",\"x\":\"\x00\"}]", false},
		{"escaped newline", ChannelOrders, "{\"userId\":\"u1\",\"note\":\"a\\\nb\"}", false},
		{"escaped zero", ChannelOrders, `{"userId":"u1","note":"\0"}`, false},
		{"hexadecimal escape", ChannelNotifications, `{"userId":"u1","note":"\x41"}`, false},
		{"short unicode escape", ChannelTicks, `{"symbol":"BTCUSD","note":"\u41"}`, false},
		{"capital unicode escape", ChannelTicks, `{"symbol":"BTCUSD","\U0041":1}`, false},
		{"single quote escape", ChannelOrders, `{"userId":"u1","note":"\'"}`, false},
		{"every JSON escape", ChannelOrders, `{"userId":"u1","note":"\"\\\/\b\f\n\r\t\u00e9\ud800"}`, true},
		{"pretty-printed", ChannelTicks, "{\n\t\"symbol\": \"BTCUSD\",\r\n\t\"price\": 1\n}\n", true},
		{"DEL is not a control character for JSON", ChannelOrders, "{\"userId\":\"u\x7f\"}", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			router, rec := newTestRouter(t)
			router.Handle(c.channel, []byte(c.payload))
			if routed := len(rec.snapshot()) > 0; routed != c.routed {
				t.Fatalf("Handle(%v, %q) published %+v; want published %v", c.channel, c.payload, rec.snapshot(), c.routed)
			}
			if !c.routed && router.Rejects(c.channel, ReasonInvalidJSON) != 1 {
				t.Fatalf("Handle(%v, %q) stats %+v; want one invalid_json", c.channel, c.payload, router.Stats().Rejected[c.channel])
			}
		})
	}
}

func TestHasControlByte(t *testing.T) {
	for _, background := range []byte{' ', 'a', 0x7f, 0x80, 0xc3, 0xff} {
		for length := range 20 {
			data := bytes.Repeat([]byte{background}, length)
			if hasControlByte(data) {
				t.Fatalf("hasControlByte(%q) = true", data)
			}
			for position := range length {
				for value := range 256 {
					data[position] = byte(value)
					if got, want := hasControlByte(data), value < 0x20; got != want {
						t.Fatalf("hasControlByte(%q) = %v; want %v", data, got, want)
					}
				}
				data[position] = background
			}
		}
	}
}

// A tick's price is read as JSON.parse reads it: the last top-level
// "price", however its name is written, its text kept as sent.
func TestDecodeTickPrice(t *testing.T) {
	cases := []struct {
		name     string
		tick     string
		hasPrice bool
		price    float64
		raw      string
		reason   Reason // when rejected
	}{
		{"plain", `{"symbol":"A","price":50000.5}`, true, 50000.5, `50000.5`, 0},
		{"exponent kept as written", `{"symbol":"A","price":5.0e4}`, true, 50000, `5.0e4`, 0},
		{"negative", `{"symbol":"A","price":-0.5}`, true, -0.5, `-0.5`, 0},
		{"escaped name", `{"symbol":"A","pr\u0069ce":3}`, true, 3, `3`, 0},
		{"the last of two", `{"price":1,"symbol":"A","price":2}`, true, 2, `2`, 0},
		{"nested only", `{"symbol":"A","x":{"price":1}}`, false, 0, ``, 0},
		{"none", `{"symbol":"A"}`, false, 0, ``, 0},
		{"string", `{"symbol":"A","price":"1"}`, false, 0, ``, ReasonInvalidPrice},
		{"null", `{"symbol":"A","price":null}`, false, 0, ``, ReasonInvalidPrice},
		{"infinite", `{"symbol":"A","price":1e400}`, false, 0, ``, ReasonInvalidPrice},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			router, _ := newTestRouter(t)
			fields, reason, ok := router.decodeTick([]byte(c.tick))
			if c.reason != 0 {
				if ok || reason != c.reason {
					t.Fatalf("decodeTick(%s) = %+v, %v, %v; want %v", c.tick, fields, reason, ok, c.reason)
				}
				return
			}
			if !ok || fields.hasPrice != c.hasPrice || fields.price != c.price || string(fields.priceRaw) != c.raw {
				t.Fatalf("decodeTick(%s) = %+v (raw %q), %v, %v; want price %v (%q)", c.tick, fields, fields.priceRaw, reason, ok, c.price, c.raw)
			}
		})
	}
}
