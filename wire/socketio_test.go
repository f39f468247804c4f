package wire

import (
	"bytes"
	"errors"
	"testing"
)

// samePacket compares two packets, treating nil and empty Data alike.
func samePacket(a, b SocketPacket) bool {
	return a.Type == b.Type && a.Namespace == b.Namespace && a.ID == b.ID &&
		bytes.Equal(a.Data, b.Data) && a.Attachments == b.Attachments
}

// packet builds a SocketPacket with the parser's defaults.
func packet(socketType SocketType, namespace string, id int64, data string) SocketPacket {
	p := SocketPacket{Type: socketType, Namespace: namespace, ID: id}
	if data != "" {
		p.Data = []byte(data)
	}
	return p
}

func TestParseSocketPacket(t *testing.T) {
	binary := func(p SocketPacket, attachments int) SocketPacket {
		p.Attachments = attachments
		return p
	}
	tests := []struct {
		name    string
		input   string
		want    SocketPacket
		wantErr error
	}{
		// Socket.IO v5 spec examples.
		{name: "connect main", input: "0", want: packet(SocketConnect, "/", NoAckID, "")},
		{name: "connect admin with auth", input: `0/admin,{"token":"123"}`, want: packet(SocketConnect, "/admin", NoAckID, `{"token":"123"}`)},
		{name: "connect answer", input: `0{"sid":"oSO0OpakMV_3jnilAAAA"}`, want: packet(SocketConnect, "/", NoAckID, `{"sid":"oSO0OpakMV_3jnilAAAA"}`)},
		{name: "disconnect admin", input: "1/admin,", want: packet(SocketDisconnect, "/admin", NoAckID, "")},
		{name: "event", input: `2["hello",1]`, want: packet(SocketEvent, "/", NoAckID, `["hello",1]`)},
		{name: "event with ack and namespace", input: `2/admin,456["project:delete",123]`, want: packet(SocketEvent, "/admin", 456, `["project:delete",123]`)},
		{name: "ack", input: `3/admin,456[]`, want: packet(SocketAck, "/admin", 456, `[]`)},
		{name: "connect error", input: `4{"message":"Not authorized"}`, want: packet(SocketConnectError, "/", NoAckID, `{"message":"Not authorized"}`)},
		{name: "connect error string", input: `4"nope"`, want: packet(SocketConnectError, "/", NoAckID, `"nope"`)},
		{name: "binary event", input: `51-["hello",{"_placeholder":true,"num":0}]`, want: binary(packet(SocketBinaryEvent, "/", NoAckID, `["hello",{"_placeholder":true,"num":0}]`), 1)},
		{name: "binary ack", input: `61-/admin,456[{"_placeholder":true,"num":0}]`, want: binary(packet(SocketBinaryAck, "/admin", 456, `[{"_placeholder":true,"num":0}]`), 1)},

		// Reference decodeString corners.
		{name: "event without payload", input: "2", want: packet(SocketEvent, "/", NoAckID, "")},
		{name: "ack id without payload", input: "212", want: packet(SocketEvent, "/", 12, "")},
		{name: "namespace to end", input: `2/chat["a"]`, want: packet(SocketEvent, `/chat["a"]`, NoAckID, "")},
		{name: "explicit main namespace", input: `2/,["a"]`, want: packet(SocketEvent, "/", NoAckID, `["a"]`)},
		{name: "numeric event name", input: `2[1,"a"]`, want: packet(SocketEvent, "/", NoAckID, `[1,"a"]`)},
		{name: "negative numeric event name", input: `2[-1.5]`, want: packet(SocketEvent, "/", NoAckID, `[-1.5]`)},
		{name: "leading zeros ack id", input: `2007["a"]`, want: packet(SocketEvent, "/", 7, `["a"]`)},
		{name: "space after ack id", input: `21 ["a"] `, want: packet(SocketEvent, "/", 1, ` ["a"] `)},
		{name: "max safe ack id", input: `39007199254740991[]`, want: packet(SocketAck, "/", 1<<53-1, `[]`)},
		{name: "zero attachments", input: `50-["a"]`, want: binary(packet(SocketBinaryEvent, "/", NoAckID, `["a"]`), 0)},
		{name: "attachments leading zero", input: `502-["a"]`, want: binary(packet(SocketBinaryEvent, "/", NoAckID, `["a"]`), 2)},
		{name: "binary without payload", input: `51-`, want: binary(packet(SocketBinaryEvent, "/", NoAckID, ""), 1)},
		{name: "reserved name as argument", input: `2["a","connect"]`, want: packet(SocketEvent, "/", NoAckID, `["a","connect"]`)},
		{name: "reserved name other case", input: `2["Connect"]`, want: packet(SocketEvent, "/", NoAckID, `["Connect"]`)},
		{name: "unicode namespace", input: `2/ü,["é"]`, want: packet(SocketEvent, "/ü", NoAckID, `["é"]`)},

		// Types.
		{name: "empty", input: "", wantErr: ErrInvalidSocketType},
		{name: "type 7", input: "7", wantErr: ErrInvalidSocketType},
		{name: "type letter", input: "a", wantErr: ErrInvalidSocketType},
		{name: "type space", input: ` {}`, wantErr: ErrInvalidSocketType},

		// Attachments.
		{name: "attachments missing dash", input: `51["a"]`, wantErr: ErrInvalidAttachments},
		{name: "attachments empty", input: `5-["a"]`, wantErr: ErrInvalidAttachments},
		{name: "attachments not a number", input: `5x-["a"]`, wantErr: ErrInvalidAttachments},
		{name: "attachments fraction", input: `51.5-["a"]`, wantErr: ErrInvalidAttachments},
		{name: "attachments huge", input: `59007199254740992-["a"]`, wantErr: ErrInvalidAttachments},
		{name: "attachments only type", input: `5`, wantErr: ErrInvalidAttachments},

		// Ack ids.
		{name: "ack id over 2^53", input: `29007199254740992["a"]`, wantErr: ErrInvalidAckID},
		{name: "ack id over int64", input: `299999999999999999999999["a"]`, wantErr: ErrInvalidAckID},
		{name: "space where ack id starts", input: `2 ["a"]`, wantErr: ErrInvalidAckID},
		{name: "tab after namespace", input: "2/a,\t[\"a\"]", wantErr: ErrInvalidAckID},

		// Payloads.
		{name: "not JSON", input: `2[a]`, wantErr: ErrInvalidPayload},
		{name: "truncated JSON", input: `2["a"`, wantErr: ErrInvalidPayload},
		{name: "comma without namespace", input: `2,["a"]`, wantErr: ErrInvalidPayload},
		{name: "connect array", input: `0[]`, wantErr: ErrInvalidPayload},
		{name: "connect null", input: `0null`, wantErr: ErrInvalidPayload},
		{name: "connect string", input: `0"a"`, wantErr: ErrInvalidPayload},
		{name: "disconnect with payload", input: `1{}`, wantErr: ErrInvalidPayload},
		{name: "connect error array", input: `4[]`, wantErr: ErrInvalidPayload},
		{name: "connect error number", input: `41`, want: packet(SocketConnectError, "/", 1, "")},
		{name: "event object", input: `2{}`, wantErr: ErrInvalidPayload},
		{name: "event empty array", input: `2[]`, wantErr: ErrInvalidPayload},
		{name: "event name object", input: `2[{}]`, wantErr: ErrInvalidPayload},
		{name: "event name null", input: `2[null]`, wantErr: ErrInvalidPayload},
		{name: "ack object", input: `3{}`, wantErr: ErrInvalidPayload},
		{name: "binary ack object", input: `61-{}`, wantErr: ErrInvalidPayload},
		{name: "trailing garbage", input: `2["a"]x`, wantErr: ErrInvalidPayload},
		{name: "whitespace payload", input: `21 `, wantErr: ErrInvalidPayload},
		{name: "invalid UTF-8", input: "2[\"\xff\"]", wantErr: ErrInvalidUTF8},

		// Reserved event names.
		{name: "reserved connect", input: `2["connect"]`, wantErr: ErrReservedEvent},
		{name: "reserved connect_error", input: `2["connect_error",{}]`, wantErr: ErrReservedEvent},
		{name: "reserved disconnect", input: `2/a,1["disconnect"]`, wantErr: ErrReservedEvent},
		{name: "reserved disconnecting", input: `2["disconnecting"]`, wantErr: ErrReservedEvent},
		{name: "reserved newListener", input: `2["newListener"]`, wantErr: ErrReservedEvent},
		{name: "reserved removeListener", input: `51-["removeListener"]`, wantErr: ErrReservedEvent},
		{name: "reserved escaped", input: `2["\u0063onnect"]`, wantErr: ErrReservedEvent},
		{name: "reserved in spaces", input: `2[ "connect" ]`, wantErr: ErrReservedEvent},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := ParseSocketPacket([]byte(test.input))
			if !errors.Is(err, test.wantErr) || !samePacket(got, test.want) {
				t.Errorf("ParseSocketPacket(%q) = %+v, %v; want %+v, %v", test.input, got, err, test.want, test.wantErr)
			}
		})
	}
}

func TestAppendSocketPacket(t *testing.T) {
	tests := []struct {
		name   string
		packet SocketPacket
		want   string
	}{
		{name: "connect", packet: packet(SocketConnect, "/", NoAckID, `{"sid":"x"}`), want: `0{"sid":"x"}`},
		{name: "empty namespace", packet: packet(SocketDisconnect, "", NoAckID, ""), want: `1`},
		{name: "event with ack", packet: packet(SocketEvent, "/admin", 456, `["a"]`), want: `2/admin,456["a"]`},
		{name: "ack id zero", packet: packet(SocketAck, "/", 0, `[]`), want: `30[]`},
		{name: "binary", packet: SocketPacket{Type: SocketBinaryEvent, Namespace: "/", ID: NoAckID, Data: []byte(`["a",{"_placeholder":true,"num":0}]`), Attachments: 1}, want: `51-["a",{"_placeholder":true,"num":0}]`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got := AppendSocketPacket(nil, test.packet)
			if string(got) != test.want {
				t.Fatalf("AppendSocketPacket(%+v) = %q; want %q", test.packet, got, test.want)
			}
			parsed, err := ParseSocketPacket(got)
			want := test.packet
			if want.Namespace == "" {
				want.Namespace = "/"
			}
			if err != nil || !samePacket(parsed, want) {
				t.Errorf("ParseSocketPacket(%q) = %+v, %v; want %+v", got, parsed, err, want)
			}
		})
	}
}

func TestSocketTypeString(t *testing.T) {
	if got := SocketConnectError.String(); got != "CONNECT_ERROR" {
		t.Errorf("SocketConnectError.String() = %q; want %q", got, "CONNECT_ERROR")
	}
	if got := SocketType(9).String(); got != "SocketType(9)" {
		t.Errorf("SocketType(9).String() = %q; want %q", got, "SocketType(9)")
	}
}

// socketErrors are the errors ParseSocketPacket may return.
var socketErrors = []error{ErrInvalidSocketType, ErrInvalidAttachments, ErrInvalidAckID, ErrInvalidPayload, ErrReservedEvent, ErrInvalidUTF8}

func FuzzParseSocketPacket(f *testing.F) {
	for _, seed := range []string{
		"0", `0/admin,{"token":"123"}`, "1/admin,", `2["hello",1]`, `2/admin,456["project:delete",123]`,
		`3/admin,456[]`, `4{"message":"x"}`, `51-["hello",{"_placeholder":true,"num":0}]`, `61-/a,1[{}]`,
		`2["\u0063onnect"]`, `2/chat["a"]`, `2007["a"]`, `21 ["a"]`, `2 ["a"]`, "5-", `2[1]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		p, err := ParseSocketPacket(input)
		if err != nil {
			for _, known := range socketErrors {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("ParseSocketPacket(%q) = %v; want a wire error", input, err)
		}
		encoded := AppendSocketPacket(nil, p)
		again, err := ParseSocketPacket(encoded)
		if err != nil || !samePacket(again, p) {
			t.Fatalf("ParseSocketPacket(%q) = %+v, %v; want %+v (from %q)", encoded, again, err, p, input)
		}
		if p.Type == SocketEvent || p.Type == SocketBinaryEvent {
			event, err := ParseEvent(p.Data)
			if p.Data == nil && !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("ParseEvent(nil) = %+v, %v; want %v", event, err, ErrInvalidPayload)
			}
			if p.Data != nil && err != nil && !errors.Is(err, ErrInvalidEventName) {
				t.Fatalf("ParseEvent(%q) = %v after ParseSocketPacket(%q) accepted it", p.Data, err, input)
			}
		}
	})
}
