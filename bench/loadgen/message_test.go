package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	cases := []struct {
		in    string
		kind  messageKind
		event string
		body  string
		ackID int64
	}{
		{`0{"sid":"x"}`, messageOpen, "", `{"sid":"x"}`, -1},
		{`2`, messagePing, "", "", -1},
		{`40{"sid":"a"}`, messageConnect, "", `{"sid":"a"}`, -1},
		{`44{"message":"Authentication failed"}`, messageConnectError, "", `{"message":"Authentication failed"}`, -1},
		{`41`, messageDisconnect, "", "", -1},
		{`42["market:data",{"a":1}]`, messageEvent, "market:data", `{"a":1}`, -1},
		{`42["ping"]`, messageEvent, "ping", "", -1},
		{`4212["x",1]`, messageEvent, "x", `1`, 12},
		{`431[{"ok":true}]`, messageAck, "", `{"ok":true}`, 1},
	}
	for _, tc := range cases {
		got, err := parseMessage([]byte(tc.in))
		if err != nil || got.kind != tc.kind || string(got.event) != tc.event || string(got.body) != tc.body || got.ackID != tc.ackID {
			t.Errorf("parseMessage(%q) = %+v (event %q body %q), %v; want kind %d event %q body %q ack %d",
				tc.in, got, got.event, got.body, err, tc.kind, tc.event, tc.body, tc.ackID)
		}
	}
	for _, bad := range []string{"", "4", `42`, `42[`, `42["x"`, `42[1]`, `42["x"1]`, `43999999999999999999[1]`} {
		if _, err := parseMessage([]byte(bad)); err == nil {
			t.Errorf("parseMessage(%q) = nil error", bad)
		}
	}
}

func TestParseMessageOffset(t *testing.T) {
	cases := []struct {
		in, body, offset string
		hasOffset        bool
	}{
		// The gateway's offsets, and the Node streams adapter's entry IDs.
		{`42["order:update",{"seq":1,"userId":"u1"},"s.1795968991310-0.0-0.0-0"]`, `{"seq":1,"userId":"u1"}`, "s.1795968991310-0.0-0.0-0", true},
		{`42["order:update",{"seq":1},"1795968991310-0"]`, `{"seq":1}`, "1795968991310-0", true},
		{`42["order:update",{"a":"x\",\"y"},"7-0"]`, `{"a":"x\",\"y"}`, "7-0", true},
		{`42["x",{},""]`, `{}`, "", true},
		{`42["x","a","b"]`, `"a"`, "b", true},
		// No offset: ticks, a lone argument, a string with an escape.
		{`42["market:data",{"symbol":"SYM1","seq":3}]`, `{"symbol":"SYM1","seq":3}`, "", false},
		{`42["x","lone"]`, `"lone"`, "", false},
		{`42["x",{"a":1},"a\"b"]`, `{"a":1},"a\"b"`, "", false},
		{`42["x",{"k":"v"}]`, `{"k":"v"}`, "", false},
	}
	for _, tc := range cases {
		got, err := parseMessage([]byte(tc.in))
		if err != nil || got.kind != messageEvent || string(got.body) != tc.body ||
			string(got.offset) != tc.offset || (got.offset != nil) != tc.hasOffset {
			t.Errorf("parseMessage(%q): body %q offset %q (nil %v), %v; want body %q offset %q (present %v)",
				tc.in, got.body, got.offset, got.offset == nil, err, tc.body, tc.offset, tc.hasOffset)
		}
	}
	// Acks never carry one.
	if got, _ := parseMessage([]byte(`431[{"ok":true},"x"]`)); got.offset != nil {
		t.Errorf("an ack returned offset %q", got.offset)
	}
}

func TestParseConnectAnswer(t *testing.T) {
	cases := []struct {
		body string
		want connectAnswer
	}{
		{`{"sid":"abc","pid":"p-1"}`, connectAnswer{sid: "abc", pid: "p-1"}},
		{`{"sid":"abc"}`, connectAnswer{sid: "abc"}},
		{`{}`, connectAnswer{}},
	}
	for _, tc := range cases {
		message, err := parseMessage([]byte("40" + tc.body))
		if err != nil || message.kind != messageConnect {
			t.Fatalf("parseMessage(40%s) = %+v, %v", tc.body, message, err)
		}
		if got := parseConnectAnswer(message.body); got != tc.want {
			t.Errorf("parseConnectAnswer(%s) = %+v; want %+v", tc.body, got, tc.want)
		}
	}
}

func TestConnectPayload(t *testing.T) {
	cases := []struct {
		token, pid, offset string
		want               map[string]string
	}{
		{"t", "", "", map[string]string{"token": "t"}},
		{"t", "p", "s.1-0.0-0.0-0", map[string]string{"token": "t", "pid": "p", "offset": "s.1-0.0-0.0-0"}},
		// Nothing received yet: the stock client sends the pid alone.
		{"t", "p", "", map[string]string{"token": "t", "pid": "p"}},
		// No session to recover: an offset alone means nothing.
		{"t", "", "7-0", map[string]string{"token": "t"}},
	}
	for _, tc := range cases {
		payload := connectPayload(tc.token, tc.pid, tc.offset)
		body, found := strings.CutPrefix(payload, "40")
		var got map[string]string
		if !found || json.Unmarshal([]byte(body), &got) != nil || !maps.Equal(got, tc.want) {
			t.Errorf("connectPayload(%q, %q, %q) = %s; want 40 and %v", tc.token, tc.pid, tc.offset, payload, tc.want)
		}
	}
}

func TestJSONFields(t *testing.T) {
	object := []byte(`{"symbol":"SYM7","xrun":5,"run":42,"seq":-3,"sentAt":1795632922626616176,"big":99999999999999999999,"esc":"a\"b"}`)
	if got, ok := jsonIntField(object, "run"); !ok || got != 42 {
		t.Errorf("run = %d, %v; want 42 (not xrun)", got, ok)
	}
	if got, ok := jsonIntField(object, "seq"); !ok || got != -3 {
		t.Errorf("seq = %d, %v", got, ok)
	}
	if got, ok := jsonIntField(object, "sentAt"); !ok || got != 1795632922626616176 {
		t.Errorf("sentAt = %d, %v", got, ok)
	}
	if _, ok := jsonIntField(object, "big"); ok {
		t.Error("an integer overflowing int64 parsed")
	}
	if got, ok := jsonStringField(object, "symbol"); !ok || string(got) != "SYM7" {
		t.Errorf("symbol = %q, %v", got, ok)
	}
	if _, ok := jsonStringField(object, "esc"); ok {
		t.Error("a string with an escape was returned undecoded")
	}
	if _, ok := jsonIntField(object, "missing"); ok {
		t.Error("missing field found")
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, seed := range []string{`0{"sid":"x"}`, `2`, `40{}`, `42["market:data",{"run":1,"seq":2}]`, `42["order:update",{"seq":2},"s.1-0.0-0.0-0"]`, `4212["x",1]`, `431[{"ok":true}]`, `44{}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		message, err := parseMessage(payload)
		if err != nil {
			return
		}
		// Everything returned must alias the input.
		if bytes.ContainsAny(message.offset, `"\`) {
			t.Fatalf("parseMessage(%q) returned offset %q with a quote or escape", payload, message.offset)
		}
		for _, part := range [][]byte{message.event, message.body, message.offset} {
			if len(part) > 0 && !bytes.Contains(payload, part) {
				t.Fatalf("parseMessage(%q) returned %q, not part of the input", payload, part)
			}
		}
		for _, key := range []string{"run", "seq", "sentAt", "symbol"} {
			jsonIntField(message.body, key)
			if value, ok := jsonStringField(message.body, key); ok && bytes.ContainsAny(value, `"\`) {
				t.Fatalf("jsonStringField(%q, %q) = %q with a quote or escape", message.body, key, value)
			}
		}
	})
}

func FuzzJSONIntField(f *testing.F) {
	f.Add([]byte(`{"seq":12}`), "seq")
	f.Add([]byte(`{"seq":-9223372036854775808}`), "seq")
	f.Fuzz(func(t *testing.T, object []byte, key string) {
		jsonIntField(object, key)
		jsonStringField(object, key)
	})
}
