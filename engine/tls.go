package engine

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// TLS (Config.TLS): netpoll has no TLS, so with TLS on the engine accepts
// with the standard library and serves each connection from a goroutine
// that blocks in crypto/tls reads. The rest is shared with the event loop:
// the same handshake code decides between a WebSocket (served by the same
// clientConn, queues, rings and timers, writing through a streamSink) and plain
// HTTP (handed to the same net/http front: health, metrics, long-polling).
// The cost is a goroutine per TLS connection and one per write burst; a
// deployment that needs the event loop's density terminates TLS in front.

// serveTLS accepts TLS connections on listener until it is closed.
func (e *Engine) serveTLS(listener net.Listener) error {
	tlsListener := tls.NewListener(listener, e.config.TLS)
	e.tlsListenerMu.Lock()
	e.tlsListener = tlsListener
	e.tlsListenerMu.Unlock()
	var delay time.Duration
	for {
		conn, err := tlsListener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || e.draining.Load() {
				return nil
			}
			var netError net.Error
			if errors.As(err, &netError) && netError.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				e.logger.Warn("tls accept failed; retrying", slog.Any("error", err), slog.Duration("delay", delay))
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		go e.serveTLSConn(conn)
	}
}

// closeTLSListener stops serveTLS (Shutdown).
func (e *Engine) closeTLSListener() {
	e.tlsListenerMu.Lock()
	listener := e.tlsListener
	e.tlsListenerMu.Unlock()
	if listener != nil {
		_ = listener.Close()
	}
}

// serveTLSConn is the event loop's OnPrepare, OnRequest and close callback
// for one TLS connection.
func (e *Engine) serveTLSConn(conn net.Conn) {
	reader := &streamReader{conn: conn, timeout: e.config.HandshakeTimeout}
	c := &clientConn{engine: e, sink: &streamSink{conn: conn, timeout: e.config.WriteTimeout}, remoteIP: hostOf(conn.RemoteAddr().String())}
	e.accept(c)

	handedOff := false
	handOff := func() {
		handedOff = true
		if !e.handOff(c) {
			_ = conn.Close()
			return
		}
		buffered := append(c.partialHead[:len(c.partialHead):len(c.partialHead)], reader.buffer[reader.start:reader.end]...)
		c.partialHead = nil
		_ = conn.SetDeadline(time.Time{})
		if !e.front.listener.deliver(&prefixedConn{Conn: conn, prefix: buffered}) {
			_ = conn.Close()
		}
	}
	for {
		if err := reader.wait(); err != nil {
			break
		}
		c.mu.Lock()
		state, forward := c.state, c.forward
		c.mu.Unlock()
		if forward != nil {
			e.readFrames(forward, reader)
			continue
		}
		if state == stateHandshake {
			e.serveHandshake(c, reader, handOff)
			if handedOff {
				return
			}
			continue
		}
		if state != stateOpen {
			break
		}
		e.readFrames(c, reader)
	}
	// The connection ended: as onNetpollClose.
	c.mu.Lock()
	forward, probing := c.forward, c.probing
	c.mu.Unlock()
	switch {
	case forward != nil:
		forward.closeWith(reasonClientClosed)
		_ = conn.Close()
		return
	case probing != nil:
		e.probeEnded(probing)
	}
	c.closeWith(reasonClientClosed)
}

// streamReader implements frameReader over a blocking net.Conn. Peek waits
// at most timeout for bytes it needs (a partial head or frame); wait, the
// idle wait for the next message, has no deadline: heartbeats and the
// handshake timeout close idle connections through the timer wheel.
type streamReader struct {
	conn       net.Conn
	timeout    time.Duration
	buffer     []byte
	start, end int
}

const streamReadSize = 8 << 10

func (r *streamReader) Len() int { return r.end - r.start }

// fill reads once into the buffer, growing it when full.
func (r *streamReader) fill() error {
	if r.start > 0 && r.start == r.end {
		r.start, r.end = 0, 0
	}
	if r.end == len(r.buffer) {
		if r.start > 0 {
			r.end = copy(r.buffer, r.buffer[r.start:r.end])
			r.start = 0
		}
		if r.end == len(r.buffer) {
			grown := make([]byte, max(streamReadSize, 2*len(r.buffer)))
			copy(grown, r.buffer[:r.end])
			r.buffer = grown
		}
	}
	n, err := r.conn.Read(r.buffer[r.end:])
	r.end += n
	if n > 0 {
		return nil
	}
	return err
}

// wait blocks until at least one byte is buffered.
func (r *streamReader) wait() error {
	_ = r.conn.SetReadDeadline(time.Time{})
	for r.Len() == 0 {
		if err := r.fill(); err != nil {
			return err
		}
	}
	return nil
}

func (r *streamReader) Peek(n int) ([]byte, error) {
	if r.Len() < n {
		_ = r.conn.SetReadDeadline(time.Now().Add(r.timeout))
		for r.Len() < n {
			if err := r.fill(); err != nil {
				return nil, err
			}
		}
	}
	return r.buffer[r.start : r.start+n], nil
}

func (r *streamReader) Skip(n int) error {
	if n > r.Len() {
		return errors.New("engine: skip past buffered bytes")
	}
	r.start += n
	return nil
}

// Release drops a buffer grown for one large frame once it is consumed, so
// that an idle connection holds at most streamReadSize.
func (r *streamReader) Release() error {
	if r.start == r.end {
		r.start, r.end = 0, 0
		if len(r.buffer) > streamReadSize {
			r.buffer = nil
		}
	}
	return nil
}

// streamSink writes to a blocking net.Conn. It never writes from the
// caller's goroutine (a fanout worker must not block on one socket): every
// write goes to the connection's writer goroutine through writeWait.
type streamSink struct {
	conn      net.Conn
	timeout   time.Duration
	closeOnce sync.Once
}

func (s *streamSink) writeNow([][]byte, []syscall.Iovec) (int, error) {
	return 0, errWouldBlock
}

// writeWait writes buffers as one TLS record stream under WriteTimeout;
// joining them first keeps small frames from costing a record each.
func (s *streamSink) writeWait(buffers [][]byte) error {
	total := 0
	for _, buffer := range buffers {
		total += len(buffer)
	}
	joined := make([]byte, 0, total)
	for _, buffer := range buffers {
		joined = append(joined, buffer...)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.conn.Write(joined)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errWriteTimeout
	}
	return err
}

func (s *streamSink) close() {
	s.closeOnce.Do(func() { _ = s.conn.Close() })
}
