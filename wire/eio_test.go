package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParsePacket(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Packet
		wantErr error
	}{
		{name: "empty", input: "", wantErr: ErrEmptyPacket},
		{name: "open", input: "0", want: Packet{Type: PacketOpen}},
		{name: "close", input: "1", want: Packet{Type: PacketClose}},
		{name: "ping", input: "2", want: Packet{Type: PacketPing}},
		{name: "probe ping", input: "2probe", want: Packet{Type: PacketPing, Data: []byte("probe")}},
		{name: "pong", input: "3probe", want: Packet{Type: PacketPong, Data: []byte("probe")}},
		{name: "message", input: "42[\"a\"]", want: Packet{Type: PacketMessage, Data: []byte(`2["a"]`)}},
		{name: "upgrade", input: "5", want: Packet{Type: PacketUpgrade}},
		{name: "noop", input: "6", want: Packet{Type: PacketNoop}},
		{name: "type 7", input: "7", wantErr: ErrInvalidPacketType},
		{name: "base64 marker", input: "bAQI=", wantErr: ErrInvalidPacketType},
		{name: "slash", input: "/", wantErr: ErrInvalidPacketType},
		{name: "space", input: " 4", wantErr: ErrInvalidPacketType},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := ParsePacket([]byte(test.input))
			if !errors.Is(err, test.wantErr) || !reflect.DeepEqual(got, test.want) {
				t.Errorf("ParsePacket(%q) = %+v, %v; want %+v, %v", test.input, got, err, test.want, test.wantErr)
			}
		})
	}
}

func TestAppendPacket(t *testing.T) {
	tests := []struct {
		name   string
		packet Packet
		want   string
	}{
		{name: "ping", packet: Packet{Type: PacketPing}, want: "2"},
		{name: "pong probe", packet: Packet{Type: PacketPong, Data: []byte("probe")}, want: "3probe"},
		{name: "message", packet: Packet{Type: PacketMessage, Data: []byte("hello")}, want: "4hello"},
		{name: "binary", packet: Packet{Type: PacketMessage, Data: []byte{1, 2, 3, 4}, Binary: true}, want: "bAQIDBA=="},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			if got := AppendPacket([]byte("x"), test.packet); string(got) != "x"+test.want {
				t.Errorf("AppendPacket(%+v) = %q; want %q", test.packet, got, "x"+test.want)
			}
		})
	}
}

func TestPacketRoundTrip(t *testing.T) {
	for packetType := PacketOpen; packetType <= PacketNoop; packetType++ {
		for _, data := range []string{"", "probe", "2[\"x\",{}]", "\x1e\x00"} {
			packet := Packet{Type: packetType, Data: []byte(data)}
			encoded := AppendPacket(nil, packet)
			got, err := ParsePacket(encoded)
			if err != nil || got.Type != packetType || !bytes.Equal(got.Data, packet.Data) {
				t.Errorf("ParsePacket(%q) = %+v, %v; want %+v", encoded, got, err, packet)
			}
		}
	}
}

func TestPacketTypeString(t *testing.T) {
	if got := PacketMessage.String(); got != "message" {
		t.Errorf("PacketMessage.String() = %q; want %q", got, "message")
	}
	if got := PacketType('9').String(); got != "PacketType(57)" {
		t.Errorf("PacketType('9').String() = %q; want %q", got, "PacketType(57)")
	}
}

func TestAppendOpen(t *testing.T) {
	tests := []struct {
		name string
		open OpenInfo
		want string
	}{
		{
			name: "polling",
			open: OpenInfo{SID: "lv_VI97HAXpY6yYWAAAC", Upgrades: []string{"websocket"},
				PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, MaxPayload: 1000000},
			want: `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
		},
		{
			name: "websocket nil upgrades",
			open: OpenInfo{SID: "a", PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxPayload: 1e6},
			want: `0{"sid":"a","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`,
		},
		{
			name: "escaped sid",
			open: OpenInfo{SID: "a\"b", Upgrades: []string{"x", "y"}},
			want: `0{"sid":"a\"b","upgrades":["x","y"],"pingInterval":0,"pingTimeout":0,"maxPayload":0}`,
		},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got := AppendOpen(nil, test.open)
			if string(got) != test.want {
				t.Fatalf("AppendOpen(%+v) = %s; want %s", test.open, got, test.want)
			}
			packet, err := ParsePacket(got)
			if err != nil || packet.Type != PacketOpen {
				t.Fatalf("ParsePacket(%q) = %+v, %v; want an open packet", got, packet, err)
			}
			parsed, err := ParseOpen(packet.Data)
			want := test.open
			if want.Upgrades == nil {
				want.Upgrades = []string{}
			}
			if err != nil || !reflect.DeepEqual(parsed, want) {
				t.Errorf("ParseOpen(%q) = %+v, %v; want %+v", packet.Data, parsed, err, want)
			}
		})
	}
}

func TestParseOpenInvalid(t *testing.T) {
	for _, input := range []string{``, `{}`, `[]`, `{"sid":1}`, `{"sid":"a"`} {
		if got, err := ParseOpen([]byte(input)); !errors.Is(err, ErrInvalidOpen) {
			t.Errorf("ParseOpen(%q) = %+v, %v; want %v", input, got, err, ErrInvalidOpen)
		}
	}
}

func FuzzParsePacket(f *testing.F) {
	for _, seed := range []string{"", "0", "2probe", "3probe", "42[\"a\",1]", "5", "6", "7", "b", "bAQI="} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		packet, err := ParsePacket(input)
		if err != nil {
			if !errors.Is(err, ErrEmptyPacket) && !errors.Is(err, ErrInvalidPacketType) {
				t.Fatalf("ParsePacket(%q) = %v; want a wire error", input, err)
			}
			return
		}
		if encoded := AppendPacket(nil, packet); !bytes.Equal(encoded, input) {
			t.Fatalf("AppendPacket(ParsePacket(%q)) = %q; want the input back", input, encoded)
		}
	})
}
