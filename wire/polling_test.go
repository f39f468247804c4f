package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// decodeAll collects the packets DecodePayload hands out, copying Data.
func decodeAll(body []byte) ([]Packet, error) {
	var packets []Packet
	err := DecodePayload(body, func(p Packet) error {
		p.Data = bytes.Clone(p.Data)
		packets = append(packets, p)
		return nil
	})
	return packets, err
}

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    []Packet
		wantErr error
	}{
		{name: "one", input: "4hello", want: []Packet{{Type: PacketMessage, Data: []byte("hello")}}},
		{name: "spec example", input: "4hello\x1ebAQIDBA==", want: []Packet{
			{Type: PacketMessage, Data: []byte("hello")},
			{Type: PacketMessage, Data: []byte{1, 2, 3, 4}, Binary: true},
		}},
		{name: "three", input: "2\x1e42[\"a\"]\x1e6", want: []Packet{
			{Type: PacketPing}, {Type: PacketMessage, Data: []byte(`2["a"]`)}, {Type: PacketNoop},
		}},
		{name: "empty binary", input: "b", want: []Packet{{Type: PacketMessage, Data: []byte{}, Binary: true}}},
		{name: "empty body", input: "", wantErr: ErrInvalidPayload},
		{name: "empty segment", input: "4a\x1e\x1e4b", want: []Packet{{Type: PacketMessage, Data: []byte("a")}}, wantErr: ErrInvalidPayload},
		{name: "trailing separator", input: "4a\x1e", want: []Packet{{Type: PacketMessage, Data: []byte("a")}}, wantErr: ErrInvalidPayload},
		{name: "bad type", input: "9", wantErr: ErrInvalidPayload},
		{name: "bad base64", input: "b!!!!", wantErr: ErrInvalidPayload},
		{name: "unpadded base64", input: "bAQI", wantErr: ErrInvalidPayload},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := decodeAll([]byte(test.input))
			if !errors.Is(err, test.wantErr) || !reflect.DeepEqual(got, test.want) {
				t.Errorf("DecodePayload(%q) = %+v, %v; want %+v, %v", test.input, got, err, test.want, test.wantErr)
			}
		})
	}
}

func TestDecodePayloadStopsAtCallbackError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := DecodePayload([]byte("2\x1e3\x1e4"), func(Packet) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Errorf("DecodePayload = %v after %d calls; want %v after 2", err, calls, stop)
	}
}

func TestAppendPayload(t *testing.T) {
	prefix := []byte("HTTP/1.1 200 OK\r\n\r\n")
	start := len(prefix)
	body := AppendPayloadPacket(prefix, start, Packet{Type: PacketMessage, Data: []byte("hello")})
	body = AppendPayloadPacket(body, start, Packet{Type: PacketMessage, Data: []byte{1, 2, 3, 4}, Binary: true})
	body = AppendPayloadText(body, start, []byte(`42["x"]`))
	want := string(prefix) + "4hello\x1ebAQIDBA==\x1e42[\"x\"]"
	if string(body) != want {
		t.Fatalf("payload = %q; want %q", body, want)
	}
	if got := AppendPayloadText(nil, 0, []byte("2")); string(got) != "2" {
		t.Errorf("AppendPayloadText(nil, 0, \"2\") = %q; want %q", got, "2")
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	packets := []Packet{
		{Type: PacketOpen, Data: []byte(`{"sid":"x"}`)},
		{Type: PacketMessage, Data: []byte{0, 0x1f, 0xff}, Binary: true},
		{Type: PacketPing},
		{Type: PacketMessage, Data: []byte(`2["a",{"b":[1,2]}]`)},
	}
	var body []byte
	for _, packet := range packets {
		body = AppendPayloadPacket(body, 0, packet)
	}
	got, err := decodeAll(body)
	if err != nil || !reflect.DeepEqual(got, packets) {
		t.Errorf("DecodePayload(%q) = %+v, %v; want %+v", body, got, err, packets)
	}
}

// isPollingError reports whether err is one DecodePayload may return.
func isPollingError(err error) bool {
	return errors.Is(err, ErrInvalidPayload)
}

func FuzzDecodePayload(f *testing.F) {
	for _, seed := range []string{"4hello\x1ebAQIDBA==", "2", "", "\x1e", "b", "bAQI", "42[\"a\"]\x1e6\x1e3probe"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		packets, err := decodeAll(body)
		if err != nil && !isPollingError(err) {
			t.Fatalf("DecodePayload(%q) = %v; want a wire error", body, err)
		}
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a payload that decodes the same.
		var encoded []byte
		for _, packet := range packets {
			encoded = AppendPayloadPacket(encoded, 0, packet)
		}
		again, err := decodeAll(encoded)
		if err != nil || !reflect.DeepEqual(again, packets) {
			t.Fatalf("DecodePayload(%q) = %+v, %v; want %+v (from %q)", encoded, again, err, packets, body)
		}
		// Decoding is per segment: the packets match decoding each segment alone.
		segments := bytes.Split(body, []byte{RecordSeparator})
		if len(segments) != len(packets) {
			t.Fatalf("DecodePayload(%q) gave %d packets; want %d", body, len(packets), len(segments))
		}
		for i, segment := range segments {
			one, err := decodeAll(segment)
			if err != nil || !reflect.DeepEqual(one, packets[i:i+1]) {
				t.Fatalf("segment %d %q = %+v, %v; want %+v", i, segment, one, err, packets[i])
			}
		}
	})
}

func ExampleDecodePayload() {
	body := []byte("4hello\x1ebAQIDBA==")
	_ = DecodePayload(body, func(p Packet) error {
		fmt.Printf("%s binary=%v %q\n", p.Type, p.Binary, p.Data)
		return nil
	})
	// Output:
	// message binary=false "hello"
	// message binary=true "\x01\x02\x03\x04"
}
