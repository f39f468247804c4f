package wire

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// ws.ReadHeader is not used to parse: it reads from an io.Reader, while the
// engine parses the header in place in netpoll's buffer and must learn how
// many bytes a header needs before they have all arrived. Wrapping the
// buffer in a bytes.Reader makes the reader and ws's scratch buffer escape
// through the interface call: 2 allocations per frame and about 10 times
// the time (BenchmarkReadHeaderFromSlice: ~300 ns against ~30 ns for
// BenchmarkParseFrameHeader on a 2-core amd64), and a short read would
// consume the bytes it could not finish with.

// HeaderSize returns how many bytes the header starting with b[0:2] occupies
// (2, 4 or 10, plus 4 if masked: RFC 6455 §5.2); with fewer than 2 bytes it
// returns 2.
func HeaderSize(b []byte) int {
	if len(b) < 2 {
		return ws.MinHeaderSize
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
	// ws.CheckHeader is not used for these two checks: it also judges RSV
	// bits, masking and continuation frames against a connection state,
	// which this parser leaves to the caller.
	if header.OpCode.IsReserved() {
		return header, size, ErrInvalidOpCode
	}
	if header.OpCode.IsControl() && (!header.Fin || header.Length > ws.MaxControlFramePayloadSize) {
		return header, size, ErrControlFrame
	}
	return header, size, nil
}
