package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/protrader5/ws-gateway/wire"
)

// An Application serves Engine.IO sessions in place of the gateway's own
// Socket.IO application, over the engine's transports (WebSocket,
// long-polling and the upgrade between them), heartbeats and limits. It
// exists so that a program such as a protocol test server can reuse the
// transports without the product carrying its behaviour; set one with
// WithApplication. An engine without one pays nothing for the hook.
type Application interface {
	// Paths lists the request paths, besides Config.Path, where the engine
	// accepts Engine.IO handshakes. The engine reads it once, in New, which
	// refuses a path that is not absolute or is one of its own endpoints
	// (/health, /ready, /metrics).
	Paths() []string
	// Open is called for each new Engine.IO session, with the path of its
	// handshake, before the session's first message is read. It returns
	// the handler of the session's messages, or nil to leave the session
	// to the gateway's own application.
	Open(path string, session ApplicationSession) Handler
}

// Handler receives the messages of one session an Application serves.
type Handler interface {
	// HandleMessage is called with each Engine.IO message of the session,
	// one at a time and in order. message.Data is valid only during the
	// call. Returning false reports a protocol violation: the engine
	// closes the session as it does for its own violations.
	HandleMessage(message Message) bool
}

// ApplicationSession is what an Application may do with one of its
// sessions. Its methods are safe for concurrent use and do nothing once the
// session has closed.
type ApplicationSession interface {
	// Send queues messages in order, with nothing else between them, and
	// writes them out. Their data is copied.
	Send(messages ...Message)
	// Connected reports that the client has joined the application, so
	// the engine's connect deadline (Config.ConnectTimeout, which closes a
	// session that has not joined in time) no longer applies. An
	// application without a join step calls it from Open.
	Connected()
}

// Message is one Engine.IO message: text (without the packet type byte) or
// binary.
type Message struct {
	Data   []byte
	Binary bool
}

// Option changes how New builds an Engine.
type Option func(*Engine)

// WithApplication makes application serve the sessions it claims (see
// Application.Open).
func WithApplication(application Application) Option {
	return func(e *Engine) { e.application = application }
}

// applicationConn is the engine's side of an ApplicationSession: the
// connection and the handler its messages go to. A connection the gateway serves
// itself has none, so the hook costs such connections no allocation.
type applicationConn struct {
	conn    *clientConn
	handler Handler
}

// extraPaths returns the paths application serves besides mainPath, or an
// error for a path the engine cannot give it: one that is not absolute or
// is one of the engine's own endpoints.
func extraPaths(application Application, mainPath string) ([]string, error) {
	if application == nil {
		return nil, nil
	}
	var paths []string
	for _, path := range application.Paths() {
		switch {
		case !strings.HasPrefix(path, "/"), slices.Contains(ownEndpoints, path):
			return nil, fmt.Errorf("engine: application path %q is not available", path)
		case path != mainPath && !slices.Contains(paths, path):
			paths = append(paths, path)
		}
	}
	return paths, nil
}

// ownEndpoints are the paths the engine serves besides Engine.IO (http.go).
var ownEndpoints = []string{"/health", "/ready", "/metrics"}

// servesPath reports whether path takes Engine.IO handshakes.
func (e *Engine) servesPath(path string) bool {
	return path == e.config.Path || slices.Contains(e.extraPaths, path)
}

// openApplication offers c, a session just opened at path, to the
// Application. It runs after c's open packet is queued (so that whatever
// Open sends follows it) and before c's first message is read.
func (e *Engine) openApplication(c *clientConn, path string) {
	if e.application == nil {
		return
	}
	session := &applicationConn{conn: c}
	if handler := e.application.Open(path, session); handler != nil {
		session.handler = handler
		c.application = session
	}
}

// Send implements ApplicationSession.
func (s *applicationConn) Send(messages ...Message) {
	c := s.conn
	c.mu.Lock()
	for _, message := range messages {
		c.enqueueLocked(messageFrame(message), false, 0)
	}
	c.mu.Unlock()
	c.flush()
}

// Connected implements ApplicationSession.
func (s *applicationConn) Connected() {
	c := s.conn
	c.mu.Lock()
	c.connectDeadline = 0
	c.mu.Unlock()
}

// messageFrame frames an Engine.IO message: a text frame holding the
// message packet, or a binary frame holding the bare data (polling sends
// it as 'b' + base64).
func messageFrame(message Message) *outboundFrame {
	if !message.Binary {
		return newTextFrame(wire.AppendPacket(nil, wire.Packet{Type: wire.PacketMessage, Data: message.Data}))
	}
	frame := allocateFrame(wire.ServerFrameSize(len(message.Data)))
	buffer := wire.AppendFrameHeader(frame.WebSocket()[:0], wire.OpBinary, len(message.Data))
	frame.headerLen = uint8(len(buffer))
	_ = append(buffer, message.Data...)
	return frame
}
