package wire

import (
	"strconv"
	"unicode/utf8"
)

// SocketType is a Socket.IO v5 packet type: the numeric type 0..6, NOT the
// ASCII digit that encodes it (Socket.IO v5 §packet types).
type SocketType byte

// Socket.IO v5 packet types.
const (
	SocketConnect      SocketType = 0
	SocketDisconnect   SocketType = 1
	SocketEvent        SocketType = 2
	SocketAck          SocketType = 3
	SocketConnectError SocketType = 4
	SocketBinaryEvent  SocketType = 5
	SocketBinaryAck    SocketType = 6
)

// String returns the packet type's name as the Socket.IO v5 spec spells it.
func (t SocketType) String() string {
	switch t {
	case SocketConnect:
		return "CONNECT"
	case SocketDisconnect:
		return "DISCONNECT"
	case SocketEvent:
		return "EVENT"
	case SocketAck:
		return "ACK"
	case SocketConnectError:
		return "CONNECT_ERROR"
	case SocketBinaryEvent:
		return "BINARY_EVENT"
	case SocketBinaryAck:
		return "BINARY_ACK"
	}
	return "SocketType(" + strconv.Itoa(int(t)) + ")"
}

// isBinary reports whether packets of type t announce binary attachments.
func (t SocketType) isBinary() bool {
	return t == SocketBinaryEvent || t == SocketBinaryAck
}

// NoAckID is SocketPacket.ID when the packet carries no ack id.
const NoAckID int64 = -1

// maxSafeInteger is Number.MAX_SAFE_INTEGER: the reference decoder turns ack
// ids and attachment counts into JavaScript numbers, which are exact only up
// to here, so larger ones cannot be answered faithfully.
const maxSafeInteger = 1<<53 - 1

// SocketPacket is one Socket.IO packet (the payload of an Engine.IO message packet).
type SocketPacket struct {
	Type        SocketType
	Namespace   string // "/" when absent
	ID          int64  // ack id, NoAckID when absent
	Data        []byte // raw JSON payload (aliases input), nil when absent
	Attachments int    // for binary types: the number of binary attachments announced
}

// reservedEvents are the event names Socket.IO reserves (socket.io-parser
// RESERVED_EVENTS); the reference decoder rejects events that use them.
var reservedEvents = [...]string{
	"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
}

// maxReservedEventLength is the length of the longest reserved name.
const maxReservedEventLength = len("removeListener")

// ParseSocketPacket parses and validates one Socket.IO v5 packet exactly as the
// reference socket.io-parser v4 decoder does (Decoder.decodeString and
// isPayloadValid), with the deviations listed below. Data aliases b;
// Namespace is a copy (it allocates only when it is not "/").
//
// The encoding (Socket.IO v5 §packet encoding) is
//
//	<type digit>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//
// where the namespace is present when the byte after the type (or the '-')
// is '/', and runs to the first ',' or to the end of the packet.
//
// Errors: unknown type -> ErrInvalidSocketType; attachments not a decimal
// count followed by '-' -> ErrInvalidAttachments; ack id over 2^53-1 ->
// ErrInvalidAckID; payload not valid JSON -> ErrInvalidPayload; payload of the
// wrong shape for the type -> ErrInvalidPayload (CONNECT: object;
// DISCONNECT: none; CONNECT_ERROR: string or object; EVENT, BINARY_EVENT:
// non-empty array whose first element is a number or a string) or
// ErrReservedEvent (first element a reserved name); input not UTF-8 ->
// ErrInvalidUTF8.
//
// Like the reference, a packet with no payload is valid for every type (so
// "2" is an EVENT with Data nil: ParseEvent rejects it), and the ack id may
// have leading zeros. Where the reference relies on JavaScript's Number()
// leniency this parser is stricter: the type must be an ASCII digit (Number
// reads whitespace as 0), attachments and ack ids are ASCII digits only, and
// whitespace where an ack id could start gives ErrInvalidAckID (Number reads
// it as id 0, JSON would skip it, so the two readings disagree).
func ParseSocketPacket(b []byte) (SocketPacket, error) {
	if len(b) == 0 || b[0] < '0' || b[0] > '6' {
		return SocketPacket{}, ErrInvalidSocketType
	}
	if !utf8.Valid(b) {
		return SocketPacket{}, ErrInvalidUTF8
	}
	packet := SocketPacket{Type: SocketType(b[0] - '0'), Namespace: "/", ID: NoAckID}
	i := 1 // the next unread byte

	if packet.Type.isBinary() {
		start := i
		for i < len(b) && b[i] != '-' {
			i++
		}
		count, ok := parseDecimal(b[start:i])
		if !ok || i == len(b) {
			return SocketPacket{}, ErrInvalidAttachments
		}
		packet.Attachments = int(count)
		i++ // the '-'
	}

	if i < len(b) && b[i] == '/' {
		start := i
		for i < len(b) && b[i] != ',' {
			i++
		}
		packet.Namespace = string(b[start:i])
		if i < len(b) {
			i++ // the ','
		}
	}

	if i < len(b) && isJavaScriptNumberSpace(b[i]) {
		return SocketPacket{}, ErrInvalidAckID
	}
	if start := i; i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i = skipDigits(b, i)
		id, ok := parseDecimal(b[start:i])
		if !ok {
			return SocketPacket{}, ErrInvalidAckID
		}
		packet.ID = id
	}

	if i < len(b) {
		packet.Data = b[i:]
		if err := checkSocketPayload(packet.Type, packet.Data); err != nil {
			return SocketPacket{}, err
		}
	}
	return packet, nil
}

// isJavaScriptNumberSpace reports whether c is an ASCII character that
// JavaScript's Number() skips as whitespace (ECMA-262 StringToNumber).
func isJavaScriptNumberSpace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r'
}

// parseDecimal parses one or more ASCII digits into a value no greater than
// maxSafeInteger.
func parseDecimal(digits []byte) (int64, bool) {
	if len(digits) == 0 {
		return 0, false
	}
	var value int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		value = value*10 + int64(c-'0')
		if value > maxSafeInteger {
			return 0, false
		}
	}
	return value, true
}

// skipDigits returns the index of the first non-digit at or after i.
func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// checkSocketPayload is the reference isPayloadValid: the payload must be
// valid JSON of the shape the packet type calls for.
func checkSocketPayload(packetType SocketType, data []byte) error {
	if !validJSON(data) {
		return ErrInvalidPayload
	}
	first := data[SkipJSONSpace(data, 0)]
	switch packetType {
	case SocketConnect:
		if first != '{' {
			return ErrInvalidPayload
		}
	case SocketConnectError:
		if first != '{' && first != '"' {
			return ErrInvalidPayload
		}
	case SocketEvent, SocketBinaryEvent:
		return checkEventName(data)
	case SocketAck, SocketBinaryAck:
		if first != '[' {
			return ErrInvalidPayload
		}
	default: // SocketDisconnect carries no payload
		return ErrInvalidPayload
	}
	return nil
}

// checkEventName checks the first element of a valid JSON event array: a
// number, or a string that is not a reserved event name.
func checkEventName(data []byte) error {
	array, isArray := newJSONArray(data)
	first, ok := array.next()
	if !isArray || !ok {
		return ErrInvalidPayload
	}
	switch c := first[0]; {
	case c == '-' || c >= '0' && c <= '9':
		return nil
	case c == '"':
		if isReservedEvent(first) {
			return ErrReservedEvent
		}
		return nil
	}
	return ErrInvalidPayload
}

// isReservedEvent reports whether the JSON string literal quoted names a
// reserved event, decoding escapes first ("\u0063onnect" is "connect").
func isReservedEvent(quoted []byte) bool {
	// Each escape stands for at least one byte and takes at most six, so a
	// longer literal cannot decode to a reserved name.
	if len(quoted)-2 > 6*maxReservedEventLength {
		return false
	}
	var buffer [6 * maxReservedEventLength]byte
	name := appendJSONUnquoted(buffer[:0], quoted)
	for _, reserved := range reservedEvents {
		if string(name) == reserved {
			return true
		}
	}
	return false
}

// AppendSocketPacket encodes p (Socket.IO v5 §packet encoding): the type digit,
// the attachments count and '-' for binary types, the namespace and ',' when
// it is not "/" (or empty), the ack id when it is not negative, then Data
// verbatim. p is not validated: Data must already be JSON of the right shape,
// and the namespace must start with '/' and hold no ','.
func AppendSocketPacket(dst []byte, p SocketPacket) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type.isBinary() {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	dst = appendNamespace(dst, p.Namespace)
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// appendNamespace appends namespace and ',' unless it is the main namespace,
// which the encoding leaves out.
func appendNamespace(dst []byte, namespace string) []byte {
	if namespace == "" || namespace == "/" {
		return dst
	}
	dst = append(dst, namespace...)
	return append(dst, ',')
}
