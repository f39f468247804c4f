package wire

import (
	"encoding/binary"
	"math"
	"strconv"
	"unsafe"
)

// This file turns the server's JSON Socket.IO packets into the msgpack form
// the socket.io-msgpack-parser client decodes: a msgpack map {type, nsp,
// data, id} (its Decoder.checkPacket), where data is the JSON payload
// re-encoded as msgpack. The engine builds every server packet once as JSON;
// a socket whose client uses that parser gets this translation, built once
// per frame and shared like the JSON one.
//
// The values come out as the Node.js parser's notepack encoder would write
// what JSON.parse returns: integers in the smallest msgpack integer (JSON.parse
// makes 1.0 and 1e3 integers too), other numbers float64, strings as str with
// their escapes resolved, maps and arrays in the smallest header. Only the
// order of object keys may differ (JavaScript moves integer-like keys first),
// which no decoder sees.

// maxExactInteger bounds the numbers written as msgpack integers: past 2^63
// an integer no longer fits int64, and it goes out as float64.
const maxExactInteger = 1 << 63

// AppendMsgpackSocketPacket appends the msgpack encoding of the Socket.IO v5
// packet text packet (what follows the Engine.IO message type, e.g.
// `2["market:data",{...}]`), as socket.io-msgpack-parser encodes a packet:
// a map with "type", "nsp", "data" (absent when the packet has none) and
// "id" (for an ack id). It returns ParseSocketPacket's error for a packet
// that is not valid, and ErrInvalidSocketType for the binary types, which
// that parser does not have.
func AppendMsgpackSocketPacket(dst []byte, packet []byte) ([]byte, error) {
	parsed, err := ParseSocketPacket(packet)
	if err != nil {
		return dst, err
	}
	if parsed.Type.isBinary() {
		return dst, ErrInvalidSocketType
	}
	fields := 2
	if parsed.Data != nil {
		fields++
	}
	if parsed.ID != NoAckID {
		fields++
	}
	dst = appendMsgpackMapHeader(dst, fields)
	dst = appendMsgpackString(dst, "type")
	dst = appendMsgpackInt(dst, int64(parsed.Type))
	dst = appendMsgpackString(dst, "nsp")
	dst = appendMsgpackString(dst, parsed.Namespace)
	if parsed.Data != nil {
		dst = appendMsgpackString(dst, "data")
		dst = AppendMsgpackJSON(dst, parsed.Data)
	}
	if parsed.ID != NoAckID {
		dst = appendMsgpackString(dst, "id")
		dst = appendMsgpackInt(dst, parsed.ID)
	}
	return dst, nil
}

// AppendMsgpackJSON appends the msgpack encoding of the JSON document data,
// which a validator has accepted (the walk trusts its syntax, as the scanner
// in jsonscan.go does). On other input it writes something rather than
// panic, without a promise of what.
func AppendMsgpackJSON(dst []byte, data []byte) []byte {
	dst, _ = appendMsgpackValue(dst, data, SkipJSONSpace(data, 0))
	return dst
}

// appendMsgpackValue appends the JSON value at data[i] and returns the index
// after it.
func appendMsgpackValue(dst []byte, data []byte, i int) ([]byte, int) {
	if i >= len(data) {
		return append(dst, 0xc0), i // nil
	}
	switch data[i] {
	case '{':
		return appendMsgpackObject(dst, data, i)
	case '[':
		return appendMsgpackArray(dst, data, i)
	case '"':
		end := JSONStringEnd(data, i)
		return appendMsgpackJSONString(dst, data[i:end]), end
	case 't':
		return append(dst, 0xc3), JSONValueEnd(data, i)
	case 'f':
		return append(dst, 0xc2), JSONValueEnd(data, i)
	case 'n':
		return append(dst, 0xc0), JSONValueEnd(data, i)
	}
	end := JSONValueEnd(data, i)
	if end == i { // a stray delimiter: move on rather than loop
		return append(dst, 0xc0), i + 1
	}
	return appendMsgpackNumber(dst, data[i:end]), end
}

// appendMsgpackArray appends the array at data[i]: its elements are
// counted first (msgpack puts the count before them), then written.
func appendMsgpackArray(dst []byte, data []byte, i int) ([]byte, int) {
	count := 0
	j := SkipJSONSpace(data, i+1)
	for j < len(data) && data[j] != ']' {
		count++
		j = SkipJSONSpace(data, JSONValueEnd(data, j))
		if j < len(data) && data[j] == ',' {
			j = SkipJSONSpace(data, j+1)
		} else {
			break
		}
	}
	dst = appendMsgpackArrayHeader(dst, count)
	j = SkipJSONSpace(data, i+1)
	for n := 0; n < count; n++ {
		dst, j = appendMsgpackValue(dst, data, j)
		j = SkipJSONSpace(data, j)
		if j < len(data) && data[j] == ',' {
			j = SkipJSONSpace(data, j+1)
		}
	}
	if j < len(data) && data[j] == ']' {
		j++
	}
	return dst, j
}

// appendMsgpackObject appends the object at data[i] as a map, members
// counted first like an array's elements.
func appendMsgpackObject(dst []byte, data []byte, i int) ([]byte, int) {
	count := 0
	j := SkipJSONSpace(data, i+1)
	for j < len(data) && data[j] == '"' {
		count++
		j = SkipJSONSpace(data, JSONStringEnd(data, j))
		if j < len(data) && data[j] == ':' {
			j = SkipJSONSpace(data, j+1)
		}
		j = SkipJSONSpace(data, JSONValueEnd(data, j))
		if j < len(data) && data[j] == ',' {
			j = SkipJSONSpace(data, j+1)
		} else {
			break
		}
	}
	dst = appendMsgpackMapHeader(dst, count)
	j = SkipJSONSpace(data, i+1)
	for n := 0; n < count; n++ {
		end := JSONStringEnd(data, j)
		dst = appendMsgpackJSONString(dst, data[j:end])
		j = SkipJSONSpace(data, end)
		if j < len(data) && data[j] == ':' {
			j = SkipJSONSpace(data, j+1)
		}
		dst, j = appendMsgpackValue(dst, data, j)
		j = SkipJSONSpace(data, j)
		if j < len(data) && data[j] == ',' {
			j = SkipJSONSpace(data, j+1)
		}
	}
	if j < len(data) && data[j] == '}' {
		j++
	}
	return dst, j
}

// appendMsgpackJSONString appends the JSON string literal quoted (quotes
// included) as a msgpack str of its value.
func appendMsgpackJSONString(dst []byte, quoted []byte) []byte {
	if len(quoted) < 2 || quoted[len(quoted)-1] != '"' {
		return appendMsgpackStringHeader(dst, 0)
	}
	content := quoted[1 : len(quoted)-1]
	escaped := false
	for _, c := range content {
		if c == '\\' {
			escaped = true
			break
		}
	}
	if !escaped {
		dst = appendMsgpackStringHeader(dst, len(content))
		return append(dst, content...)
	}
	if !validEscapes(content) {
		return appendMsgpackStringHeader(dst, 0)
	}
	// The value is at most as long as its escaped form: write it after a
	// header sized for that, then move it when the real header is shorter.
	headerAt := len(dst)
	dst = appendMsgpackStringHeader(dst, len(content))
	reserved := len(dst) - headerAt
	start := len(dst)
	dst = appendJSONUnquoted(dst, quoted)
	length := len(dst) - start
	var header [5]byte
	needed := len(appendMsgpackStringHeader(header[:0], length))
	appendMsgpackStringHeader(dst[headerAt:headerAt], length)
	if needed < reserved {
		copy(dst[headerAt+needed:], dst[start:])
		dst = dst[:headerAt+needed+length]
	}
	return dst
}

// validEscapes reports whether every backslash in content starts a complete
// escape, so that appendJSONUnquoted cannot read past it.
func validEscapes(content []byte) bool {
	for i := 0; i < len(content); i++ {
		if content[i] != '\\' {
			continue
		}
		if i+1 >= len(content) {
			return false
		}
		if content[i+1] == 'u' {
			if i+6 > len(content) {
				return false
			}
			for _, c := range content[i+2 : i+6] {
				if hexValue(c) < 0 {
					return false
				}
			}
			i += 5
			continue
		}
		i++
	}
	return true
}

// appendMsgpackNumber appends the JSON number text as notepack writes the
// number JSON.parse makes of it: an integer when it has no fraction, else
// float64.
func appendMsgpackNumber(dst []byte, text []byte) []byte {
	if integer, ok := parseJSONInteger(text); ok {
		return appendMsgpackInt(dst, integer)
	}
	value, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(text), len(text)), 64)
	if err != nil && !math.IsInf(value, 0) {
		return append(dst, 0xc0) // not a number at all (unvalidated input)
	}
	if value == math.Trunc(value) && math.Abs(value) < maxExactInteger {
		return appendMsgpackInt(dst, int64(value))
	}
	dst = append(dst, 0xcb)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(value))
}

// parseJSONInteger reads a JSON number made of an optional '-' and digits
// that fits int64; ok is false for anything else. Such an integer is
// written exactly: JavaScript rounds one past 2^53 when it parses it, and
// rounds the msgpack integer the same way when it decodes it.
func parseJSONInteger(text []byte) (int64, bool) {
	digits := text
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	value, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(text), len(text)), 10, 64)
	return value, err == nil
}

// appendMsgpackInt appends n in the smallest msgpack integer format, as
// notepack chooses it: fixint, then uint8..uint64 for positive numbers and
// int8..int64 for negative ones.
func appendMsgpackInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0 && n < 0x80:
		return append(dst, byte(n))
	case n >= 0 && n < 0x100:
		return append(dst, 0xcc, byte(n))
	case n >= 0 && n < 0x10000:
		return append(dst, 0xcd, byte(n>>8), byte(n))
	case n >= 0 && n < 0x100000000:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(n))
	case n >= 0:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), uint64(n))
	case n >= -0x20:
		return append(dst, byte(n))
	case n >= -0x80:
		return append(dst, 0xd0, byte(n))
	case n >= -0x8000:
		return append(dst, 0xd1, byte(n>>8), byte(n))
	case n >= -0x80000000:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(n))
}

// appendMsgpackString appends s as a msgpack str.
func appendMsgpackString(dst []byte, s string) []byte {
	dst = appendMsgpackStringHeader(dst, len(s))
	return append(dst, s...)
}

func appendMsgpackStringHeader(dst []byte, length int) []byte {
	switch {
	case length < 0x20:
		return append(dst, 0xa0|byte(length))
	case length < 0x100:
		return append(dst, 0xd9, byte(length))
	case length < 0x10000:
		return append(dst, 0xda, byte(length>>8), byte(length))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(length))
}

func appendMsgpackArrayHeader(dst []byte, length int) []byte {
	switch {
	case length < 0x10:
		return append(dst, 0x90|byte(length))
	case length < 0x10000:
		return append(dst, 0xdc, byte(length>>8), byte(length))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(length))
}

func appendMsgpackMapHeader(dst []byte, length int) []byte {
	switch {
	case length < 0x10:
		return append(dst, 0x80|byte(length))
	case length < 0x10000:
		return append(dst, 0xde, byte(length>>8), byte(length))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(length))
}
