package wire

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// This file reads MessagePack as notepack.io 3 writes it (the parser of
// socket.io-msgpack-parser, @socket.io/redis-emitter and
// @socket.io/redis-adapter) and writes each value as the JSON text that
// JSON.stringify would make of what notepack decodes: what a Node.js
// Socket.IO server would have seen. Both the msgpack clients
// (DecodeMsgpackSocketPacket) and the Redis emitter input (package ingest)
// read values through it, so that one value means the same on both ways in.
// The msgpack library reads the wire format; what notepack means by its
// extensions is decided here:
//
//   - fixext 1 of type 0 is undefined (older notepack wrote undefined so):
//     null in an array, left out as an object member;
//   - ext 8/16/32 of type 0 is an ArrayBuffer, bin 8/16/32 a Buffer, any
//     other unknown extension a [type, Buffer] pair: binary, which has no
//     JSON form (ErrMsgpackBinary);
//   - ext type -1 (the MessagePack timestamp: 32, 64 or 96 bits) and
//     fixext 8 of type 0 (older notepack's milliseconds) are Dates: an ISO
//     string with milliseconds, as Date.prototype.toJSON writes, or null
//     for a date out of JavaScript's range;
//   - every number is a JavaScript number: integers beyond 2^53 lose
//     precision as they would in Node, NaN and infinities become null;
//   - object keys must be strings (notepack writes no others).
//
// Every length a message claims is checked against the bytes left before
// anything is allocated for it, so a short hostile message cannot make the
// reader allocate much.

// NotepackReader reads one notepack-encoded message: the caller reads the
// message's structure with Decoder and its values with AppendJSON. Errors
// are ErrInvalidPayload (not MessagePack, cut short, too deep, a key that
// is not a string), ErrMsgpackBinary and ErrMsgpackTooLarge.
type NotepackReader struct {
	source   bytes.Reader
	decoder  *msgpack.Decoder
	scratch  []byte
	maxDepth int
	limit    int
}

// NewNotepackReader returns a reader of message. AppendJSON refuses values
// nested deeper than maxDepth arrays and objects, and stops with
// ErrMsgpackTooLarge once its output passes limit bytes (checked before
// each value, so it may pass it by one string).
func NewNotepackReader(message []byte, maxDepth, limit int) *NotepackReader {
	r := &NotepackReader{maxDepth: maxDepth, limit: limit}
	r.source.Reset(message)
	r.decoder = msgpack.NewDecoder(&r.source)
	return r
}

// Decoder returns the decoder positioned at the reader's next value, for
// the parts of a message that are not values (a packet's fields).
func (r *NotepackReader) Decoder() *msgpack.Decoder { return r.decoder }

// Remaining returns how many bytes of the message are left: a bound for
// the lengths the caller reads through Decoder.
func (r *NotepackReader) Remaining() int { return r.source.Len() }

// ReadString reads a str value.
func (r *NotepackReader) ReadString() (string, error) {
	raw, err := r.readStr()
	return string(raw), err
}

// AppendString reads a str value, appends its JSON to dst and returns the
// string too (an event name, needed both ways).
func (r *NotepackReader) AppendString(dst []byte) ([]byte, string, error) {
	raw, err := r.readStr()
	if err != nil {
		return dst, "", err
	}
	return appendJSString(dst, raw), string(raw), nil
}

// readStr reads a str into scratch, valid until the next read.
func (r *NotepackReader) readStr() ([]byte, error) {
	code, err := r.decoder.PeekCode()
	if err != nil || !msgpcode.IsString(code) {
		return nil, ErrInvalidPayload
	}
	return r.readRaw()
}

// readRaw reads the bytes of a str or bin whose header is next, into
// scratch. A length beyond the message's end is refused before anything
// is allocated for it.
func (r *NotepackReader) readRaw() ([]byte, error) {
	length, err := r.decoder.DecodeBytesLen()
	if err != nil || length < 0 || length > r.source.Len() {
		return nil, ErrInvalidPayload
	}
	if cap(r.scratch) < length {
		r.scratch = make([]byte, length)
	}
	r.scratch = r.scratch[:length]
	if r.decoder.ReadFull(r.scratch) != nil {
		return nil, ErrInvalidPayload
	}
	return r.scratch, nil
}

// skipUndefined consumes notepack's undefined (fixext 1 of type 0) when it
// comes next, and reports whether it did.
func (r *NotepackReader) skipUndefined() (bool, error) {
	code, err := r.decoder.PeekCode()
	if err != nil || code != msgpcode.FixExt1 {
		return false, nil
	}
	extensionType, length, err := r.decoder.DecodeExtHeader()
	var body [1]byte
	if err != nil || length != 1 || r.decoder.ReadFull(body[:]) != nil {
		return false, ErrInvalidPayload
	}
	if extensionType != 0 {
		return false, ErrMsgpackBinary
	}
	return true, nil
}

// AppendJSON reads one value and appends its JSON to dst. For undefined it
// appends nothing and reports it: the caller writes null in an array and
// leaves an object member out, as JSON.stringify does.
func (r *NotepackReader) AppendJSON(dst []byte) ([]byte, bool, error) {
	return r.appendJSON(dst, 0)
}

func (r *NotepackReader) appendJSON(dst []byte, depth int) ([]byte, bool, error) {
	if len(dst) > r.limit {
		return dst, false, ErrMsgpackTooLarge
	}
	if depth > r.maxDepth {
		return dst, false, ErrInvalidPayload
	}
	code, err := r.decoder.PeekCode()
	if err != nil {
		return dst, false, ErrInvalidPayload
	}
	switch {
	case code == msgpcode.Nil:
		_ = r.decoder.DecodeNil()
		return append(dst, "null"...), false, nil
	case code == msgpcode.True || code == msgpcode.False:
		value, _ := r.decoder.DecodeBool()
		return strconv.AppendBool(dst, value), false, nil
	case code == msgpcode.Uint64:
		value, err := r.decoder.DecodeUint64()
		if err != nil {
			return dst, false, ErrInvalidPayload
		}
		return appendJSNumber(dst, float64(value)), false, nil
	case msgpcode.IsFixedNum(code) || (code >= msgpcode.Uint8 && code <= msgpcode.Int64):
		value, err := r.decoder.DecodeInt64()
		if err != nil {
			return dst, false, ErrInvalidPayload
		}
		return appendJSNumber(dst, float64(value)), false, nil
	case code == msgpcode.Float || code == msgpcode.Double:
		value, err := r.decoder.DecodeFloat64()
		if err != nil {
			return dst, false, ErrInvalidPayload
		}
		return appendJSNumber(dst, value), false, nil
	case msgpcode.IsString(code):
		raw, err := r.readRaw()
		if err != nil {
			return dst, false, err
		}
		return appendJSString(dst, raw), false, nil
	case msgpcode.IsBin(code):
		return dst, false, ErrMsgpackBinary
	case msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32:
		return r.appendArray(dst, depth)
	case msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32:
		return r.appendObject(dst, depth)
	case msgpcode.IsFixedExt(code) || msgpcode.IsExt(code):
		return r.appendExtension(dst, code)
	}
	return dst, false, ErrInvalidPayload // 0xc1, never used
}

func (r *NotepackReader) appendArray(dst []byte, depth int) ([]byte, bool, error) {
	length, err := r.decoder.DecodeArrayLen()
	if err != nil || length < 0 || length > r.source.Len() { // every element takes a byte at least
		return dst, false, ErrInvalidPayload
	}
	dst = append(dst, '[')
	for i := range length {
		if i > 0 {
			dst = append(dst, ',')
		}
		var undefined bool
		if dst, undefined, err = r.appendJSON(dst, depth+1); err != nil {
			return dst, false, err
		}
		if undefined {
			dst = append(dst, "null"...)
		}
	}
	return append(dst, ']'), false, nil
}

func (r *NotepackReader) appendObject(dst []byte, depth int) ([]byte, bool, error) {
	length, err := r.decoder.DecodeMapLen()
	if err != nil || length < 0 || length > r.source.Len()/2 { // a key and a value take a byte each at least
		return dst, false, ErrInvalidPayload
	}
	dst = append(dst, '{')
	members := 0
	for range length {
		mark := len(dst)
		if members > 0 {
			dst = append(dst, ',')
		}
		key, err := r.readStr()
		if err != nil {
			return dst, false, err
		}
		dst = appendJSString(dst, key)
		dst = append(dst, ':')
		var undefined bool
		if dst, undefined, err = r.appendJSON(dst, depth+1); err != nil {
			return dst, false, err
		}
		if undefined {
			dst = dst[:mark] // JSON.stringify leaves undefined members out
			continue
		}
		members++
	}
	return append(dst, '}'), false, nil
}

// appendExtension handles notepack's extensions (see the top of the file).
func (r *NotepackReader) appendExtension(dst []byte, code byte) ([]byte, bool, error) {
	extensionType, length, err := r.decoder.DecodeExtHeader()
	if err != nil || length < 0 || length > r.source.Len() {
		return dst, false, ErrInvalidPayload
	}
	var body [12]byte
	if length > len(body) || (extensionType != 0 && extensionType != -1) {
		return dst, false, ErrMsgpackBinary
	}
	if r.decoder.ReadFull(body[:length]) != nil {
		return dst, false, ErrInvalidPayload
	}
	switch {
	case extensionType == 0 && code == msgpcode.FixExt1:
		return dst, true, nil
	case extensionType == 0 && code == msgpcode.FixExt8:
		// Milliseconds since 1970: a signed high and an unsigned low word.
		high := int64(int32(binary.BigEndian.Uint32(body[:4])))
		low := int64(binary.BigEndian.Uint32(body[4:8]))
		return appendJSDate(dst, float64(high<<32+low)), false, nil
	case extensionType == 0:
		return dst, false, ErrMsgpackBinary
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
		return dst, false, ErrInvalidPayload
	}
	return appendJSDate(dst, seconds*1e3+nanoseconds/1e6), false, nil
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
