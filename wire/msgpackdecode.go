package wire

import (
	"errors"
	"math"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// This file reads what a socket.io-msgpack-parser client sends: one msgpack
// map per Socket.IO packet, {type, nsp, data, id, options}, encoded by
// notepack. It is rewritten as the Socket.IO packet text the JSON parser
// sends, so that a msgpack client's events go through exactly the same
// checks, limits and handlers as a JSON client's. The data becomes what
// JSON.stringify makes of the value notepack decodes (notepack.go), which
// is what the gateway's handlers see from a JSON client sending the same
// object.

// maxMsgpackDepth is how deeply arrays and maps may nest, the same bound
// the JSON validator applies to JSON clients (json.go).
const maxMsgpackDepth = 10000

// Errors of DecodeMsgpackSocketPacket and NotepackReader.
var (
	// ErrMsgpackBinary is returned for a value that is binary (msgpack bin,
	// an ArrayBuffer, an unknown ext), which has no JSON form.
	ErrMsgpackBinary = errors.New("wire: binary value in a msgpack packet")

	// ErrMsgpackTooLarge is returned when the JSON form would pass the
	// caller's limit.
	ErrMsgpackTooLarge = errors.New("wire: msgpack packet too large as JSON")
)

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
	reader := NotepackReader{decoder: msgpack.GetDecoder(), maxDepth: maxMsgpackDepth, limit: limit}
	defer msgpack.PutDecoder(reader.decoder)
	reader.source.Reset(b)
	reader.decoder.Reset(&reader.source)
	decoder := reader.decoder
	fields, err := decoder.DecodeMapLen()
	if err != nil || fields < 0 || fields > reader.Remaining()/2 {
		return dst, ErrInvalidPayload
	}
	packetType, namespace, id := int64(-1), "", NoAckID
	hasNamespace := false
	var data []byte
	for range fields {
		key, err := reader.readStr()
		if err != nil {
			return dst, ErrInvalidPayload
		}
		switch string(key) {
		case "type":
			if packetType, err = decodeMsgpackInteger(decoder); err != nil {
				return dst, ErrInvalidSocketType
			}
		case "nsp":
			if namespace, err = reader.ReadString(); err != nil {
				return dst, ErrInvalidPayload
			}
			hasNamespace = true
		case "id":
			if undefined, _ := reader.skipUndefined(); undefined {
				id = NoAckID
				continue
			}
			value, err := decodeMsgpackInteger(decoder)
			if err != nil || value < 0 || value > maxSafeInteger {
				return dst, ErrInvalidAckID
			}
			id = value
		case "data":
			var undefined bool
			data, undefined, err = reader.AppendJSON(data[:0])
			if err != nil {
				return dst, err
			}
			if undefined {
				data = nil
			}
		default: // "options" (compress) and anything else the server ignores
			if decoder.Skip() != nil {
				return dst, ErrInvalidPayload
			}
		}
	}
	if reader.Remaining() != 0 {
		return dst, ErrInvalidPayload // more than one value
	}
	if packetType < int64(SocketConnect) || packetType > int64(SocketConnectError) {
		return dst, ErrInvalidSocketType
	}
	if !hasNamespace || (namespace != "/" && (len(namespace) == 0 || namespace[0] != '/' || strings.IndexByte(namespace, ',') >= 0)) {
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
