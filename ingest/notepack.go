package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The emitter's messages are MessagePack as notepack.io writes and reads it
// (the parser of @socket.io/redis-emitter and @socket.io/redis-adapter).
// The msgpack library reads the wire format; what notepack means by its
// extensions is decided here, as notepack.io 3 decodes them, so that the
// JSON a client gets is what JSON.stringify would make of the value a
// Node.js Socket.IO server would have decoded:
//
//   - fixext 1 of type 0 is undefined (older notepack wrote undefined so):
//     null in an array, left out as an object member;
//   - ext 8/16/32 of type 0 is an ArrayBuffer, bin 8/16/32 a Buffer, any
//     other unknown extension a [type, Buffer] pair: binary, which the
//     gateway does not deliver (errEmitterBinary);
//   - ext type -1 (the MessagePack timestamp: 32, 64 or 96 bits) and
//     fixext 8 of type 0 (older notepack's milliseconds) are Dates: an ISO
//     string with milliseconds, as Date.prototype.toJSON writes, or null
//     for a date out of JavaScript's range;
//   - every number is a JavaScript number: integers beyond 2^53 lose
//     precision as they would in Node, NaN and infinities become null.

// maxNotepackDepth bounds nesting, so a hostile message cannot exhaust the
// stack; Socket.IO payloads nest a few levels at most.
const maxNotepackDepth = 64

var (
	// errEmitterMalformed is returned by decodeEmitterMessage for bytes that
	// are not a notepack emitter message.
	errEmitterMalformed = errors.New("ingest: malformed emitter message")
	// errEmitterBinary is returned by decodeEmitterMessage for an event
	// with binary data (a Buffer, an ArrayBuffer, an unknown extension).
	errEmitterBinary = errors.New("ingest: emitter event with binary data")
)

// valueKind is what kind of JSON value appendNotepackJSON wrote.
type valueKind uint8

const (
	kindUndefined valueKind = iota // nothing was written
	kindNull
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// notepackReader turns MessagePack values into JSON.
type notepackReader struct {
	source  *bytes.Reader
	decoder *msgpack.Decoder
	scratch []byte
}

func newNotepackReader(payload []byte) *notepackReader {
	source := bytes.NewReader(payload)
	return &notepackReader{source: source, decoder: msgpack.NewDecoder(source)}
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errEmitterMalformed, fmt.Sprintf(format, args...))
}

// readString reads a MessagePack str as Go string.
func (r *notepackReader) readString() (string, error) {
	code, err := r.decoder.PeekCode()
	if err != nil {
		return "", malformed("%v", err)
	}
	if !msgpcode.IsString(code) {
		return "", malformed("want a string, got code %#x", code)
	}
	raw, err := r.readRaw()
	return string(raw), err
}

// readRaw reads the bytes of a str or bin whose header is next, into
// scratch. A length beyond the message's end is refused before anything
// is allocated for it.
func (r *notepackReader) readRaw() ([]byte, error) {
	length, err := r.decoder.DecodeBytesLen()
	if err != nil {
		return nil, malformed("%v", err)
	}
	if length < 0 || length > r.source.Len() {
		return nil, malformed("length %d past the end", length)
	}
	if cap(r.scratch) < length {
		r.scratch = make([]byte, length)
	}
	r.scratch = r.scratch[:length]
	if err := r.decoder.ReadFull(r.scratch); err != nil {
		return nil, malformed("%v", err)
	}
	return r.scratch, nil
}

// appendJSON reads one value and appends its JSON to dst.
func (r *notepackReader) appendJSON(dst []byte, depth int) ([]byte, valueKind, error) {
	if depth > maxNotepackDepth {
		return dst, 0, malformed("nested deeper than %d", maxNotepackDepth)
	}
	code, err := r.decoder.PeekCode()
	if err != nil {
		return dst, 0, malformed("%v", err)
	}
	switch {
	case code == msgpcode.Nil:
		_ = r.decoder.DecodeNil()
		return append(dst, "null"...), kindNull, nil
	case code == msgpcode.True || code == msgpcode.False:
		value, err := r.decoder.DecodeBool()
		if err != nil {
			return dst, 0, malformed("%v", err)
		}
		return strconv.AppendBool(dst, value), kindBool, nil
	case code == msgpcode.Uint64:
		value, err := r.decoder.DecodeUint64()
		if err != nil {
			return dst, 0, malformed("%v", err)
		}
		return appendJSNumber(dst, float64(value)), kindNumber, nil
	case msgpcode.IsFixedNum(code) || (code >= msgpcode.Uint8 && code <= msgpcode.Int64):
		value, err := r.decoder.DecodeInt64()
		if err != nil {
			return dst, 0, malformed("%v", err)
		}
		return appendJSNumber(dst, float64(value)), kindNumber, nil
	case code == msgpcode.Float || code == msgpcode.Double:
		value, err := r.decoder.DecodeFloat64()
		if err != nil {
			return dst, 0, malformed("%v", err)
		}
		return appendJSNumber(dst, value), kindNumber, nil
	case msgpcode.IsString(code):
		raw, err := r.readRaw()
		if err != nil {
			return dst, 0, err
		}
		return appendJSString(dst, raw), kindString, nil
	case msgpcode.IsBin(code):
		return dst, 0, errEmitterBinary
	case msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32:
		return r.appendArray(dst, depth)
	case msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32:
		return r.appendObject(dst, depth)
	case msgpcode.IsFixedExt(code) || msgpcode.IsExt(code):
		return r.appendExtension(dst, code)
	}
	return dst, 0, malformed("unknown code %#x", code)
}

func (r *notepackReader) appendArray(dst []byte, depth int) ([]byte, valueKind, error) {
	length, err := r.decoder.DecodeArrayLen()
	if err != nil {
		return dst, 0, malformed("%v", err)
	}
	if length < 0 || length > r.source.Len() { // every element takes a byte at least
		return dst, 0, malformed("array of %d past the end", length)
	}
	dst = append(dst, '[')
	for i := range length {
		if i > 0 {
			dst = append(dst, ',')
		}
		var kind valueKind
		if dst, kind, err = r.appendJSON(dst, depth+1); err != nil {
			return dst, 0, err
		}
		if kind == kindUndefined {
			dst = append(dst, "null"...)
		}
	}
	return append(dst, ']'), kindArray, nil
}

func (r *notepackReader) appendObject(dst []byte, depth int) ([]byte, valueKind, error) {
	length, err := r.decoder.DecodeMapLen()
	if err != nil {
		return dst, 0, malformed("%v", err)
	}
	if length < 0 || length > r.source.Len()/2 { // a key and a value take a byte each at least
		return dst, 0, malformed("map of %d past the end", length)
	}
	dst = append(dst, '{')
	members := 0
	for range length {
		mark := len(dst)
		if members > 0 {
			dst = append(dst, ',')
		}
		key, err := r.readString()
		if err != nil {
			return dst, 0, err
		}
		dst = appendJSString(dst, []byte(key))
		dst = append(dst, ':')
		var kind valueKind
		if dst, kind, err = r.appendJSON(dst, depth+1); err != nil {
			return dst, 0, err
		}
		if kind == kindUndefined {
			dst = dst[:mark] // JSON.stringify leaves undefined members out
			continue
		}
		members++
	}
	return append(dst, '}'), kindObject, nil
}

// appendExtension handles notepack's extensions (see the top of the file).
func (r *notepackReader) appendExtension(dst []byte, code byte) ([]byte, valueKind, error) {
	extensionType, length, err := r.decoder.DecodeExtHeader()
	if err != nil {
		return dst, 0, malformed("%v", err)
	}
	if length < 0 || length > r.source.Len() {
		return dst, 0, malformed("extension of %d past the end", length)
	}
	var body [12]byte
	if length > len(body) || (extensionType != 0 && extensionType != -1) {
		return dst, 0, errEmitterBinary
	}
	if err := r.decoder.ReadFull(body[:length]); err != nil {
		return dst, 0, malformed("%v", err)
	}
	switch {
	case extensionType == 0 && code == msgpcode.FixExt1:
		return dst, kindUndefined, nil
	case extensionType == 0 && code == msgpcode.FixExt8:
		high := int64(int32(binary.BigEndian.Uint32(body[:4])))
		low := int64(binary.BigEndian.Uint32(body[4:8]))
		return appendJSDate(dst, float64(high<<32+low)), kindString, nil
	case extensionType == 0:
		return dst, 0, errEmitterBinary
	}
	// The MessagePack timestamp extension.
	var seconds, nanoseconds float64
	switch length {
	case 4:
		seconds = float64(binary.BigEndian.Uint32(body[:4]))
	case 8:
		high := binary.BigEndian.Uint32(body[:4])
		nanoseconds = float64(high >> 2)
		seconds = float64(uint64(high&3)<<32 + uint64(binary.BigEndian.Uint32(body[4:8])))
	case 12:
		nanoseconds = float64(binary.BigEndian.Uint32(body[:4]))
		seconds = float64(int64(binary.BigEndian.Uint64(body[4:12])))
	default:
		return dst, 0, malformed("timestamp of %d bytes", length)
	}
	return appendJSDate(dst, seconds*1e3+nanoseconds/1e6), kindString, nil
}

// appendJSNumber writes value as JavaScript's Number.prototype.toString
// does, and JSON.stringify's null for NaN and the infinities.
func appendJSNumber(dst []byte, value float64) []byte {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return append(dst, "null"...)
	}
	if value == 0 {
		return append(dst, '0') // -0 too
	}
	magnitude := math.Abs(value)
	if magnitude >= 1e-6 && magnitude < 1e21 {
		return strconv.AppendFloat(dst, value, 'f', -1, 64)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, value, 'e', -1, 64)
	// Go writes e-07 and e+21 where JavaScript writes e-7 and e+21.
	exponent := bytes.IndexByte(dst[start:], 'e') + start + 2
	if exponent+1 < len(dst) && dst[exponent] == '0' {
		dst = append(dst[:exponent], dst[exponent+1:]...)
	}
	return dst
}

// maxJSTime is the largest magnitude of a JavaScript Date's time value.
const maxJSTime = 8.64e15

// appendJSDate writes the JSON of new Date(milliseconds): its ISO string,
// or null when the time is outside what a Date holds.
func appendJSDate(dst []byte, milliseconds float64) []byte {
	if math.IsNaN(milliseconds) || math.Abs(milliseconds) > maxJSTime {
		return append(dst, "null"...)
	}
	moment := time.UnixMilli(int64(math.Trunc(milliseconds))).UTC()
	dst = append(dst, '"')
	year := moment.Year()
	switch {
	case year >= 0 && year <= 9999:
		dst = appendDigits(dst, year, 4)
	case year < 0:
		dst = append(dst, '-')
		dst = appendDigits(dst, -year, 6)
	default:
		dst = append(dst, '+')
		dst = appendDigits(dst, year, 6)
	}
	dst = append(dst, '-')
	dst = appendDigits(dst, int(moment.Month()), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, moment.Day(), 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, moment.Hour(), 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, moment.Minute(), 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, moment.Second(), 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, moment.Nanosecond()/1e6, 3)
	return append(dst, `Z"`...)
}

func appendDigits(dst []byte, value, width int) []byte {
	var digits [12]byte
	text := strconv.AppendInt(digits[:0], int64(value), 10)
	for range width - len(text) {
		dst = append(dst, '0')
	}
	return append(dst, text...)
}

// appendJSString writes raw as a JSON string as JSON.stringify does: only
// the quote, the backslash and control characters are escaped. notepack
// writes a lone UTF-16 surrogate as its three-byte form, which is not
// UTF-8; it is escaped as \uXXXX, as JSON.stringify escapes lone
// surrogates. Other bytes that are not UTF-8 become U+FFFD.
func appendJSString(dst, raw []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(raw); {
		b := raw[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\':
				dst = append(dst, '\\', b)
			case b >= 0x20:
				dst = append(dst, b)
			case b == '\n':
				dst = append(dst, `\n`...)
			case b == '\r':
				dst = append(dst, `\r`...)
			case b == '\t':
				dst = append(dst, `\t`...)
			case b == '\b':
				dst = append(dst, `\b`...)
			case b == '\f':
				dst = append(dst, `\f`...)
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 {
			if i+2 < len(raw) && b == 0xed && raw[i+1]&0xe0 == 0xa0 && raw[i+2]&0xc0 == 0x80 {
				surrogate := 0xd000 | rune(raw[i+1]&0x3f)<<6 | rune(raw[i+2]&0x3f)
				dst = append(dst, '\\', 'u', hex[surrogate>>12], hex[surrogate>>8&0xf], hex[surrogate>>4&0xf], hex[surrogate&0xf])
				i += 3
				continue
			}
			dst = utf8.AppendRune(dst, utf8.RuneError)
			i++
			continue
		}
		dst = append(dst, raw[i:i+size]...)
		i += size
	}
	return append(dst, '"')
}
