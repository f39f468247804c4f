package wire

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

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
