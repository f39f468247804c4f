package wire

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// This file reads what a socket.io-msgpack-parser client sends: one msgpack
// map per Socket.IO packet, {type, nsp, data, id, options}, encoded by
// notepack. It is rewritten as the Socket.IO packet text the JSON parser
// sends, so that a msgpack client's events go through exactly the same
// checks, limits and handlers as a JSON client's.
//
// JavaScript values become what JSON.stringify makes of them, which is what
// the gateway's handlers see from a JSON client sending the same object:
// undefined (notepack's fixext 1 of type 0) leaves an object member out and
// is null in an array; a Date (notepack's fixext 8 of type 0) is its ISO
// string; NaN and the infinities are null. Binary values (bin, or the ext
// types notepack uses for ArrayBuffer) have no JSON form: ErrMsgpackBinary.

// maxMsgpackDepth is how deeply arrays and maps may nest, the same bound
// the JSON validator applies to JSON clients (json.go).
const maxMsgpackDepth = 10000

// Errors of DecodeMsgpackSocketPacket.
var (
	// ErrMsgpackBinary is returned by DecodeMsgpackSocketPacket for a packet
	// whose data holds binary values (msgpack bin, or an ext), which have no
	// JSON form.
	ErrMsgpackBinary = errors.New("wire: binary value in a msgpack packet")

	// ErrMsgpackTooLarge is returned by DecodeMsgpackSocketPacket when the
	// packet's JSON form would pass the caller's limit.
	ErrMsgpackTooLarge = errors.New("wire: msgpack packet too large as JSON")
)

// errMsgpackUndefined marks a JavaScript undefined while decoding a value.
var errMsgpackUndefined = errors.New("wire: undefined")

// DecodeMsgpackSocketPacket appends to dst the Socket.IO v5 packet text
// (ParseSocketPacket's input) of the msgpack packet b, as sent by a
// socket.io-msgpack-parser client. It checks what that parser's Decoder
// checks (an integer type from CONNECT to CONNECT_ERROR, a string
// namespace, an integer ack id) and leaves the shape of data to
// ParseSocketPacket. The JSON form may be at most limit bytes
// (ErrMsgpackTooLarge). Other errors: ErrInvalidPayload (not one msgpack
// map, or not such a packet), ErrInvalidSocketType, ErrInvalidAckID (a
// negative id or one past 2^53-1), ErrMsgpackBinary.
func DecodeMsgpackSocketPacket(dst []byte, b []byte, limit int) ([]byte, error) {
	reader := bytes.NewReader(b)
	decoder := msgpack.GetDecoder()
	defer msgpack.PutDecoder(decoder)
	decoder.Reset(reader)
	fields, err := decoder.DecodeMapLen()
	if err != nil || fields < 0 {
		return dst, ErrInvalidPayload
	}
	packetType, namespace, id := int64(-1), "", NoAckID
	hasNamespace := false
	var data []byte
	for range fields {
		key, err := decoder.DecodeString()
		if err != nil {
			return dst, ErrInvalidPayload
		}
		switch key {
		case "type":
			if packetType, err = decodeMsgpackInteger(decoder); err != nil {
				return dst, ErrInvalidSocketType
			}
		case "nsp":
			if namespace, err = decoder.DecodeString(); err != nil {
				return dst, ErrInvalidPayload
			}
			hasNamespace = true
		case "id":
			if undefined, _ := skipMsgpackUndefined(decoder); undefined {
				id = NoAckID
				continue
			}
			value, err := decodeMsgpackInteger(decoder)
			if err != nil || value < 0 || value > maxSafeInteger {
				return dst, ErrInvalidAckID
			}
			id = value
		case "data":
			data, err = appendMsgpackAsJSON(data[:0], decoder, 0, limit)
			if err == errMsgpackUndefined {
				data, err = nil, nil
			}
			if err != nil {
				return dst, err
			}
		default: // "options" (compress) and anything else the server ignores
			if decoder.Skip() != nil {
				return dst, ErrInvalidPayload
			}
		}
	}
	if reader.Len() != 0 {
		return dst, ErrInvalidPayload // more than one value
	}
	if packetType < int64(SocketConnect) || packetType > int64(SocketConnectError) {
		return dst, ErrInvalidSocketType
	}
	if !hasNamespace || (namespace != "/" && (len(namespace) == 0 || namespace[0] != '/' || bytes.IndexByte([]byte(namespace), ',') >= 0)) {
		// The text form cannot carry a namespace without its '/' or with a
		// ',' in it; no such namespace exists here anyway.
		return dst, ErrInvalidPayload
	}
	if len(namespace)+len(data)+24 > limit {
		return dst, ErrMsgpackTooLarge
	}
	return AppendSocketPacket(dst, SocketPacket{Type: SocketType(packetType), Namespace: namespace, ID: id, Data: data}), nil
}

// decodeMsgpackInteger reads a number that JavaScript's Number.isInteger
// accepts: any msgpack integer, or a float with no fraction.
func decodeMsgpackInteger(decoder *msgpack.Decoder) (int64, error) {
	code, err := decoder.PeekCode()
	if err != nil {
		return 0, err
	}
	switch {
	case code == msgpcode.Float || code == msgpcode.Double:
		value, err := decoder.DecodeFloat64()
		if err != nil || value != math.Trunc(value) || math.Abs(value) > maxSafeInteger {
			return 0, ErrInvalidPayload
		}
		return int64(value), nil
	case code == msgpcode.Uint64:
		value, err := decoder.DecodeUint64()
		if err != nil || value > math.MaxInt64 {
			return 0, ErrInvalidPayload
		}
		return int64(value), nil
	case msgpcode.IsFixedNum(code), code >= msgpcode.Uint8 && code <= msgpcode.Int64:
		return decoder.DecodeInt64()
	}
	return 0, ErrInvalidPayload
}

// skipMsgpackUndefined consumes notepack's undefined (fixext 1 of type 0,
// d4 00 00) when it comes next.
func skipMsgpackUndefined(decoder *msgpack.Decoder) (bool, error) {
	code, err := decoder.PeekCode()
	if err != nil || code != msgpcode.FixExt1 {
		return false, err
	}
	extType, length, err := decoder.DecodeExtHeader()
	if err != nil {
		return false, err
	}
	var body [1]byte
	if err := decoder.ReadFull(body[:length]); err != nil {
		return false, err
	}
	if extType != 0 {
		return false, ErrMsgpackBinary
	}
	return true, nil
}

// appendMsgpackAsJSON appends the next msgpack value as JSON: the value
// JSON.stringify writes for what notepack decodes. errMsgpackUndefined
// reports an undefined, which the caller leaves out or writes as null.
func appendMsgpackAsJSON(dst []byte, decoder *msgpack.Decoder, depth, limit int) ([]byte, error) {
	if len(dst) > limit {
		return dst, ErrMsgpackTooLarge
	}
	if depth > maxMsgpackDepth {
		return dst, ErrInvalidPayload
	}
	code, err := decoder.PeekCode()
	if err != nil {
		return dst, ErrInvalidPayload
	}
	switch {
	case code == msgpcode.Nil:
		_ = decoder.DecodeNil()
		return append(dst, "null"...), nil
	case code == msgpcode.True || code == msgpcode.False:
		value, _ := decoder.DecodeBool()
		return strconv.AppendBool(dst, value), nil
	case code == msgpcode.Uint64:
		value, err := decoder.DecodeUint64()
		if err != nil {
			return dst, ErrInvalidPayload
		}
		return strconv.AppendUint(dst, value, 10), nil
	case msgpcode.IsFixedNum(code), code >= msgpcode.Uint8 && code <= msgpcode.Int64:
		value, err := decoder.DecodeInt64()
		if err != nil {
			return dst, ErrInvalidPayload
		}
		return strconv.AppendInt(dst, value, 10), nil
	case code == msgpcode.Float || code == msgpcode.Double:
		value, err := decoder.DecodeFloat64()
		if err != nil {
			return dst, ErrInvalidPayload
		}
		if math.IsNaN(value) || math.IsInf(value, 0) {
			return append(dst, "null"...), nil
		}
		return strconv.AppendFloat(dst, value, 'g', -1, 64), nil
	case msgpcode.IsString(code):
		value, err := decoder.DecodeString()
		if err != nil {
			return dst, ErrInvalidPayload
		}
		return appendJSONString(dst, value), nil
	case msgpcode.IsBin(code):
		return dst, ErrMsgpackBinary
	case msgpcode.IsExt(code):
		return appendMsgpackExtAsJSON(dst, decoder)
	case code == msgpcode.Array16 || code == msgpcode.Array32 || msgpcode.IsFixedArray(code):
		return appendMsgpackArrayAsJSON(dst, decoder, depth, limit)
	case code == msgpcode.Map16 || code == msgpcode.Map32 || msgpcode.IsFixedMap(code):
		return appendMsgpackMapAsJSON(dst, decoder, depth, limit)
	}
	return dst, ErrInvalidPayload // 0xc1, never used
}

func appendMsgpackArrayAsJSON(dst []byte, decoder *msgpack.Decoder, depth, limit int) ([]byte, error) {
	length, err := decoder.DecodeArrayLen()
	if err != nil {
		return dst, ErrInvalidPayload
	}
	dst = append(dst, '[')
	for i := range length {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst, err = appendMsgpackAsJSON(dst, decoder, depth+1, limit)
		if err == errMsgpackUndefined {
			dst, err = append(dst, "null"...), nil
		}
		if err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

func appendMsgpackMapAsJSON(dst []byte, decoder *msgpack.Decoder, depth, limit int) ([]byte, error) {
	length, err := decoder.DecodeMapLen()
	if err != nil {
		return dst, ErrInvalidPayload
	}
	dst = append(dst, '{')
	written := 0
	for range length {
		// notepack writes object keys as strings; other keys would need
		// JavaScript's conversion rules, and no client sends them.
		key, err := decoder.DecodeString()
		if err != nil {
			return dst, ErrInvalidPayload
		}
		mark := len(dst)
		if written > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, key)
		dst = append(dst, ':')
		dst, err = appendMsgpackAsJSON(dst, decoder, depth+1, limit)
		if err == errMsgpackUndefined {
			dst = dst[:mark] // JSON.stringify leaves the member out
			continue
		}
		if err != nil {
			return dst, err
		}
		written++
	}
	return append(dst, '}'), nil
}

// appendMsgpackExtAsJSON handles the ext types notepack writes: undefined
// and Date; every other ext (notepack's ArrayBuffer) is binary.
func appendMsgpackExtAsJSON(dst []byte, decoder *msgpack.Decoder) ([]byte, error) {
	code, _ := decoder.PeekCode()
	extType, length, err := decoder.DecodeExtHeader()
	if err != nil {
		return dst, ErrInvalidPayload
	}
	var body [8]byte
	switch {
	case extType == 0 && code == msgpcode.FixExt1 && length == 1:
		if decoder.ReadFull(body[:1]) != nil {
			return dst, ErrInvalidPayload
		}
		return dst, errMsgpackUndefined
	case extType == 0 && code == msgpcode.FixExt8 && length == 8:
		if decoder.ReadFull(body[:]) != nil {
			return dst, ErrInvalidPayload
		}
		// notepack: the milliseconds since 1970 as a signed high and an
		// unsigned low 32-bit word.
		high := int64(int32(uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3])))
		low := int64(uint32(body[4])<<24 | uint32(body[5])<<16 | uint32(body[6])<<8 | uint32(body[7]))
		milliseconds := high<<32 + low
		const maxDate = 8.64e15 // ECMAScript's time value range
		if milliseconds > maxDate || milliseconds < -maxDate {
			return append(dst, "null"...), nil // an Invalid Date stringifies as null
		}
		when := time.UnixMilli(milliseconds).UTC()
		dst = append(dst, '"')
		dst = when.AppendFormat(dst, "2006-01-02T15:04:05.000Z")
		return append(dst, '"'), nil
	}
	return dst, ErrMsgpackBinary
}
