package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// notepackToJSON converts the one value in message with the given limits.
func notepackToJSON(message []byte, maxDepth, limit int) (string, bool, error) {
	reader := NewNotepackReader(message, maxDepth, limit)
	out, undefined, err := reader.AppendJSON(nil)
	if err == nil && reader.Remaining() != 0 {
		return "", false, errors.New("bytes after the value")
	}
	return string(out), undefined, err
}

// TestNotepackReaderSharedSemantics pins what both ways in (msgpack
// clients and the Redis emitter) make of notepack's values: the JSON that
// JSON.stringify writes for what notepack.io decodes.
func TestNotepackReaderSharedSemantics(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		want string
	}{
		{"undefined in an array", "9301d4000002", `[1,null,2]`},
		{"undefined member left out", "83a161d40000a16201a163d40000", `{"b":1}`},
		{"timestamp 32", "d6ff0000003c", `"1970-01-01T00:01:00.000Z"`},
		{"timestamp 64", "d7ff a1a5d600 6957 35a5", `"2026-01-02T03:04:05.678Z"`},
		{"timestamp 96", "c70cff 3b8b87c0 ffffffffffffffff", `"1969-12-31T23:59:59.999Z"`},
		{"timestamp out of a Date's range", "c70cff 00000000 7f00000000000000", `null`},
		{"older notepack date (fixext 8 of type 0)", "d700 00000000000003e8", `"1970-01-01T00:00:01.000Z"`},
		{"NaN and the infinities", "93 cb7ff8000000000000 cb7ff0000000000000 cbfff0000000000000", `[null,null,null]`},
		{"big integers as JavaScript numbers", "92 cf0020000000000001 cfffffffffffffffff", `[9007199254740992,18446744073709552000]`},
		{"negative integer", "d3f000000000000000", `-1152921504606847000`},
		{"floats as JavaScript prints them", "93 cb3eb0c6f7a0b5ed8d cb444b1ae4d6e2ef50 ca3f000000", `[0.000001,1e+21,0.5]`},
		{"lone surrogate as JSON.stringify escapes it", "a3eda080", `"\ud800"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			message := mustHex(t, strings.ReplaceAll(tc.hex, " ", ""))
			got, _, err := notepackToJSON(message, 64, 1<<20)
			if err != nil || got != tc.want {
				t.Fatalf("AppendJSON(%s) = %s, %v; want %s", tc.hex, got, err, tc.want)
			}
		})
	}
	if _, undefined, err := notepackToJSON([]byte{0xd4, 0, 0}, 64, 1<<20); err != nil || !undefined {
		t.Fatalf("top-level undefined: %v, %v; want reported", undefined, err)
	}
}

func TestNotepackReaderRefusals(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		want error
	}{
		{"bin", "c4020102", ErrMsgpackBinary},
		{"ArrayBuffer (ext 8 of type 0)", "c702000102", ErrMsgpackBinary},
		{"unknown extension", "d5050102", ErrMsgpackBinary},
		{"extension past 12 bytes", "d800" + strings.Repeat("01", 16), ErrMsgpackBinary},
		{"nested bin", "81a161c40101", ErrMsgpackBinary},
		{"timestamp of 5 bytes", "c705ff0102030405", ErrInvalidPayload},
		{"never used code", "c1", ErrInvalidPayload},
		{"empty", "", ErrInvalidPayload},
		{"integer key", "810102", ErrInvalidPayload},
		{"string cut short", "a561", ErrInvalidPayload},
		{"huge string", "dbffffffff61", ErrInvalidPayload},
		{"huge bin", "c6ffffffff61", ErrMsgpackBinary},
		{"huge array", "ddffffffff", ErrInvalidPayload},
		{"huge map", "dfffffffff", ErrInvalidPayload},
		{"huge extension", "c9ffffffffff", ErrInvalidPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := notepackToJSON(mustHex(t, tc.hex), 64, 1<<20)
			if err != tc.want {
				t.Fatalf("AppendJSON(%s) = %s, %v; want %v", tc.hex, got, err, tc.want)
			}
		})
	}
}

func TestNotepackReaderDepthAndLimit(t *testing.T) {
	nested := func(depth int) []byte {
		return append([]byte(strings.Repeat("\x91", depth)), 0x01)
	}
	if got, _, err := notepackToJSON(nested(3), 3, 1<<20); err != nil || got != `[[[1]]]` {
		t.Fatalf("three arrays at depth 3: %s, %v", got, err)
	}
	if _, _, err := notepackToJSON(nested(4), 3, 1<<20); err != ErrInvalidPayload {
		t.Fatalf("four arrays at depth 3: %v; want ErrInvalidPayload", err)
	}
	// 100 one-byte -1s are 100 "-1"s and 99 commas: 301 bytes with [].
	array := append([]byte{0xdc, 0, 100}, make([]byte, 100)...)
	for i := 3; i < len(array); i++ {
		array[i] = 0xff
	}
	if got, _, err := notepackToJSON(array, 3, 301); err != nil || len(got) != 301 {
		t.Fatalf("at the limit: %d bytes, %v", len(got), err)
	}
	if _, _, err := notepackToJSON(array, 3, 250); err != ErrMsgpackTooLarge {
		t.Fatalf("past the limit: %v; want ErrMsgpackTooLarge", err)
	}
}

// TestNotepackDatesFromMsgpackClients: a msgpack client's Date arrives as
// what a Node.js server would see, in either of notepack's encodings.
func TestNotepackDatesFromMsgpackClients(t *testing.T) {
	// {type:2, nsp:"/", data:["a", <timestamp 32 of 60 s>, <fixext 8 of 1000 ms>]}
	packet := mustHex(t, "83a47479706502a36e7370a12fa46461746193a161d6ff0000003cd70000000000000003e8")
	got, err := DecodeMsgpackSocketPacket(nil, packet, 1<<20)
	if want := `2["a","1970-01-01T00:01:00.000Z","1970-01-01T00:00:01.000Z"]`; err != nil || string(got) != want {
		t.Fatalf("DecodeMsgpackSocketPacket = %s, %v; want %s", got, err, want)
	}
}

func TestJSNumberMatchesJavaScript(t *testing.T) {
	// What Number.prototype.toString prints for each (node -p).
	cases := map[float64]string{
		1: "1", -1: "-1", 0.5: "0.5", 1e20: "100000000000000000000", 1e21: "1e+21",
		1.5e300: "1.5e+300", 5e-324: "5e-324", 0.000001: "0.000001", 0.0000001: "1e-7",
		123e-20: "1.23e-18", 9007199254740993: "9007199254740992", 4.35: "4.35",
	}
	for value, want := range cases {
		if got := string(appendJSNumber(nil, value)); got != want {
			t.Errorf("appendJSNumber(%v) = %s; want %s", value, got, want)
		}
	}
}

func FuzzNotepackReader(f *testing.F) {
	for _, seed := range []string{
		"9301d4000002", "83a161d40000a16201a163d40000", "d7ffa1a5d600695735a5", "c70cff3b8b87c0ffffffffffffffff",
		"d70000000000000003e8", "93cb7ff8000000000000cb7ff0000000000000cbfff0000000000000", "a3eda080",
		"a2ff61", "c4020102", "dbffffffff61", "ddffffffff", "9191919101", "82a161c3a16292c0cb3ff8000000000000",
	} {
		f.Add(mustHex(f, seed))
	}
	f.Fuzz(func(t *testing.T, message []byte) {
		reader := NewNotepackReader(message, 8, 1<<16)
		out, undefined, err := reader.AppendJSON(nil)
		if err != nil {
			if err != ErrInvalidPayload && err != ErrMsgpackBinary && err != ErrMsgpackTooLarge {
				t.Fatalf("AppendJSON(%x): unexpected error %v", message, err)
			}
			return
		}
		if undefined {
			if len(out) != 0 {
				t.Fatalf("AppendJSON(%x): undefined wrote %s", message, out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("AppendJSON(%x) = %s: not JSON", message, out)
		}
		if len(out) > 1<<16+len(message) {
			t.Fatalf("AppendJSON(%x): %d bytes, past the limit", message, len(out))
		}
	})
}
