package wire

import (
	"bytes"
	"errors"
	"testing"

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

// FuzzParseFrameHeader checks the parser against ws.ReadHeader and against
// itself fed a prefix of its input.
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
			// gobwas/ws reads the same header from a reader (it does not
			// check opcodes or control frames).
			other, otherErr := ws.ReadHeader(bytes.NewReader(input))
			if otherErr != nil || other != header {
				t.Fatalf("ParseFrameHeader(%x) = %+v; ws.ReadHeader says %+v, %v", input, header, other, otherErr)
			}
			// RFC 6455 §5.2, §5.5, written out rather than asked of ws.
			defined := header.OpCode <= 2 || header.OpCode >= 8 && header.OpCode <= 10
			control := header.OpCode >= 8
			if err == nil && (control && (header.Length > 125 || !header.Fin) || !defined) {
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
	})
}
