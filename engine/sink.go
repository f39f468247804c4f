package engine

import (
	"errors"
	"syscall"

	"github.com/cloudwego/netpoll"
	"github.com/protrader5/ws-gateway/wire"
)

// errWriteTimeout reports a socket that accepted no bytes for WriteTimeout.
var errWriteTimeout = errors.New("engine: write timeout")

// netpollSink writes to a netpoll connection. The fast path is a raw
// non-blocking writev on the socket; only when the socket's buffer is full
// does netpoll's own writer (which waits for the socket) take over, and the
// clientConn's writing flag guarantees the two never run at once: netpoll's
// Connection is not safe for concurrent writers.
type netpollSink struct {
	connection netpoll.Connection
	fd         int
}

func (s *netpollSink) writeNow(buffers [][]byte, iovecs []syscall.Iovec) (int, error) {
	if s.fd < 0 {
		return 0, errWouldBlock
	}
	return writevNonblocking(s.fd, buffers, iovecs)
}

func (s *netpollSink) writeWait(buffers [][]byte) error {
	writer := s.connection.Writer()
	for _, buffer := range buffers {
		if _, err := writer.WriteBinary(buffer); err != nil {
			return err
		}
	}
	err := writer.Flush()
	if errors.Is(err, netpoll.ErrWriteTimeout) {
		return errWriteTimeout
	}
	return err
}

func (s *netpollSink) close() { _ = s.connection.Close() }

// inputPending reports whether netpoll holds bytes the engine has not read:
// its buffer length is atomic, safe to read beside the reader.
func (s *netpollSink) inputPending() bool { return s.connection.Reader().Len() > 0 }

// goingAwayFrame closes a WebSocket when the server drains (RFC 6455 §7.4.1).
var goingAwayFrame = wire.AppendClose(nil, wire.CloseGoingAway, "server shutting down")
