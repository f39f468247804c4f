package engine

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/protrader5/ws-gateway/wire"
)

// closeLinger is how long a session closed by its client stays known, for
// the GET that its close overtook.
const closeLinger = time.Second

// errSessionClosed reports a write to a polling session that has ended.
var errSessionClosed = errors.New("engine: polling session closed")

// errStopPayload stops decoding a POSTed payload once the session closed.
var errStopPayload = errors.New("engine: session closed while reading a payload")

// pollingSink is the transport of a session opened with HTTP long-polling
// (Engine.IO v4 §HTTP long-polling). Frames are not written anywhere until a
// GET is waiting: while none is, the clientConn is parked and its frames stay
// queued (market frames stay in their rings, conflated) exactly as for a
// socket that cannot take bytes. A GET takes everything pending as one
// payload. After an upgrade every write goes to the WebSocket.
//
// Fields marked "guarded by conn.mu" share the clientConn's lock, so that the
// waiting GET, the parked flag and the clientConn state always change together.
type pollingSink struct {
	conn *clientConn

	waiter       chan []byte // guarded by conn.mu; the waiting GET's answer, nil when none
	posting      bool        // guarded by conn.mu; a POST is being read
	upgrading    bool        // guarded by conn.mu; a probe WebSocket exists
	upgraded     bool        // guarded by conn.mu; the session moved to WebSocket
	clientClosed bool        // guarded by conn.mu; the client sent a close packet
	owed         []byte      // guarded by conn.mu; the answer for a GET that arrives just after a close

	// websocket is set once, at the upgrade, and read without locks by
	// writers: after it is set the polling side never writes again.
	websocket atomic.Pointer[upgradedSink]

	registered chan struct{} // a GET started waiting (capacity 1)
	closed     chan struct{}
	closeOnce  sync.Once
}

// upgradedSink holds the WebSocket sink a session moved to.
type upgradedSink struct{ sink }

func newPollingSink(c *clientConn) *pollingSink {
	return &pollingSink{conn: c, registered: make(chan struct{}, 1), closed: make(chan struct{})}
}

// appendPollingPayload turns collected WebSocket frames into a polling
// payload: the Engine.IO packets joined by 0x1e. Text frames give their
// payload as is (the same prebuilt bytes, no re-encoding); binary frames
// become 'b' + base64; control frames and raw bytes (close frames, HTTP
// answers) mean nothing to a polling client and are dropped.
func appendPollingPayload(dst []byte, buffers [][]byte) []byte {
	start := len(dst)
	for _, buffer := range buffers {
		if len(buffer) < 2 {
			continue
		}
		switch buffer[0] {
		case 0x80 | byte(wire.OpText):
			dst = wire.AppendPayloadText(dst, start, frameBody(buffer))
		case 0x80 | byte(wire.OpBinary):
			dst = wire.AppendPayloadPacket(dst, start, wire.Packet{Type: wire.PacketMessage, Data: frameBody(buffer), Binary: true})
		}
	}
	return dst
}

// frameBody returns the payload of an unmasked server frame.
func frameBody(frame []byte) []byte {
	switch length := frame[1] & 0x7f; length {
	case 126:
		return frame[4:]
	case 127:
		return frame[10:]
	default:
		return frame[2:]
	}
}

func (s *pollingSink) writeNow(buffers [][]byte, iovecs []syscall.Iovec) (int, error) {
	if websocket := s.websocket.Load(); websocket != nil {
		return websocket.writeNow(buffers, iovecs)
	}
	total := 0
	for _, buffer := range buffers {
		total += len(buffer)
	}
	payload := appendPollingPayload(nil, buffers)
	if len(payload) == 0 {
		return total, nil // nothing a polling client would see
	}
	c := s.conn
	c.mu.Lock()
	if websocket := s.websocket.Load(); websocket != nil {
		c.mu.Unlock()
		return websocket.writeNow(buffers, iovecs)
	}
	waiter := s.waiter
	if waiter == nil {
		closed := c.state == stateClosed
		c.mu.Unlock()
		if closed {
			return 0, errSessionClosed
		}
		return 0, errWouldBlock
	}
	s.waiter = nil
	c.parked = true
	c.mu.Unlock()
	waiter <- payload // capacity 1 and taken once: never blocks
	return total, nil
}

// writeWait waits for a GET (or the upgrade) to take buffers. It runs only
// in the rare race where a GET went away between the flush deciding to write
// and the write; the session's own timeouts bound the wait.
func (s *pollingSink) writeWait(buffers [][]byte) error {
	for {
		if websocket := s.websocket.Load(); websocket != nil {
			return websocket.writeWait(buffers)
		}
		written, err := s.writeNow(buffers, nil)
		if err != errWouldBlock {
			if err == nil && written == 0 {
				return nil
			}
			return err
		}
		timeout := s.conn.engine.config.PingInterval + s.conn.engine.config.PingTimeout
		select {
		case <-s.registered:
		case <-s.closed:
			return errSessionClosed
		case <-time.After(timeout):
			return errWriteTimeout
		}
	}
}

// close ends the session: a waiting GET answers the close packet (noop when
// the client itself asked to close, as the reference does), and the session
// id is forgotten, so that later requests get "Session ID unknown".
func (s *pollingSink) close() {
	c := s.conn
	c.mu.Lock()
	waiter := s.waiter
	s.waiter = nil
	clientClosed := s.clientClosed
	c.mu.Unlock()
	s.closeOnce.Do(func() { close(s.closed) })
	websocket := s.websocket.Load()
	if waiter == nil && clientClosed && websocket == nil {
		// The client's close may overtake its own GET (they travel on
		// different connections): that GET still gets the noop the
		// reference would have answered, if it comes soon.
		c.mu.Lock()
		s.owed = []byte{byte(wire.PacketNoop)}
		c.mu.Unlock()
		time.AfterFunc(closeLinger, func() { c.engine.removeSession(c.sid, c) })
	} else {
		c.engine.removeSession(c.sid, c)
	}
	if websocket != nil {
		websocket.close()
	}
	if waiter != nil {
		if clientClosed {
			waiter <- []byte{byte(wire.PacketNoop)}
		} else {
			waiter <- []byte{byte(wire.PacketClose)}
		}
	}
}

func (s *pollingSink) markClientClosed() {
	s.conn.mu.Lock()
	s.clientClosed = true
	s.conn.mu.Unlock()
}

// session returns the live session with id sid, or nil.
func (e *Engine) session(sid string) *clientConn {
	e.sessionsMu.RLock()
	defer e.sessionsMu.RUnlock()
	return e.sessions[sid]
}

// pollingSessions returns how many polling sessions are known by id.
func (e *Engine) pollingSessions() int {
	e.sessionsMu.RLock()
	defer e.sessionsMu.RUnlock()
	return len(e.sessions)
}

// pollingSockets returns how many Socket.IO sockets long-polling carries
// now: connected sessions that have not upgraded to WebSocket. The sessions
// are copied out first: sessionsMu is a leaf lock, never held while a
// clientConn.mu is taken.
func (e *Engine) pollingSockets() int {
	e.sessionsMu.RLock()
	sessions := make([]*clientConn, 0, len(e.sessions))
	for _, c := range e.sessions {
		sessions = append(sessions, c)
	}
	e.sessionsMu.RUnlock()
	count := 0
	for _, c := range sessions {
		c.mu.Lock()
		if c.connected && c.state == stateOpen && c.polling != nil && !c.polling.upgraded {
			count++
		}
		c.mu.Unlock()
	}
	return count
}

func (e *Engine) removeSession(sid string, c *clientConn) {
	e.sessionsMu.Lock()
	if e.sessions[sid] == c {
		delete(e.sessions, sid)
		e.sessions = shrinkAfterDelete(e.sessions, &e.sessionsPeak)
	}
	e.sessionsMu.Unlock()
}

// openPollingSession is the polling handshake: a new session whose first
// GET is this request, answered with the open packet.
func (e *Engine) openPollingSession(w http.ResponseWriter, r *http.Request, clientIP string) {
	c := &clientConn{engine: e, sid: newID(), remoteIP: clientIP}
	c.polling = newPollingSink(c)
	c.sink = c.polling
	c.headerToken = bearerToken(r.Header.Get("Authorization"))
	open := wire.AppendOpen(nil, wire.OpenInfo{
		SID:          c.sid,
		Upgrades:     []string{"websocket"},
		PingInterval: e.config.PingInterval,
		PingTimeout:  e.config.PingTimeout,
		MaxPayload:   e.config.MaxPayload,
	})
	now := timeNow()
	c.mu.Lock()
	c.state = stateOpen
	c.parked = true
	c.nextPing = now + int64(e.config.PingInterval)
	c.connectDeadline = now + int64(e.config.ConnectTimeout)
	c.scheduleNextLocked()
	c.enqueueLocked(newTextFrame(open), false, 0)
	c.mu.Unlock()
	e.openApplication(c, r.URL.Path)
	e.sessionsMu.Lock()
	e.sessions[c.sid] = c
	notePeak(e.sessions, &e.sessionsPeak)
	e.sessionsMu.Unlock()
	e.track(c)
	e.limits.opened(clientIP, c)
	e.servePoll(w, r, c)
}

// servePoll is a polling GET: it waits until the session has something to
// send (a ping comes every PingInterval at most) and answers all of it.
func (e *Engine) servePoll(w http.ResponseWriter, r *http.Request, c *clientConn) {
	s := c.polling
	c.mu.Lock()
	switch {
	case c.pongOverdueLocked(timeNow()):
		c.mu.Unlock()
		c.closeWith(reasonPingTimeout)
		writeEngineIOError(w, codeSessionIDUnknown)
		return
	case c.state == stateClosed && s.owed != nil:
		owed := s.owed
		s.owed = nil
		c.mu.Unlock()
		e.removeSession(c.sid, c)
		writePollAnswer(w, owed)
		return
	case c.state == stateClosed:
		c.mu.Unlock()
		writeEngineIOError(w, codeSessionIDUnknown)
		return
	case s.upgraded:
		c.mu.Unlock()
		writeEngineIOError(w, codeBadRequest)
		return
	case s.waiter != nil:
		c.mu.Unlock()
		// Two GETs at once: the reference closes the session (the first GET
		// answers the close packet) and refuses the second.
		e.metrics.handshakeRefusals("poll_overlap")
		writeEngineIOError(w, codeBadRequest)
		c.closeWith(reasonProtocolError)
		return
	}
	waiter := make(chan []byte, 1)
	s.waiter = waiter
	c.parked = false
	if s.upgrading {
		// A probe is under way: end this poll at once so that the client
		// can pause polling and finish the upgrade.
		c.enqueueLocked(noopFrame, false, 0)
	}
	c.mu.Unlock()
	select {
	case s.registered <- struct{}{}:
	default:
	}
	c.flush()
	select {
	case payload := <-waiter:
		writePollAnswer(w, payload)
	case <-r.Context().Done():
		// The client went away mid-poll: the reference treats a poll closed
		// prematurely as the end of the session.
		c.mu.Lock()
		if s.waiter == waiter {
			s.waiter = nil
			c.parked = true
		}
		c.mu.Unlock()
		c.closeWith(reasonClientClosed)
	}
}

// writePollAnswer answers a GET with a payload, with the headers the
// reference server uses.
func writePollAnswer(w http.ResponseWriter, payload []byte) {
	header := w.Header()
	header.Set("Content-Type", "text/plain; charset=UTF-8")
	header.Set("Cache-Control", "no-store")
	header.Set("Content-Length", itoa(len(payload)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(payload)
}

// servePost reads a POSTed payload and handles its packets in order.
func (e *Engine) servePost(w http.ResponseWriter, r *http.Request, c *clientConn) {
	s := c.polling
	c.mu.Lock()
	switch {
	case c.pongOverdueLocked(timeNow()):
		c.mu.Unlock()
		c.closeWith(reasonPingTimeout)
		writeEngineIOError(w, codeSessionIDUnknown)
		return
	case c.state == stateClosed:
		c.mu.Unlock()
		writeEngineIOError(w, codeSessionIDUnknown)
		return
	case s.upgraded:
		c.mu.Unlock()
		writeEngineIOError(w, codeBadRequest)
		return
	case s.posting:
		c.mu.Unlock()
		e.metrics.handshakeRefusals("post_overlap")
		writeEngineIOError(w, codeBadRequest)
		c.closeWith(reasonProtocolError)
		return
	}
	s.posting = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		s.posting = false
		c.mu.Unlock()
	}()
	if r.Header.Get("Content-Type") == "application/octet-stream" {
		// Engine.IO v4 sends binary as base64 text over polling.
		writeEngineIOError(w, codeBadRequest)
		c.closeWith(reasonProtocolError)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(e.config.MaxPayload)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			c.closeWith(reasonMessageTooBig)
			return
		}
		c.closeWith(reasonClientClosed)
		return
	}
	err = wire.DecodePayload(body, func(packet wire.Packet) error {
		if !c.authenticated() && !e.chargePreAuth(c, len(packet.Data)) {
			c.closeWith(reasonInputFlood)
			return errStopPayload
		}
		if !e.handlePacket(c, packet) {
			return errStopPayload
		}
		return nil
	})
	c.mu.Lock()
	clientClosed := s.clientClosed
	c.mu.Unlock()
	if err != nil && !clientClosed {
		writeEngineIOError(w, codeBadRequest)
		c.closeWith(reasonProtocolError)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", "2")
	_, _ = w.Write([]byte("ok"))
}
