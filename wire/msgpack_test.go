package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// The expected bytes below are what notepack.io 2.2 (socket.io-msgpack-parser
// 3.0's encoder) writes for the same packet built from JSON.parse output.
func TestAppendMsgpackSocketPacketMatchesNotepack(t *testing.T) {
	cases := []struct {
		name   string
		packet string
		want   string
	}{
		{
			name:   "tick",
			packet: `2["market:data",{"symbol":"BTCUSD","bid":64000.5,"ask":64001,"ts":1700000000000,"n":-1,"big":1e3,"neg":-200,"s":"caf\u00e9 \ud83d\ude00","ok":true,"none":null,"arr":[1,2.25,[]]}]`,
			want:   "83a47479706502a36e7370a12fa46461746192ab6d61726b65743a646174618ba673796d626f6ca6425443555344a3626964cb40ef401000000000a361736bcdfa01a27473cf0000018bcfe56800a16effa3626967cd03e8a36e6567d1ff38a173aa636166c3a920f09f9880a26f6bc3a46e6f6e65c0a36172729301cb400200000000000090",
		},
		{
			name:   "ack",
			packet: `37[{"ok":true,"symbols":["BTCUSD"]}]`,
			want:   "84a47479706503a36e7370a12fa4646174619182a26f6bc3a773796d626f6c7391a6425443555344a2696407",
		},
		{
			name:   "connect",
			packet: `0{"sid":"abc","pid":"def"}`,
			want:   "83a47479706500a36e7370a12fa46461746182a3736964a3616263a3706964a3646566",
		},
		{
			name:   "connect error with namespace",
			packet: `4/admin,{"message":"Invalid namespace"}`,
			want:   "83a47479706504a36e7370a62f61646d696ea46461746181a76d657373616765b1496e76616c6964206e616d657370616365",
		},
		{
			name:   "disconnect",
			packet: `1`,
			want:   "82a47479706501a36e7370a12f",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendMsgpackSocketPacket(nil, []byte(tc.packet))
			if err != nil {
				t.Fatalf("AppendMsgpackSocketPacket(%q) error %v", tc.packet, err)
			}
			if hex.EncodeToString(got) != tc.want {
				t.Fatalf("AppendMsgpackSocketPacket(%q) =\n%x\nwant\n%s", tc.packet, got, tc.want)
			}
		})
	}
}

func TestAppendMsgpackSocketPacketRefusals(t *testing.T) {
	for _, packet := range []string{``, `9`, `2[`, `51-["a"]`, "2[\"\xff\"]"} {
		if _, err := AppendMsgpackSocketPacket(nil, []byte(packet)); err == nil {
			t.Errorf("AppendMsgpackSocketPacket(%q) accepted", packet)
		}
	}
}

func TestAppendMsgpackNumbers(t *testing.T) {
	cases := []struct {
		json string
		want string
	}{
		{`0`, "00"}, {`127`, "7f"}, {`128`, "cc80"}, {`255`, "ccff"}, {`256`, "cd0100"},
		{`65536`, "ce00010000"}, {`4294967296`, "cf0000000100000000"},
		{`-1`, "ff"}, {`-32`, "e0"}, {`-33`, "d0df"}, {`-129`, "d1ff7f"}, {`-32769`, "d2ffff7fff"},
		{`-2147483649`, "d3ffffffff7fffffff"},
		{`1700000000123456789`, "cf17979cfe3d85cd15"}, {`-9223372036854775808`, "d38000000000000000"},
		// Past 2^63 an integer is float64 (notepack's uint64 path truncates there).
		{`1.0`, "01"}, {`1e3`, "cd03e8"}, {`-0`, "00"}, {`2.5`, "cb4004000000000000"},
		{`1e400`, "cb7ff0000000000000"}, {`123456789012345678901234`, "cb44ba249b1f10a06d"},
	}
	for _, tc := range cases {
		if got := hex.EncodeToString(AppendMsgpackJSON(nil, []byte(tc.json))); got != tc.want {
			t.Errorf("AppendMsgpackJSON(%s) = %s; want %s", tc.json, got, tc.want)
		}
	}
}

func TestAppendMsgpackLongStrings(t *testing.T) {
	for _, length := range []int{31, 32, 255, 256, 65535, 65536} {
		plain := strings.Repeat("a", length)
		// An escaped form longer than the value: the header may shrink.
		escaped := strings.Repeat(`\u0061`, length)
		for _, text := range []string{plain, escaped} {
			encoded := AppendMsgpackJSON(nil, []byte(`"`+text+`"`))
			var decoded string
			if err := msgpack.Unmarshal(encoded, &decoded); err != nil || decoded != plain {
				t.Fatalf("length %d: decoded %d bytes, err %v", length, len(decoded), err)
			}
			if want := len(appendMsgpackStringHeader(nil, length)) + length; len(encoded) != want {
				t.Fatalf("length %d: %d bytes; want %d", length, len(encoded), want)
			}
		}
	}
}

func TestAppendMsgpackLargeContainers(t *testing.T) {
	for _, count := range []int{15, 16, 65535, 65536} {
		elements := make([]string, count)
		members := make([]string, count)
		for i := range elements {
			elements[i] = "1"
			members[i] = `"k` + strings.Repeat("x", i%3) + `":1`
		}
		var array []int
		if err := msgpack.Unmarshal(AppendMsgpackJSON(nil, []byte("["+strings.Join(elements, ",")+"]")), &array); err != nil || len(array) != count {
			t.Fatalf("array of %d: %d, %v", count, len(array), err)
		}
		decoder := msgpack.NewDecoder(bytes.NewReader(AppendMsgpackJSON(nil, []byte("{"+strings.Join(members, ",")+"}"))))
		if length, err := decoder.DecodeMapLen(); err != nil || length != count {
			t.Fatalf("object of %d: %d, %v", count, length, err)
		}
	}
}

// sameJSONValue compares a value decoded from JSON with one decoded from
// msgpack: numbers by value, whatever their Go types.
func sameJSONValue(fromJSON, fromMsgpack any) bool {
	switch want := fromJSON.(type) {
	case float64:
		switch got := fromMsgpack.(type) {
		case float64:
			return got == want || (math.IsInf(want, 0) && got == want)
		case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
			return reflect.ValueOf(got).Convert(reflect.TypeOf(float64(0))).Float() == want
		}
		return false
	case []any:
		got, ok := fromMsgpack.([]any)
		if !ok || len(got) != len(want) {
			return false
		}
		for i := range want {
			if !sameJSONValue(want[i], got[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		got, ok := fromMsgpack.(map[string]any)
		if !ok || len(got) != len(want) {
			return false
		}
		for key, value := range want {
			if !sameJSONValue(value, got[key]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(fromJSON, fromMsgpack)
}

func FuzzAppendMsgpackJSON(f *testing.F) {
	for _, seed := range []string{
		`{"symbol":"BTCUSD","bid":64000.5,"ts":1700000000000}`, `[1,-2,3.5,"x",null,true,false,[],{}]`,
		`"\u00e9\ud83d\ude00\n"`, `"\ud800"`, `1e308`, `-0.0`, `  { "a" : [ 1 , 2 ] }  `, `{"a":1,"a":2}`,
		`[`, `{"a"`, `"\u12`, `"\`, `}`, `,`, `tru`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		encoded := AppendMsgpackJSON(nil, data) // never panics
		// The engine translates only packets ParseSocketPacket accepted:
		// valid JSON in valid UTF-8.
		if !json.Valid(data) || !utf8.Valid(data) {
			return
		}
		var fromJSON any
		if err := json.Unmarshal(data, &fromJSON); err != nil {
			return // a number out of float64's range: JSON.parse makes it Infinity
		}
		decoder := msgpack.NewDecoder(bytes.NewReader(encoded))
		fromMsgpack, err := decoder.DecodeInterface()
		if err != nil {
			t.Fatalf("AppendMsgpackJSON(%q) = %x, which does not decode: %v", data, encoded, err)
		}
		if decoder.Buffered().(*bytes.Reader).Len() != 0 {
			t.Fatalf("AppendMsgpackJSON(%q) = %x: bytes after the value", data, encoded)
		}
		if !sameJSONValue(fromJSON, fromMsgpack) {
			t.Fatalf("AppendMsgpackJSON(%q) decodes to %#v; want %#v", data, fromMsgpack, fromJSON)
		}
	})
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeMsgpackSocketPacket(t *testing.T) {
	cases := []struct {
		name string
		hex  string // notepack's encoding of what socket.io-client sends
		want string
		err  error
	}{
		{
			name: "event with ack, undefined and a Date",
			// {type:2, data:["subscribe:market",{symbols:["BTCUSD"],throttleMs:undefined,when:new Date(0)}], options:{compress:true}, id:3, nsp:"/"}
			hex:  "85a47479706502a46461746192b07375627363726962653a6d61726b657483a773796d626f6c7391a6425443555344aa7468726f74746c654d73d40000a47768656ed7000000000000000000a76f7074696f6e7381a8636f6d7072657373c3a2696403a36e7370a12f",
			want: `23["subscribe:market",{"symbols":["BTCUSD"],"when":"1970-01-01T00:00:00.000Z"}]`,
		},
		{name: "connect", hex: "83a47479706500a36e7370a12fa46461746181a5746f6b656ea161", want: `0{"token":"a"}`},
		{name: "connect without data", hex: "82a47479706500a36e7370a12f", want: `0`},
		{name: "namespace", hex: "83a47479706500a36e7370a62f61646d696ea46461746180", want: `0/admin,{}`},
		{name: "floats, NaN, nested undefined", hex: "83a47479706502a36e7370a12fa46461746193cb3ff8000000000000cb7ff8000000000000d40000", want: `2[1.5,null,null]`},
		{name: "integral float type", hex: "83a474797065cb4000000000000000a36e7370a12fa4646174619100", want: `2[0]`},
		{name: "type out of range", hex: "83a47479706505a36e7370a12fa4646174619100", err: ErrInvalidSocketType},
		{name: "no namespace", hex: "82a47479706502a46461746191a161", err: ErrInvalidPayload},
		{name: "namespace with a comma", hex: "83a47479706500a36e7370a32f612ca46461746180", err: ErrInvalidPayload},
		{name: "negative id", hex: "84a47479706502a36e7370a12fa4646174619100a26964ff", err: ErrInvalidAckID},
		{name: "fractional id", hex: "84a47479706502a36e7370a12fa4646174619100a26964cb3ff8000000000000", err: ErrInvalidAckID},
		{name: "binary argument", hex: "83a47479706502a36e7370a12fa46461746192a161c40101", err: ErrMsgpackBinary},
		{name: "array buffer argument", hex: "83a47479706502a36e7370a12fa46461746192a161c7010001", err: ErrMsgpackBinary},
		{name: "not a map", hex: "9100", err: ErrInvalidPayload},
		{name: "trailing bytes", hex: "82a47479706500a36e7370a12f00", err: ErrInvalidPayload},
		{name: "truncated", hex: "83a47479706502a36e7370a12fa4646174619", err: ErrInvalidPayload},
		{name: "integer map key", hex: "83a47479706502a36e7370a12fa46461746191810101", err: ErrInvalidPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			input := []byte(tc.hex)
			if len(tc.hex)%2 == 0 {
				input = mustHex(t, tc.hex)
			} else {
				input = mustHex(t, tc.hex[:len(tc.hex)-1])
			}
			got, err := DecodeMsgpackSocketPacket(nil, input, 1<<20)
			if !errors.Is(err, tc.err) || (err == nil && string(got) != tc.want) {
				t.Fatalf("DecodeMsgpackSocketPacket(%s) = %s, %v; want %s, %v", tc.hex, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestDecodeMsgpackSocketPacketLimit(t *testing.T) {
	// 300 one-byte -1s become 300 two-byte "-1"s and their commas.
	data := bytes.Repeat([]byte{0xff}, 300)
	packet := append(mustHex(t, "83a47479706502a36e7370a12fa464617461dc012c"), data...)
	if _, err := DecodeMsgpackSocketPacket(nil, packet, 1000); err != nil {
		t.Fatalf("under the limit: %v", err)
	}
	if _, err := DecodeMsgpackSocketPacket(nil, packet, 500); err != ErrMsgpackTooLarge {
		t.Fatalf("over the limit: %v; want ErrMsgpackTooLarge", err)
	}
}

func TestMsgpackSocketPacketRoundTrip(t *testing.T) {
	for _, packet := range []string{
		`2["market:data",{"symbol":"BTCUSD","bid":64000.5}]`, `312["a",{"b":[1,2,{"c":null}]}]`,
		`0{"sid":"x"}`, `4{"message":"m","data":{"code":"TOKEN_MISSING"}}`, `1`, `2/admin,["e"]`,
	} {
		encoded, err := AppendMsgpackSocketPacket(nil, []byte(packet))
		if err != nil {
			t.Fatalf("AppendMsgpackSocketPacket(%s): %v", packet, err)
		}
		decoded, err := DecodeMsgpackSocketPacket(nil, encoded, 1<<20)
		if err != nil || string(decoded) != packet {
			t.Fatalf("round trip of %s = %s, %v", packet, decoded, err)
		}
	}
}

func FuzzDecodeMsgpackSocketPacket(f *testing.F) {
	for _, seed := range []string{
		"85a47479706502a46461746192b07375627363726962653a6d61726b657483a773796d626f6c7391a6425443555344aa7468726f74746c654d73d40000a47768656ed7000000000000000000a76f7074696f6e7381a8636f6d7072657373c3a2696403a36e7370a12f",
		"83a47479706500a36e7370a12fa46461746181a5746f6b656ea161",
		"84a47479706503a36e7370a12fa4646174619182a26f6bc3a773796d626f6c7391a6425443555344a2696407",
		"83a47479706502a36e7370a12fa46461746192a161c40101",
		"83a47479706502a36e7370a12fa464617461dd7fffffff",
	} {
		f.Add(mustHex(f, seed))
	}
	// In pieces: every prefix of a valid packet is refused, never a panic.
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := DecodeMsgpackSocketPacket(nil, data, 1<<16)
		if err != nil {
			return
		}
		if len(text) > 1<<16+64 {
			t.Fatalf("DecodeMsgpackSocketPacket(%x): %d bytes past the limit", data, len(text))
		}
		packet, err := ParseSocketPacket(text)
		if err != nil {
			return // a shape the JSON checks refuse, as for a JSON client
		}
		// What was accepted translates back to an equivalent packet.
		again, err := AppendMsgpackSocketPacket(nil, text)
		if err != nil {
			t.Fatalf("AppendMsgpackSocketPacket(%s): %v", text, err)
		}
		back, err := DecodeMsgpackSocketPacket(nil, again, 1<<20)
		if err != nil {
			t.Fatalf("DecodeMsgpackSocketPacket of re-encoded %s: %v", text, err)
		}
		reparsed, err := ParseSocketPacket(back)
		if err != nil || reparsed.Type != packet.Type || reparsed.ID != packet.ID || reparsed.Namespace != packet.Namespace {
			t.Fatalf("round trip of %s = %s, %v", text, back, err)
		}
	})
}
