package wire

import (
	"strconv"
)

// Event is an EVENT payload split into its name and its argument values (each
// raw JSON, aliasing the input).
type Event struct {
	Name string
	Args [][]byte
}

// ParseEvent splits an EVENT/BINARY_EVENT payload (a JSON array, Socket.IO v5
// §EVENT) into its name and args. It validates first (validJSON), so it is
// safe on any input, and syntax errors win over shape errors whatever their
// position: not a non-empty JSON array -> ErrInvalidPayload; a first element
// that is a number (allowed by the parser) -> ErrInvalidEventName; any other
// non-string first element -> ErrInvalidPayload; a reserved name ->
// ErrReservedEvent. Args alias data and are nil when there are none; Name is
// the decoded string.
func ParseEvent(data []byte) (Event, error) {
	if !validJSON(data) {
		return Event{}, ErrInvalidPayload
	}
	array, isArray := newJSONArray(data)
	first, ok := array.next()
	if !isArray || !ok {
		return Event{}, ErrInvalidPayload
	}
	switch c := first[0]; {
	case c == '"':
	case c == '-' || c >= '0' && c <= '9':
		return Event{}, ErrInvalidEventName
	default:
		return Event{}, ErrInvalidPayload
	}
	if isReservedEvent(first) {
		return Event{}, ErrReservedEvent
	}
	event := Event{Name: unquoteJSONString(first)}
	for argument, ok := array.next(); ok; argument, ok = array.next() {
		event.Args = append(event.Args, argument)
	}
	return event, nil
}

// appendMessageHeader appends the Engine.IO message type, the Socket.IO type
// digit and the namespace prefix shared by all the Append* packet builders.
func appendMessageHeader(dst []byte, packetType SocketType, namespace string) []byte {
	dst = append(dst, byte(PacketMessage), '0'+byte(packetType))
	return appendNamespace(dst, namespace)
}

// AppendEvent appends the complete Engine.IO message text of a server event
// (Engine.IO v4 message + Socket.IO v5 EVENT): "4" + "2" + [namespace + ","]
// + `["name",payload]`. payload is raw JSON written verbatim (nil means no
// argument: `["name"]`); name is JSON-string-escaped. It allocates only to
// grow dst.
func AppendEvent(dst []byte, namespace, name string, payload []byte) []byte {
	dst = appendMessageHeader(dst, SocketEvent, namespace)
	dst = append(dst, '[')
	dst = appendJSONString(dst, name)
	if payload != nil {
		dst = append(dst, ',')
		dst = append(dst, payload...)
	}
	return append(dst, ']')
}

// AppendAck appends "4" + "3" + [namespace + ","] + id + "[" + payload + "]"
// (Socket.IO v5 §ACK): id is the client's ack id (ParseSocketPacket's ID,
// never NoAckID); payload is raw JSON, the one argument of the ack; nil means
// no argument ("[]"). It allocates only to grow dst.
func AppendAck(dst []byte, namespace string, id int64, payload []byte) []byte {
	dst = appendMessageHeader(dst, SocketAck, namespace)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, '[')
	dst = append(dst, payload...)
	return append(dst, ']')
}

// AppendConnect appends "4" + "0" + [namespace + ","] + `{"sid":"..."}`, the
// server's answer to a CONNECT (Socket.IO v5 §CONNECT); sid is JSON-escaped.
func AppendConnect(dst []byte, namespace, sid string) []byte {
	dst = appendMessageHeader(dst, SocketConnect, namespace)
	dst = append(dst, `{"sid":`...)
	dst = appendJSONString(dst, sid)
	return append(dst, '}')
}

// AppendConnectRecoverable is AppendConnect for a server with connection
// state recovery (socket.io 4.6 and later): the answer also carries the
// private session id the client presents to recover,
// {"sid":"...","pid":"..."}; both are JSON-escaped.
func AppendConnectRecoverable(dst []byte, namespace, sid, pid string) []byte {
	dst = appendMessageHeader(dst, SocketConnect, namespace)
	dst = append(dst, `{"sid":`...)
	dst = appendJSONString(dst, sid)
	dst = append(dst, `,"pid":`...)
	dst = appendJSONString(dst, pid)
	return append(dst, '}')
}

// AppendConnectError appends "4" + "4" + [namespace + ","] + payload (raw JSON
// object, written verbatim), the refusal of a CONNECT (Socket.IO v5
// §CONNECT_ERROR).
func AppendConnectError(dst []byte, namespace string, payload []byte) []byte {
	dst = appendMessageHeader(dst, SocketConnectError, namespace)
	return append(dst, payload...)
}

// AppendDisconnect appends "4" + "1" + [namespace + ","] (Socket.IO v5
// §DISCONNECT).
func AppendDisconnect(dst []byte, namespace string) []byte {
	return appendMessageHeader(dst, SocketDisconnect, namespace)
}
