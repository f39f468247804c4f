package wire

import (
	"encoding/binary"
	"unicode/utf8"
)

// OpCode is a WebSocket frame opcode (RFC 6455 §5.2).
type OpCode byte

// WebSocket opcodes (RFC 6455 §5.2, §11.8).
const (
	OpContinuation OpCode = 0x0
	OpText         OpCode = 0x1
	OpBinary       OpCode = 0x2
	OpClose        OpCode = 0x8
	OpPing         OpCode = 0x9
	OpPong         OpCode = 0xA
)

// IsControl reports whether op is a control opcode (RFC 6455 §5.5: the most
// significant opcode bit is set).
func (op OpCode) IsControl() bool {
	return op&0x8 != 0
}

// isDefined reports whether RFC 6455 §5.2 defines op; the others are reserved.
func (op OpCode) isDefined() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

// Close codes used by the server (RFC 6455 §7.4.1).
const (
	CloseNormal          uint16 = 1000
	CloseGoingAway       uint16 = 1001
	CloseProtocolError   uint16 = 1002
	CloseUnsupportedData uint16 = 1003
	CloseNoStatus        uint16 = 1005 // never sent: what an empty close body means
	CloseInvalidPayload  uint16 = 1007
	ClosePolicyViolation uint16 = 1008
	CloseMessageTooBig   uint16 = 1009
	CloseInternalError   uint16 = 1011
)

// maxControlPayloadSize is the largest control frame payload (RFC 6455 §5.5).
const maxControlPayloadSize = 125

// FrameHeader is a parsed frame header (RFC 6455 §5.2).
type FrameHeader struct {
	Fin    bool
	Rsv    byte // the three RSV bits, in the low bits
	OpCode OpCode
	Masked bool
	Mask   [4]byte
	Length int64
}

// HeaderSize returns how many bytes the header starting with b[0:2] occupies
// (2, 4 or 10, plus 4 if masked: RFC 6455 §5.2); with fewer than 2 bytes it
// returns 2.
func HeaderSize(b []byte) int {
	if len(b) < 2 {
		return 2
	}
	size := 2
	switch b[1] & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if b[1]&0x80 != 0 {
		size += 4
	}
	return size
}

// ParseFrameHeader parses the header at the start of b and returns it with its
// encoded size. It does not allocate.
//
// When b is shorter than HeaderSize(b) it returns ErrShortHeader and
// HeaderSize(b), whatever the bytes so far say. Protocol errors (RFC 6455
// §5.2, §5.5) come with the header and size as read: a control frame with a
// payload over 125 bytes or without FIN -> ErrControlFrame; a 64-bit length
// with its most significant bit set -> ErrFrameLength; a reserved opcode ->
// ErrInvalidOpCode. Non-minimal length encodings are accepted. RSV bits and
// the client masking rule (§5.1) are left to the caller, which knows the
// negotiated extensions and the peer's role.
func ParseFrameHeader(b []byte) (FrameHeader, int, error) {
	size := HeaderSize(b)
	if len(b) < size {
		return FrameHeader{}, size, ErrShortHeader
	}
	header := FrameHeader{
		Fin:    b[0]&0x80 != 0,
		Rsv:    (b[0] >> 4) & 0x7,
		OpCode: OpCode(b[0] & 0x0f),
		Masked: b[1]&0x80 != 0,
	}
	i := 2
	switch length := b[1] & 0x7f; length {
	case 126:
		header.Length = int64(binary.BigEndian.Uint16(b[2:4]))
		i = 4
	case 127:
		length64 := binary.BigEndian.Uint64(b[2:10])
		i = 10
		if length64>>63 != 0 {
			return header, size, ErrFrameLength
		}
		header.Length = int64(length64)
	default:
		header.Length = int64(length)
	}
	if header.Masked {
		copy(header.Mask[:], b[i:i+4])
	}
	if !header.OpCode.isDefined() {
		return header, size, ErrInvalidOpCode
	}
	if header.OpCode.IsControl() && (!header.Fin || header.Length > maxControlPayloadSize) {
		return header, size, ErrControlFrame
	}
	return header, size, nil
}

// Unmask XORs payload in place with mask (RFC 6455 §5.3), starting at key
// position offset, so a payload can be unmasked in pieces: pass the number of
// payload bytes already unmasked.
func Unmask(payload []byte, mask [4]byte, offset int) {
	var key [4]byte
	for j := range key {
		key[j] = mask[(offset+j)&3]
	}
	key32 := uint64(binary.LittleEndian.Uint32(key[:]))
	key64 := key32<<32 | key32
	i := 0
	// Eight bytes at a time: i stays a multiple of 4, so key stays aligned.
	for ; i+8 <= len(payload); i += 8 {
		word := binary.LittleEndian.Uint64(payload[i:])
		binary.LittleEndian.PutUint64(payload[i:], word^key64)
	}
	for ; i < len(payload); i++ {
		payload[i] ^= key[i&3]
	}
}

// ServerFrameSize returns the size of an unmasked server frame with a payload
// of n bytes: the 2, 4 or 10 byte header (RFC 6455 §5.2) plus n.
func ServerFrameSize(n int) int {
	switch {
	case n <= 125:
		return 2 + n
	case n <= 0xffff:
		return 4 + n
	}
	return 10 + n
}

// AppendFrameHeader appends only the unmasked header for a FIN frame of
// payloadLength bytes (RFC 6455 §5.2: servers do not mask, §5.1), so a caller
// can build header and payload in ONE buffer:
//
//	buf = AppendFrameHeader(buf, OpText, n); buf = append(buf, payload...)
//
// It allocates only to grow dst. A negative payloadLength panics.
func AppendFrameHeader(dst []byte, op OpCode, payloadLength int) []byte {
	first := 0x80 | byte(op)
	switch {
	case payloadLength < 0:
		panic("wire: AppendFrameHeader with a negative payload length")
	case payloadLength <= 125:
		return append(dst, first, byte(payloadLength))
	case payloadLength <= 0xffff:
		return append(dst, first, 126, byte(payloadLength>>8), byte(payloadLength))
	}
	return binary.BigEndian.AppendUint64(append(dst, first, 127), uint64(payloadLength))
}

// AppendFrame appends a complete unmasked server frame (FIN set) with the given
// opcode and payload. It allocates only to grow dst; the frame can be shared
// by every connection, as no per-connection mask is involved.
func AppendFrame(dst []byte, op OpCode, payload []byte) []byte {
	dst = AppendFrameHeader(dst, op, len(payload))
	return append(dst, payload...)
}

// AppendClose appends a close frame with a status code and reason (RFC 6455
// §5.5.1). The reason is cut, on a UTF-8 boundary, to fit the 125-byte control
// frame limit. A code of 0 sends an empty body (no status).
func AppendClose(dst []byte, code uint16, reason string) []byte {
	if code == 0 {
		return AppendFrameHeader(dst, OpClose, 0)
	}
	const maxReason = maxControlPayloadSize - 2
	if len(reason) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = AppendFrameHeader(dst, OpClose, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}

// ParseClosePayload parses the (unmasked) body of a close frame (RFC 6455
// §5.5.1): an empty body gives CloseNoStatus. A one-byte body, a code that
// must not be sent (§7.4.1, §7.4.2: below 1000, 1004-1006, 1015, 1016-2999
// except the registered 1007-1014) gives ErrInvalidClosePayload; a valid code
// with a reason that is not UTF-8 (§5.5.1) gives ErrCloseReasonNotUTF8.
// reason aliases payload.
func ParseClosePayload(payload []byte) (code uint16, reason []byte, err error) {
	switch {
	case len(payload) == 0:
		return CloseNoStatus, nil, nil
	case len(payload) == 1:
		return 0, nil, ErrInvalidClosePayload
	}
	code = binary.BigEndian.Uint16(payload)
	reason = payload[2:]
	if !validCloseCode(code) {
		return 0, nil, ErrInvalidClosePayload
	}
	if !utf8.Valid(reason) {
		return 0, nil, ErrCloseReasonNotUTF8
	}
	return code, reason, nil
}

// validCloseCode reports whether a peer may send code (RFC 6455 §7.4, and the
// IANA registry that added 1012-1014).
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
