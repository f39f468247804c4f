package engine

import (
	"sync/atomic"
	"unsafe"

	"github.com/protrader5/ws-gateway/wire"
)

// outboundFrame is one server message built once and shared read-only by every
// socket it goes to: a complete unmasked WebSocket frame whose payload is the
// Engine.IO packet. A polling client gets Payload(), the same bytes without the
// WebSocket header. A outboundFrame is never modified after it is built (netpoll may
// keep references to it until the bytes are sent).
//
// The bytes live in the same allocation, right after the struct, so building
// a frame costs exactly one allocation. outboundFrame holds no pointers, which keeps
// that allocation out of the garbage collector's scanning.
//
// The one field that changes is received: the first write that carries the
// frame takes it (delivery latency, latency.go); the bytes never change.
type outboundFrame struct {
	seq uint64 // position in its symbol ring; 0 for other frames
	// received is when the message came in (monotonicStamp), until the
	// first write carrying the frame claims it; 0 when not measured.
	received  atomic.Int64
	length    uint32
	headerLen uint8
	// stream is what the frame delivers, for protrader5_stream_deliveries_total:
	// a Stream, streamMarket, or 0 for everything else (acks, pings, ...).
	stream Stream
}

const frameHeaderSize = int(unsafe.Sizeof(outboundFrame{}))

// allocateFrame returns a frame with room for size bytes.
func allocateFrame(size int) *outboundFrame {
	// make([]byte) of 16 bytes or more is at least 8-byte aligned, as outboundFrame needs.
	memory := make([]byte, frameHeaderSize+size)
	frame := (*outboundFrame)(unsafe.Pointer(&memory[0]))
	frame.length = uint32(size)
	return frame
}

// WebSocket returns the complete WebSocket frame.
func (f *outboundFrame) WebSocket() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(f), frameHeaderSize)), f.length)
}

// Payload returns the Engine.IO packet text (e.g. `42["market:data",{...}]`).
func (f *outboundFrame) Payload() []byte { return f.WebSocket()[f.headerLen:] }

// Len is the size in bytes counted against pending limits.
func (f *outboundFrame) Len() int { return int(f.length) }

const eventPrefix = `42["`

// newEventFrame builds `42["name",payload]` framed for WebSocket in one
// allocation. name must need no JSON escaping (server event names are
// constants); payload is raw JSON copied verbatim, never re-encoded.
func newEventFrame(name string, payload []byte) *outboundFrame {
	return newRecoverableEventFrame(name, payload, nil)
}

// newRecoverableEventFrame is newEventFrame for a user message with its
// recovery offset, `42["name",payload,"offset"]`: the stock client records
// a last argument that is a string. offset needs no JSON escaping
// (offset.go); nil means none.
func newRecoverableEventFrame(name string, payload, offset []byte) *outboundFrame {
	payloadLength := len(eventPrefix) + len(name) + len(`",`) + len(payload) + len(`]`)
	if offset != nil {
		payloadLength += len(`,""`) + len(offset)
	}
	frame := allocateFrame(wire.ServerFrameSize(payloadLength))
	buffer := wire.AppendFrameHeader(frame.WebSocket()[:0], wire.OpText, payloadLength)
	frame.headerLen = uint8(len(buffer))
	buffer = append(buffer, eventPrefix...)
	buffer = append(buffer, name...)
	buffer = append(buffer, `",`...)
	buffer = append(buffer, payload...)
	if offset != nil {
		buffer = append(buffer, `,"`...)
		buffer = append(buffer, offset...)
		buffer = append(buffer, '"')
	}
	_ = append(buffer, ']')
	return frame
}

// newTextFrame frames an already-encoded Engine.IO packet.
func newTextFrame(packet []byte) *outboundFrame {
	frame := allocateFrame(wire.ServerFrameSize(len(packet)))
	buffer := wire.AppendFrameHeader(frame.WebSocket()[:0], wire.OpText, len(packet))
	frame.headerLen = uint8(len(buffer))
	_ = append(buffer, packet...)
	return frame
}

// rawFrame carries bytes that are not an Engine.IO packet (the HTTP upgrade
// response, WebSocket control frames); polling never sees them.
func rawFrame(bytes []byte) *outboundFrame {
	frame := allocateFrame(len(bytes))
	copy(frame.WebSocket(), bytes)
	return frame
}

// Static frames, built once.
var (
	pingFrame = newTextFrame([]byte{byte(wire.PacketPing)})
	noopFrame = newTextFrame([]byte{byte(wire.PacketNoop)})
	// closePacketFrame is the Engine.IO close packet, the goodbye of a
	// long-polling session (a WebSocket gets a close frame instead).
	closePacketFrame = newTextFrame([]byte{byte(wire.PacketClose)})
)
