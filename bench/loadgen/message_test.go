package main

import (
	"bytes"
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
	for _, seed := range []string{`0{"sid":"x"}`, `2`, `40{}`, `42["market:data",{"run":1,"seq":2}]`, `4212["x",1]`, `431[{"ok":true}]`, `44{}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		message, err := parseMessage(payload)
		if err != nil {
			return
		}
		// Everything returned must alias the input.
		for _, part := range [][]byte{message.event, message.body} {
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
