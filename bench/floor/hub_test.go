package main

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

func TestServerFrameReadsBack(t *testing.T) {
	for _, length := range []int{0, 1, 125, 126, 127, 65535, 65536, 200000} {
		payload := bytes.Repeat([]byte("x"), length)
		frame := serverFrame([]byte("42["), payload, []byte("]"))
		reader := bufio.NewReader(bytes.NewReader(frame))
		header, err := ws.ReadHeader(reader)
		if err != nil || !header.Fin || header.OpCode != ws.OpText || header.Masked || header.Length != int64(length+4) {
			t.Fatalf("length %d: header %+v, %v", length, header, err)
		}
		body, _ := io.ReadAll(reader)
		if string(body) != "42["+string(payload)+"]" {
			t.Fatalf("length %d: body differs", length)
		}
	}
}

func TestParseEvent(t *testing.T) {
	cases := []struct {
		in        string
		ackID     string
		event     string
		arguments int
		ok        bool
	}{
		{`42["subscribe:market",{"symbols":["BTCUSD"]}]`, "", "subscribe:market", 1, true},
		{`421["subscribe:market",{"symbols":["a"]}]`, "1", "subscribe:market", 1, true},
		{`4217["subscribe:orders"]`, "17", "subscribe:orders", 0, true},
		{`42[]`, "", "", 0, false},
		{`42[1]`, "", "", 0, false},
		{`42["x"`, "", "", 0, false},
		{`40{}`, "", "", 0, false},
	}
	for _, tc := range cases {
		ackID, event, arguments, ok := parseEvent(tc.in)
		if ok != tc.ok || ackID != tc.ackID || event != tc.event || len(arguments) != tc.arguments {
			t.Errorf("parseEvent(%q) = %q, %q, %d args, %v; want %q, %q, %d, %v",
				tc.in, ackID, event, len(arguments), ok, tc.ackID, tc.event, tc.arguments, tc.ok)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(`421["subscribe:market",{"symbols":["BTCUSD"]}]`)
	f.Add(`42["x"]`)
	f.Fuzz(func(t *testing.T, text string) {
		ackID, _, _, ok := parseEvent(text)
		if ok && !strings.HasPrefix(text, "42"+ackID) {
			t.Fatalf("parseEvent(%q) ack id %q is not the packet's", text, ackID)
		}
	})
}
