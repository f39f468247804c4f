package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Event
		wantErr error
	}{
		{name: "name only", input: `["subscribe:orders"]`, want: Event{Name: "subscribe:orders"}},
		{name: "one argument", input: `["subscribe:market",{"symbols":["BTCUSD"]}]`, want: Event{Name: "subscribe:market", Args: [][]byte{[]byte(`{"symbols":["BTCUSD"]}`)}}},
		{name: "arguments with spaces", input: " [ \"e\" , 1 ,\n[2] , \"x\" ] ", want: Event{Name: "e", Args: [][]byte{[]byte("1"), []byte("[2]"), []byte(`"x"`)}}},
		{name: "escaped name", input: `["a\"b\u00e9"]`, want: Event{Name: "a\"bé"}},
		{name: "empty name", input: `[""]`, want: Event{Name: ""}},
		{name: "nil", input: "", wantErr: ErrInvalidPayload},
		{name: "empty array", input: `[]`, wantErr: ErrInvalidPayload},
		{name: "object", input: `{"a":1}`, wantErr: ErrInvalidPayload},
		{name: "numeric name", input: `[1,"a"]`, wantErr: ErrInvalidEventName},
		{name: "numeric name then garbage", input: `[1,x]`, wantErr: ErrInvalidPayload},
		{name: "null name", input: `[null]`, wantErr: ErrInvalidPayload},
		{name: "reserved", input: `["disconnect"]`, wantErr: ErrReservedEvent},
		{name: "reserved then garbage", input: `["disconnect",]`, wantErr: ErrInvalidPayload},
		{name: "trailing comma", input: `["a",]`, wantErr: ErrInvalidPayload},
		{name: "unclosed", input: `["a",1`, wantErr: ErrInvalidPayload},
		{name: "garbage after", input: `["a"]]`, wantErr: ErrInvalidPayload},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := ParseEvent([]byte(test.input))
			if !errors.Is(err, test.wantErr) || !reflect.DeepEqual(got, test.want) {
				t.Errorf("ParseEvent(%q) = %+v, %v; want %+v, %v", test.input, got, err, test.want, test.wantErr)
			}
		})
	}
}

func TestAppendServerPackets(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{name: "event", got: AppendEvent(nil, "/", "market:data", []byte(`{"symbol":"BTCUSD","price":1}`)), want: `42["market:data",{"symbol":"BTCUSD","price":1}]`},
		{name: "event no payload", got: AppendEvent(nil, "", "ping", nil), want: `42["ping"]`},
		{name: "event namespace", got: AppendEvent(nil, "/admin", "a\"b", []byte(`1`)), want: `42/admin,["a\"b",1]`},
		{name: "ack", got: AppendAck(nil, "/", 12, []byte(`{"ok":true}`)), want: `4312[{"ok":true}]`},
		{name: "ack namespace no payload", got: AppendAck(nil, "/admin", 0, nil), want: `43/admin,0[]`},
		{name: "connect", got: AppendConnect(nil, "/", "oSO0OpakMV_3jnilAAAA"), want: `40{"sid":"oSO0OpakMV_3jnilAAAA"}`},
		{name: "connect namespace", got: AppendConnect(nil, "/admin", "x"), want: `40/admin,{"sid":"x"}`},
		{name: "connect recoverable", got: AppendConnectRecoverable(nil, "/", "oSO0OpakMV_3jnilAAAA", "p\"d"), want: `40{"sid":"oSO0OpakMV_3jnilAAAA","pid":"p\"d"}`},
		{name: "connect error", got: AppendConnectError(nil, "/", []byte(`{"message":"Authentication failed","data":{"code":"TOKEN_MISSING"}}`)), want: `44{"message":"Authentication failed","data":{"code":"TOKEN_MISSING"}}`},
		{name: "connect error namespace", got: AppendConnectError(nil, "/admin", []byte(`{"message":"x"}`)), want: `44/admin,{"message":"x"}`},
		{name: "disconnect", got: AppendDisconnect(nil, "/"), want: `41`},
		{name: "disconnect namespace", got: AppendDisconnect(nil, "/admin"), want: `41/admin,`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if string(test.got) != test.want {
				t.Fatalf("got %q; want %q", test.got, test.want)
			}
			// Every server packet is a valid Engine.IO message holding a valid Socket.IO packet.
			message, err := ParsePacket(test.got)
			if err != nil || message.Type != PacketMessage {
				t.Fatalf("ParsePacket(%q) = %+v, %v; want a message", test.got, message, err)
			}
			if p, err := ParseSocketPacket(message.Data); err != nil {
				t.Errorf("ParseSocketPacket(%q) = %+v, %v; want no error", message.Data, p, err)
			}
		})
	}
}

func TestEventRoundTrip(t *testing.T) {
	for _, name := range []string{"market:data", "", "é\n\"\\\x00", "a\xffb"} {
		for _, payload := range [][]byte{nil, []byte(`{"a":[1,2]}`), []byte(`"s"`)} {
			encoded := AppendEvent(nil, "/chat", name, payload)
			message, _ := ParsePacket(encoded)
			p, err := ParseSocketPacket(message.Data)
			if err != nil || p.Type != SocketEvent || p.Namespace != "/chat" || p.ID != NoAckID {
				t.Fatalf("ParseSocketPacket(%q) = %+v, %v; want an EVENT on /chat", message.Data, p, err)
			}
			event, err := ParseEvent(p.Data)
			wantName := string([]rune(name)) // invalid UTF-8 goes out as U+FFFD
			if err != nil || event.Name != wantName || len(event.Args) != len(bytesArgs(payload)) ||
				(payload != nil && !bytes.Equal(event.Args[0], payload)) {
				t.Errorf("ParseEvent(%q) = %+v, %v; want name %q and args %q", p.Data, event, err, wantName, payload)
			}
		}
	}
}

// bytesArgs is the argument list AppendEvent writes for payload.
func bytesArgs(payload []byte) [][]byte {
	if payload == nil {
		return nil
	}
	return [][]byte{payload}
}

func FuzzParseEvent(f *testing.F) {
	for _, seed := range []string{`["a"]`, `["subscribe:market",{"symbols":["BTCUSD"]}]`, `[1]`, `[]`, `["\u0063onnect"]`, ` [ "e" , 1 ] `, `["a",]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		event, err := ParseEvent(input)
		var raw []json.RawMessage
		jsonErr := json.Unmarshal(input, &raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidPayload) && !errors.Is(err, ErrInvalidEventName) && !errors.Is(err, ErrReservedEvent) {
				t.Fatalf("ParseEvent(%q) = %v; want a wire error", input, err)
			}
			if jsonErr != nil && !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("ParseEvent(%q) = %v; want %v for invalid JSON", input, err, ErrInvalidPayload)
			}
			return
		}
		if jsonErr != nil || len(raw) != 1+len(event.Args) {
			t.Fatalf("ParseEvent(%q) = %+v; json.Unmarshal gives %d elements, %v", input, event, len(raw), jsonErr)
		}
		var name string
		if err := json.Unmarshal(raw[0], &name); err != nil || utf8.Valid(raw[0]) && name != event.Name {
			t.Fatalf("ParseEvent(%q).Name = %q; want %q (%v)", input, event.Name, name, err)
		}
		for i, argument := range event.Args {
			if !bytes.Equal(argument, raw[i+1]) {
				t.Fatalf("ParseEvent(%q).Args[%d] = %q; want %q", input, i, argument, raw[i+1])
			}
		}
		// An event with at most one argument is what AppendEvent writes: it must come back.
		if len(event.Args) <= 1 && utf8.ValidString(event.Name) {
			var payload []byte
			if len(event.Args) == 1 {
				payload = event.Args[0]
			}
			encoded := AppendEvent(nil, "/", event.Name, payload)
			again, err := ParseEvent(encoded[2:])
			if err != nil || !reflect.DeepEqual(again, event) {
				t.Fatalf("ParseEvent(%q) = %+v, %v; want %+v", encoded[2:], again, err, event)
			}
		}
	})
}
