package ingest

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// notepackBytes builds MessagePack with the library's encoder; raw parts
// (notepack's own extensions) are written as given.
type notepackBytes struct {
	buffer  bytes.Buffer
	encoder *msgpack.Encoder
}

func newNotepackBytes() *notepackBytes {
	b := &notepackBytes{}
	b.encoder = msgpack.NewEncoder(&b.buffer)
	b.encoder.SetSortMapKeys(true)
	return b
}

func (b *notepackBytes) value(v any) *notepackBytes {
	if err := b.encoder.Encode(v); err != nil {
		panic(err)
	}
	return b
}

func (b *notepackBytes) raw(p ...byte) *notepackBytes { b.buffer.Write(p); return b }

func (b *notepackBytes) array(n int) *notepackBytes {
	if err := b.encoder.EncodeArrayLen(n); err != nil {
		panic(err)
	}
	return b
}

func (b *notepackBytes) object(n int) *notepackBytes {
	if err := b.encoder.EncodeMapLen(n); err != nil {
		panic(err)
	}
	return b
}

func (b *notepackBytes) bytes() []byte { return bytes.Clone(b.buffer.Bytes()) }

// notepackJSON converts one value.
func notepackJSON(payload []byte) (string, bool, error) {
	r := newNotepackReader(payload)
	out, undefined, err := r.AppendJSON(nil)
	if err != nil {
		return string(out), false, notepackError(err)
	}
	if r.Remaining() != 0 {
		return "", false, errors.New("trailing bytes")
	}
	return string(out), undefined, nil
}

func TestNotepackToJSON(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"null", newNotepackBytes().value(nil).bytes(), `null`},
		{"booleans", newNotepackBytes().value([]any{true, false}).bytes(), `[true,false]`},
		{"small integers", newNotepackBytes().value([]any{0, 127, -32, 200, -129, 70000, -70000}).bytes(), `[0,127,-32,200,-129,70000,-70000]`},
		{"large integers", newNotepackBytes().value([]any{int64(1) << 40, uint64(1)<<53 + 1, int64(-1) << 60}).bytes(), `[1099511627776,9007199254740992,-1152921504606847000]`},
		{"uint64 past int64", newNotepackBytes().value(uint64(math.MaxUint64)).bytes(), `18446744073709552000`},
		{"floats", newNotepackBytes().value([]any{0.1, -2.5, 1e21, 1e-7, 123456.789, 1e-6, float32(0.5)}).bytes(), `[0.1,-2.5,1e+21,1e-7,123456.789,0.000001,0.5]`},
		{"NaN and infinity", newNotepackBytes().value([]any{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)}).bytes(), `[null,null,null,0]`},
		{"strings", newNotepackBytes().value("a\"b\\c\n\t\x01é😀</script>\u2028").bytes(), `"a\"b\\c\n\t\u0001é😀</script>` + "\u2028" + `"`},
		{"long string", newNotepackBytes().value(strings.Repeat("x", 300)).bytes(), `"` + strings.Repeat("x", 300) + `"`},
		{"invalid UTF-8", newNotepackBytes().raw(0xa2, 0xff, 'a').bytes(), `"` + "\uFFFD" + `a"`},
		{"lone surrogate", newNotepackBytes().raw(0xa3, 0xed, 0xa0, 0x80).bytes(), `"\ud800"`},
		{"object", newNotepackBytes().object(2).value("a").value(1).value("b").value([]any{"c"}).bytes(), `{"a":1,"b":["c"]}`},
		{"empty containers", newNotepackBytes().value([]any{map[string]any{}, []any{}}).bytes(), `[{},[]]`},
		// fixext 1 of type 0: notepack's undefined.
		{"undefined in array", newNotepackBytes().array(3).value(1).raw(0xd4, 0x00, 0x00).value(2).bytes(), `[1,null,2]`},
		{"undefined member", newNotepackBytes().object(3).value("a").raw(0xd4, 0x00, 0x00).value("b").value(1).value("c").raw(0xd4, 0x00, 0x00).bytes(), `{"b":1}`},
		{"only undefined members", newNotepackBytes().object(1).value("a").raw(0xd4, 0x00, 0x00).bytes(), `{}`},
		// Dates: the timestamp extension in its three sizes, and notepack's
		// older fixext 8 of type 0 (milliseconds).
		{"timestamp 32", newNotepackBytes().raw(0xd6, 0xff, 0x00, 0x00, 0x00, 0x3c).bytes(), `"1970-01-01T00:01:00.000Z"`},
		{"timestamp 64", newNotepackBytes().value(time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)).bytes(), `"2026-01-02T03:04:05.678Z"`},
		{"timestamp 96 before 1970", newNotepackBytes().value(time.Date(1969, 12, 31, 23, 59, 59, 999e6, time.UTC)).bytes(), `"1969-12-31T23:59:59.999Z"`},
		{"timestamp 96 far future", newNotepackBytes().value(time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)).bytes(), `"+020000-01-01T00:00:00.000Z"`},
		{"timestamp out of range", newNotepackBytes().raw(0xc7, 12, 0xff, 0, 0, 0, 0, 0x7f, 0, 0, 0, 0, 0, 0, 0).bytes(), `null`},
		{"legacy date", newNotepackBytes().raw(0xd7, 0x00, 0, 0, 0, 0, 0, 0, 0x03, 0xe8).bytes(), `"1970-01-01T00:00:01.000Z"`},
		{"legacy negative date", newNotepackBytes().raw(0xd7, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc, 0x18).bytes(), `"1969-12-31T23:59:59.000Z"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := notepackJSON(tc.payload)
			if err != nil || got != tc.want {
				t.Fatalf("appendJSON(% x) = %s, %v; want %s", tc.payload, got, err, tc.want)
			}
		})
	}
}

func TestNotepackRefusesBinaryAndMalformed(t *testing.T) {
	deep := newNotepackBytes()
	for range maxNotepackDepth + 2 {
		deep.array(1)
	}
	deep.value(1)
	cases := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"bin", newNotepackBytes().value([]byte{1, 2}).bytes(), errEmitterBinary},
		{"ArrayBuffer as ext 0", newNotepackBytes().raw(0xc7, 0x02, 0x00, 1, 2).bytes(), errEmitterBinary},
		{"unknown extension", newNotepackBytes().raw(0xd5, 0x05, 1, 2).bytes(), errEmitterBinary},
		{"large extension", newNotepackBytes().raw(0xd8, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16).bytes(), errEmitterBinary},
		{"binary nested", newNotepackBytes().object(1).value("a").value([]byte{1}).bytes(), errEmitterBinary},
		{"never used code", []byte{0xc1}, errEmitterMalformed},
		{"empty", nil, errEmitterMalformed},
		{"string cut short", []byte{0xa5, 'a'}, errEmitterMalformed},
		{"huge string length", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, errEmitterMalformed},
		{"huge array", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, errEmitterMalformed},
		{"huge map", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, errEmitterMalformed},
		{"map with a number key", newNotepackBytes().object(1).value(1).value(2).bytes(), errEmitterMalformed},
		{"timestamp of 5 bytes", []byte{0xc7, 0x05, 0xff, 1, 2, 3, 4, 5}, errEmitterMalformed},
		{"too deep", deep.bytes(), errEmitterMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := notepackJSON(tc.payload)
			if !errors.Is(err, tc.want) {
				t.Fatalf("appendJSON(% x) = %s, %v; want %v", tc.payload, got, err, tc.want)
			}
		})
	}
}
