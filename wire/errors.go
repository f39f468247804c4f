package wire

import "errors"

// Engine.IO v4 errors.
var (
	// ErrEmptyPacket is returned by ParsePacket for an empty input: an
	// Engine.IO packet has at least its type byte (Engine.IO v4 §packet encoding).
	ErrEmptyPacket = errors.New("wire: empty packet")

	// ErrInvalidPacketType is returned by ParsePacket when the first byte is not
	// one of the Engine.IO v4 packet types '0' to '6'.
	ErrInvalidPacketType = errors.New("wire: invalid packet type")

	// ErrInvalidPayload is returned by DecodePayload for a polling payload with an
	// empty segment, bad base64 or a bad packet type, and by ParseSocketPacket and
	// ParseEvent when the Socket.IO payload is not valid JSON or has the wrong
	// shape for the packet type.
	ErrInvalidPayload = errors.New("wire: invalid payload")

	// ErrInvalidOpen is returned by ParseOpen when the open packet's JSON does not
	// describe a handshake (Engine.IO v4 §handshake).
	ErrInvalidOpen = errors.New("wire: invalid open packet")
)

// Socket.IO v5 errors.
var (
	// ErrInvalidSocketType is returned by ParseSocketPacket when the first byte
	// is not a Socket.IO v5 packet type digit '0' to '6', or the input is empty.
	ErrInvalidSocketType = errors.New("wire: invalid socket.io packet type")

	// ErrInvalidAttachments is returned by ParseSocketPacket when a BINARY_EVENT
	// or BINARY_ACK does not start with a non-negative decimal count and '-'.
	ErrInvalidAttachments = errors.New("wire: invalid attachments count")

	// ErrInvalidAckID is returned by ParseSocketPacket when the ack id is too
	// large to be an exact JavaScript number, or starts with whitespace (which
	// the reference decoder would read as part of the id).
	ErrInvalidAckID = errors.New("wire: invalid ack id")

	// ErrReservedEvent is returned by ParseSocketPacket and ParseEvent for an
	// event whose name is reserved by Socket.IO (connect, connect_error,
	// disconnect, disconnecting, newListener, removeListener).
	ErrReservedEvent = errors.New("wire: reserved event name")

	// ErrInvalidEventName is returned by ParseEvent when the first element of the
	// event array is a number: the reference parser lets it through, but an event
	// name is a string.
	ErrInvalidEventName = errors.New("wire: invalid event name")

	// ErrInvalidUTF8 is returned by ParseSocketPacket when the packet is not valid
	// UTF-8 (a WebSocket text message must be, RFC 6455 §8.1).
	ErrInvalidUTF8 = errors.New("wire: invalid UTF-8")
)

// RFC 6455 errors.
var (
	// ErrShortHeader is returned by ParseFrameHeader when the input does not yet
	// hold the whole frame header; HeaderSize tells how many bytes it needs.
	ErrShortHeader = errors.New("wire: short frame header")

	// ErrControlFrame is returned by ParseFrameHeader for a control frame that is
	// fragmented or has a payload over 125 bytes (RFC 6455 §5.5).
	ErrControlFrame = errors.New("wire: invalid control frame")

	// ErrFrameLength is returned by ParseFrameHeader for a 64-bit payload length
	// with its most significant bit set (RFC 6455 §5.2).
	ErrFrameLength = errors.New("wire: invalid frame length")

	// ErrInvalidOpCode is returned by ParseFrameHeader for a reserved opcode
	// (0x3-0x7, 0xB-0xF): RFC 6455 §5.2 requires failing the connection.
	ErrInvalidOpCode = errors.New("wire: reserved opcode")

	// ErrInvalidClosePayload is returned by ParseClosePayload for a close body of
	// one byte or a status code that must not appear on the wire (RFC 6455
	// §5.5.1, §7.4).
	ErrInvalidClosePayload = errors.New("wire: invalid close payload")

	// ErrCloseReasonNotUTF8 is returned by ParseClosePayload for a close body
	// whose code is valid but whose reason is not UTF-8 (RFC 6455 §5.5.1);
	// the answer to it is close code 1007 rather than 1002.
	ErrCloseReasonNotUTF8 = errors.New("wire: close reason is not UTF-8")
)
