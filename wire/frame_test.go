package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

func TestParseFrameHeader(t *testing.T) {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	tests := []struct {
		name     string
		input    []byte
		want     FrameHeader
		wantSize int
		wantErr  error
	}{
		// RFC 6455 §5.7 examples.
		{name: "unmasked Hello", input: []byte{0x81, 0x05}, want: FrameHeader{Fin: true, OpCode: OpText, Length: 5}, wantSize: 2},
		{name: "masked Hello", input: []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}, want: FrameHeader{Fin: true, OpCode: OpText, Masked: true, Mask: mask, Length: 5}, wantSize: 6},
		{name: "first fragment", input: []byte{0x01, 0x03}, want: FrameHeader{OpCode: OpText, Length: 3}, wantSize: 2},
		{name: "continuation", input: []byte{0x80, 0x02}, want: FrameHeader{Fin: true, OpCode: OpContinuation, Length: 2}, wantSize: 2},
		{name: "ping", input: []byte{0x89, 0x05}, want: FrameHeader{Fin: true, OpCode: OpPing, Length: 5}, wantSize: 2},
		{name: "256 bytes", input: []byte{0x82, 0x7e, 0x01, 0x00}, want: FrameHeader{Fin: true, OpCode: OpBinary, Length: 256}, wantSize: 4},
		{name: "64KiB", input: []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, want: FrameHeader{Fin: true, OpCode: OpBinary, Length: 65536}, wantSize: 10},
		{name: "64-bit masked", input: []byte{0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0x37, 0xfa, 0x21, 0x3d}, want: FrameHeader{Fin: true, OpCode: OpBinary, Masked: true, Mask: mask, Length: 65536}, wantSize: 14},
		{name: "non-minimal length", input: []byte{0x81, 0x7e, 0x00, 0x05}, want: FrameHeader{Fin: true, OpCode: OpText, Length: 5}, wantSize: 4},
		{name: "rsv bits", input: []byte{0xf1, 0x00}, want: FrameHeader{Fin: true, Rsv: 7, OpCode: OpText}, wantSize: 2},
		{name: "rsv1 deflate", input: []byte{0xc1, 0x00}, want: FrameHeader{Fin: true, Rsv: 4, OpCode: OpText}, wantSize: 2},
		{name: "close 125", input: []byte{0x88, 0x7d}, want: FrameHeader{Fin: true, OpCode: OpClose, Length: 125}, wantSize: 2},

		{name: "empty", input: nil, wantSize: 2, wantErr: ErrShortHeader},
		{name: "one byte", input: []byte{0x81}, wantSize: 2, wantErr: ErrShortHeader},
		{name: "short mask", input: []byte{0x81, 0x85, 0x37}, wantSize: 6, wantErr: ErrShortHeader},
		{name: "short 16-bit length", input: []byte{0x81, 0x7e, 0x01}, wantSize: 4, wantErr: ErrShortHeader},
		{name: "short 64-bit length", input: []byte{0x81, 0xff, 0, 0, 0, 0}, wantSize: 14, wantErr: ErrShortHeader},
		{name: "short control too long", input: []byte{0x89, 0xfe}, wantSize: 8, wantErr: ErrShortHeader},

		{name: "fragmented ping", input: []byte{0x09, 0x00}, want: FrameHeader{OpCode: OpPing}, wantSize: 2, wantErr: ErrControlFrame},
		{name: "close 126", input: []byte{0x88, 0x7e, 0x00, 0x7e}, want: FrameHeader{Fin: true, OpCode: OpClose, Length: 126}, wantSize: 4, wantErr: ErrControlFrame},
		{name: "pong non-minimal 125", input: []byte{0x8a, 0x7e, 0x00, 0x7d}, want: FrameHeader{Fin: true, OpCode: OpPong, Length: 125}, wantSize: 4},
		{name: "length MSB", input: []byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, want: FrameHeader{Fin: true, OpCode: OpBinary}, wantSize: 10, wantErr: ErrFrameLength},
		{name: "reserved opcode 3", input: []byte{0x83, 0x00}, want: FrameHeader{Fin: true, OpCode: 3}, wantSize: 2, wantErr: ErrInvalidOpCode},
		{name: "reserved opcode B", input: []byte{0x8b, 0x00}, want: FrameHeader{Fin: true, OpCode: 0xb}, wantSize: 2, wantErr: ErrInvalidOpCode},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, size, err := ParseFrameHeader(test.input)
			if !errors.Is(err, test.wantErr) || got != test.want || size != test.wantSize {
				t.Errorf("ParseFrameHeader(%x) = %+v, %d, %v; want %+v, %d, %v", test.input, got, size, err, test.want, test.wantSize, test.wantErr)
			}
			if test.wantErr != ErrShortHeader {
				// With trailing payload bytes the header reads the same.
				longer := append(bytes.Clone(test.input), 0xaa, 0xbb)
				if again, againSize, againErr := ParseFrameHeader(longer); again != got || againSize != size || againErr != err {
					t.Errorf("ParseFrameHeader(%x) = %+v, %d, %v; want %+v, %d, %v", longer, again, againSize, againErr, got, size, err)
				}
			}
		})
	}
}

func TestHeaderSize(t *testing.T) {
	tests := []struct {
		input []byte
		want  int
	}{
		{input: nil, want: 2},
		{input: []byte{0x81}, want: 2},
		{input: []byte{0x81, 0x05}, want: 2},
		{input: []byte{0x81, 0x85}, want: 6},
		{input: []byte{0x81, 0x7e}, want: 4},
		{input: []byte{0x81, 0xfe}, want: 8},
		{input: []byte{0x81, 0x7f}, want: 10},
		{input: []byte{0x81, 0xff}, want: 14},
	}
	for _, test := range tests {
		if got := HeaderSize(test.input); got != test.want {
			t.Errorf("HeaderSize(%x) = %d; want %d", test.input, got, test.want)
		}
	}
}

// unmaskSlow is the RFC 6455 §5.3 definition, byte by byte.
func unmaskSlow(payload []byte, mask [4]byte, offset int) {
	for i := range payload {
		payload[i] ^= mask[(offset+i)%4]
	}
}

func TestUnmask(t *testing.T) {
	// RFC 6455 §5.7: a masked "Hello".
	masked := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	Unmask(masked, mask, 0)
	if string(masked) != "Hello" {
		t.Fatalf("Unmask = %q; want %q", masked, "Hello")
	}
	payload := make([]byte, 100)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, cut := range []int{0, 1, 3, 5, 8, 13, 64, 99, 100} {
		for length := 0; length <= len(payload)-cut; length += 17 {
			want := bytes.Clone(payload[cut : cut+length])
			unmaskSlow(want, mask, cut)
			got := bytes.Clone(payload[cut : cut+length])
			Unmask(got, mask, cut)
			if !bytes.Equal(got, want) {
				t.Fatalf("Unmask(offset %d, %d bytes) = %x; want %x", cut, length, got, want)
			}
		}
	}
}

func TestServerFrameSize(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
		frame := AppendFrame(nil, OpText, make([]byte, n))
		if got := ServerFrameSize(n); got != len(frame) {
			t.Errorf("ServerFrameSize(%d) = %d; want %d", n, got, len(frame))
		}
	}
}

func TestAppendFrameRoundTrip(t *testing.T) {
	for _, op := range []OpCode{OpText, OpBinary, OpPing, OpPong, OpClose} {
		for _, n := range []int{0, 1, 125, 126, 65535, 65536, 70000} {
			if op.IsControl() && n > 125 {
				continue
			}
			payload := bytes.Repeat([]byte{'x'}, n)
			frame := AppendFrame([]byte("prefix"), op, payload)[len("prefix"):]
			header, size, err := ParseFrameHeader(frame)
			want := FrameHeader{Fin: true, OpCode: op, Length: int64(n)}
			if err != nil || header != want || size != len(frame)-n || !bytes.Equal(frame[size:], payload) {
				t.Fatalf("ParseFrameHeader(AppendFrame(%v, %d bytes)) = %+v, %d, %v; want %+v", op, n, header, size, err, want)
			}
			// gobwas/ws, the engine's handshake library, reads the same header.
			other, err := ws.ReadHeader(bytes.NewReader(frame))
			if err != nil || other.Length != int64(n) || OpCode(other.OpCode) != op || !other.Fin || other.Masked {
				t.Fatalf("ws.ReadHeader(AppendFrame(%v, %d bytes)) = %+v, %v", op, n, other, err)
			}
			header2 := AppendFrameHeader(nil, op, n)
			if !bytes.Equal(header2, frame[:size]) {
				t.Fatalf("AppendFrameHeader(%v, %d) = %x; want %x", op, n, header2, frame[:size])
			}
		}
	}
}

func TestAppendFrameHeaderNegativePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("AppendFrameHeader(nil, OpText, -1) did not panic")
		}
	}()
	AppendFrameHeader(nil, OpText, -1)
}

func TestAppendClose(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	tests := []struct {
		name       string
		code       uint16
		reason     string
		wantCode   uint16
		wantReason string
	}{
		{name: "normal", code: CloseNormal, reason: "", wantCode: CloseNormal},
		{name: "going away", code: CloseGoingAway, reason: "server shutting down", wantCode: CloseGoingAway, wantReason: "server shutting down"},
		{name: "no status", code: 0, wantCode: CloseNoStatus},
		{name: "cut on rune boundary", code: ClosePolicyViolation, reason: long, wantCode: ClosePolicyViolation, wantReason: long[:122]},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			frame := AppendClose(nil, test.code, test.reason)
			header, size, err := ParseFrameHeader(frame)
			if err != nil || header.OpCode != OpClose || int(header.Length) != len(frame)-size {
				t.Fatalf("ParseFrameHeader(%x) = %+v, %d, %v; want a close frame", frame, header, size, err)
			}
			code, reason, err := ParseClosePayload(frame[size:])
			if err != nil || code != test.wantCode || string(reason) != test.wantReason {
				t.Errorf("ParseClosePayload(%x) = %d, %q, %v; want %d, %q", frame[size:], code, reason, err, test.wantCode, test.wantReason)
			}
		})
	}
}

func TestParseClosePayload(t *testing.T) {
	tests := []struct {
		name    string
		input   []byte
		code    uint16
		reason  string
		wantErr error
	}{
		{name: "empty", input: nil, code: CloseNoStatus},
		{name: "normal", input: []byte{0x03, 0xe8}, code: 1000},
		{name: "reason", input: []byte{0x03, 0xe9, 'b', 'y', 'e'}, code: 1001, reason: "bye"},
		{name: "application code", input: []byte{0x0f, 0xa0}, code: 4000},
		{name: "one byte", input: []byte{0x03}, wantErr: ErrInvalidClosePayload},
		{name: "code 999", input: []byte{0x03, 0xe7}, wantErr: ErrInvalidClosePayload},
		{name: "code 1005", input: []byte{0x03, 0xed}, wantErr: ErrInvalidClosePayload},
		{name: "code 1006", input: []byte{0x03, 0xee}, wantErr: ErrInvalidClosePayload},
		{name: "code 1015", input: []byte{0x03, 0xf7}, wantErr: ErrInvalidClosePayload},
		{name: "code 5000", input: []byte{0x13, 0x88}, wantErr: ErrInvalidClosePayload},
		{name: "bad UTF-8 reason", input: []byte{0x03, 0xe8, 0xff}, wantErr: ErrCloseReasonNotUTF8},
		{name: "bad code and bad UTF-8 reason", input: []byte{0x03, 0xed, 0xff}, wantErr: ErrInvalidClosePayload},
	}
	for _, test := range tests {
		code, reason, err := ParseClosePayload(test.input)
		if !errors.Is(err, test.wantErr) || code != test.code || string(reason) != test.reason {
			t.Errorf("ParseClosePayload(%x) = %d, %q, %v; want %d, %q, %v", test.input, code, reason, err, test.code, test.reason, test.wantErr)
		}
	}
}

func FuzzParseFrameHeader(f *testing.F) {
	for _, seed := range [][]byte{
		{0x81, 0x05}, {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}, {0x82, 0x7e, 0x01, 0x00},
		{0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}, {0x09, 0x00}, {0x88, 0x7e, 0x00, 0x7e},
		{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, {0x83, 0x00}, {}, {0x81},
	} {
		f.Add(seed, uint8(1))
	}
	f.Fuzz(func(t *testing.T, input []byte, cut uint8) {
		header, size, err := ParseFrameHeader(input)
		if size != HeaderSize(input) {
			t.Fatalf("ParseFrameHeader(%x) size = %d; HeaderSize says %d", input, size, HeaderSize(input))
		}
		switch {
		case err == nil, errors.Is(err, ErrControlFrame), errors.Is(err, ErrInvalidOpCode):
			// gobwas/ws reads the same header (it does not check opcodes or control frames).
			other, otherErr := ws.ReadHeader(bytes.NewReader(input))
			if otherErr != nil || other.Fin != header.Fin || other.Rsv != header.Rsv || OpCode(other.OpCode) != header.OpCode ||
				other.Masked != header.Masked || other.Mask != header.Mask || other.Length != header.Length {
				t.Fatalf("ParseFrameHeader(%x) = %+v; ws.ReadHeader says %+v, %v", input, header, other, otherErr)
			}
			if err == nil && (header.OpCode.IsControl() && (header.Length > 125 || !header.Fin) || !header.OpCode.isDefined()) {
				t.Fatalf("ParseFrameHeader(%x) = %+v; want an error", input, header)
			}
		case errors.Is(err, ErrShortHeader):
			if len(input) >= size {
				t.Fatalf("ParseFrameHeader(%x) = %v with %d >= %d bytes", input, err, len(input), size)
			}
		case errors.Is(err, ErrFrameLength):
			if input[1]&0x7f != 127 || input[2]&0x80 == 0 {
				t.Fatalf("ParseFrameHeader(%x) = %v; the length MSB is clear", input, err)
			}
		default:
			t.Fatalf("ParseFrameHeader(%x) = %v; want a wire error", input, err)
		}
		// Fed in two pieces: any prefix shorter than the header is short, never a panic.
		if len(input) > 0 {
			prefix := input[:int(cut)%len(input)]
			_, prefixSize, prefixErr := ParseFrameHeader(prefix)
			if len(prefix) < HeaderSize(prefix) && !errors.Is(prefixErr, ErrShortHeader) {
				t.Fatalf("ParseFrameHeader(%x) = %v; want %v", prefix, prefixErr, ErrShortHeader)
			}
			if len(prefix) < size && prefixSize > size {
				t.Fatalf("ParseFrameHeader(%x) needs %d bytes; the whole header is %d", prefix, prefixSize, size)
			}
			if len(prefix) >= size {
				if again, againSize, againErr := ParseFrameHeader(prefix); again != header || againSize != size || againErr != err {
					t.Fatalf("ParseFrameHeader(%x) = %+v, %v; want %+v, %v", prefix, again, againErr, header, err)
				}
			}
		}
		// Unmasking in two pieces equals unmasking at once.
		if len(input) > 0 {
			whole := bytes.Clone(input)
			Unmask(whole, header.Mask, int(cut))
			pieces := bytes.Clone(input)
			split := int(cut) % len(input)
			Unmask(pieces[:split], header.Mask, int(cut))
			Unmask(pieces[split:], header.Mask, int(cut)+split)
			if !bytes.Equal(whole, pieces) {
				t.Fatalf("Unmask in pieces = %x; want %x", pieces, whole)
			}
		}
		// A reason of any bytes goes out as a valid close frame.
		frame := AppendClose(nil, CloseNormal, string(input))
		if _, frameSize, err := ParseFrameHeader(frame); err != nil {
			t.Fatalf("ParseFrameHeader(AppendClose) = %v", err)
		} else if _, reason, err := ParseClosePayload(frame[frameSize:]); err != nil && utf8.Valid(input) {
			t.Fatalf("ParseClosePayload(AppendClose(%q)) = %q, %v", input, reason, err)
		}
	})
}
