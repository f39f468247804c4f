package engine

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/gobwas/ws"
	"github.com/protrader5/ws-gateway/wire"
)

// connContext is the context netpoll hands back with each OnRequest: the
// clientConn itself. A struct of one pointer goes into an interface
// without an allocation, where context.WithValue cost 48 B per connection.
type connContext struct{ conn *clientConn }

func (connContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (connContext) Done() <-chan struct{}       { return nil }
func (connContext) Err() error                  { return nil }
func (connContext) Value(any) any               { return nil }

// onPrepare runs once per accepted connection, before any byte is read.
func (e *Engine) onPrepare(connection netpoll.Connection) context.Context {
	fd := -1
	if withFd, ok := connection.(interface{ Fd() int }); ok {
		fd = withFd.Fd()
	}
	c := &clientConn{engine: e, sink: &netpollSink{connection: connection, fd: fd}}
	if address := connection.RemoteAddr(); address != nil {
		c.remoteIP = hostOf(address.String())
	}
	connection.AddCloseCallback(func(connection netpoll.Connection) error {
		e.onNetpollClose(c, connection)
		return nil
	})
	e.accept(c)
	return connContext{conn: c}
}

// onRequest runs when netpoll has bytes for a connection; netpoll never runs
// two at once for the same connection.
func (e *Engine) onRequest(ctx context.Context, connection netpoll.Connection) error {
	holder, _ := ctx.(connContext)
	c := holder.conn
	if c == nil {
		return connection.Close()
	}
	c.mu.Lock()
	state, forward := c.state, c.forward
	c.mu.Unlock()
	if forward != nil {
		// Upgraded: this socket now carries a polling session.
		e.readFrames(forward, connection.Reader())
		return nil
	}
	switch state {
	case stateHandshake:
		e.serveHandshake(c, connection.Reader(), func() { e.detach(c, connection) })
	case stateOpen:
		e.readFrames(c, connection.Reader())
	case stateClosed:
		reader := connection.Reader()
		_ = reader.Skip(reader.Len())
		_ = reader.Release()
	}
	return nil
}

// onNetpollClose runs after netpoll let go of the socket: the peer hung up,
// we closed it, or (stateHandoff) we detached it for net/http.
func (e *Engine) onNetpollClose(c *clientConn, connection netpoll.Connection) {
	c.mu.Lock()
	handoff, forward, probing := c.state == stateHandoff, c.forward, c.probing
	c.mu.Unlock()
	switch {
	case handoff:
		e.front.adopt(connection, c.partialHead)
		c.partialHead = nil
		return
	case forward != nil:
		forward.closeWith(reasonClientClosed)
		return
	case probing != nil:
		e.probeEnded(probing)
	}
	c.closeWith(reasonClientClosed)
}

var headEnd = []byte("\r\n\r\n")

// frameReader is the part of netpoll.Reader the handshake and frame
// readers use: Peek waits (under a read timeout) until n bytes are
// buffered, Skip consumes, Release lets go of consumed buffers. The TLS
// path (tls.go) implements it over a net.Conn.
type frameReader interface {
	Len() int
	Peek(n int) ([]byte, error)
	Skip(n int) error
	Release() error
}

// serveHandshake reads the HTTP request head. A WebSocket upgrade for
// Engine.IO stays on netpoll; every other request (health, metrics,
// polling, errors) is handed to net/http.
func (e *Engine) serveHandshake(c *clientConn, reader frameReader, handOff func()) {
	head, consumed, complete := e.readHead(c, reader)
	if !complete {
		return
	}
	request, session, ok := e.parseUpgrade(head)
	if !ok {
		handOff()
		return
	}
	c.remoteIP = clientIP(e.config.TrustedProxies, c.remoteIP, request.forwardedFor)
	// An upgrade continues a session that was admitted when it opened.
	if session == nil && !e.admitWebSocket(c, reader, consumed) {
		return
	}
	response, ok := e.upgradeToWebSocket(c, reader, head, consumed)
	if !ok {
		return
	}
	if session != nil {
		e.startProbe(c, response, session)
	} else {
		e.openWebSocketSession(c, request, response)
	}
	e.readFramesAfterHead(c, reader)
}

// parseUpgrade reads head as an Engine.IO WebSocket handshake the loop can
// take, and finds the polling session it upgrades (nil for a new session).
// ok is false for anything net/http must answer, unknown session ids
// included ("Session ID unknown").
func (e *Engine) parseUpgrade(head []byte) (request requestHead, session *clientConn, ok bool) {
	request, ok = parseRequestHead(head)
	if !ok {
		return request, nil, false
	}
	sid, ok := e.upgradeable(request)
	if !ok || sid == "" {
		return request, nil, ok
	}
	if session = e.session(sid); session == nil || session.polling == nil {
		return request, nil, false
	}
	return request, session, true
}

// admitWebSocket applies the connection limits to a new WebSocket session;
// a refused one is answered with the limit's HTTP status and closed.
func (e *Engine) admitWebSocket(c *clientConn, reader frameReader, consumed int) bool {
	reason := e.limits.admit(c.remoteIP, timeNow())
	if reason == "" {
		return true
	}
	e.metrics.handshakeRefusals(reason)
	status, body := refusalStatus(reason)
	e.refuseHandshake(c, reader, consumed, plainResponse(status, body))
	return false
}

// upgradeToWebSocket checks head as a WebSocket handshake and consumes it
// from reader, returning the 101 response to send; a bad handshake is
// answered and closed.
func (e *Engine) upgradeToWebSocket(c *clientConn, reader frameReader, head []byte, consumed int) (response []byte, ok bool) {
	var buffer bytes.Buffer
	upgrader := ws.Upgrader{}
	// The upgrader reads a copy of the head: reading the connection itself
	// would let its buffered reader swallow the frames that follow.
	if _, err := upgrader.Upgrade(readWriter{Reader: bytes.NewReader(head), Writer: &buffer}); err != nil {
		e.metrics.handshakeRefusals("bad_upgrade")
		e.refuseHandshake(c, reader, consumed, buffer.Bytes())
		return nil, false
	}
	if err := reader.Skip(consumed); err != nil {
		c.closeWith(reasonClientClosed)
		return nil, false
	}
	c.partialHead = nil
	e.metrics.upgrades.Add(1)
	return buffer.Bytes(), true
}

// refuseHandshake consumes the request head, answers it with response and
// closes c.
func (e *Engine) refuseHandshake(c *clientConn, reader frameReader, consumed int, response []byte) {
	_ = reader.Skip(consumed)
	_ = reader.Release()
	c.send(rawFrame(response))
	c.closeWith(reasonProtocolError)
}

// openWebSocketSession makes c a new Engine.IO session: it queues the 101
// response and the open packet, arms the heartbeat and connect deadline,
// and offers the session to the Application, if any.
func (e *Engine) openWebSocketSession(c *clientConn, request requestHead, response []byte) {
	e.limits.opened(c.remoteIP, c)
	now := timeNow()
	sid := newID()
	open := wire.AppendOpen(nil, wire.OpenInfo{
		SID:          sid,
		Upgrades:     []string{},
		PingInterval: e.config.PingInterval,
		PingTimeout:  e.config.PingTimeout,
		MaxPayload:   e.config.MaxPayload,
	})
	c.mu.Lock()
	c.state = stateOpen
	c.sid = sid
	c.headerToken = request.bearer
	c.handshakeDeadline, c.graced = 0, false
	c.nextPing = now + int64(e.config.PingInterval)
	c.connectDeadline = now + int64(e.config.ConnectTimeout)
	c.scheduleNextLocked()
	c.enqueueLocked(rawFrame(response), false, 0)
	c.enqueueLocked(newTextFrame(open), false, 0)
	c.mu.Unlock()
	e.openApplication(c, request.path)
	c.flush()
}

// readFramesAfterHead reads the frames a client sent right behind its
// handshake, or lets go of the reader's buffers when there are none.
func (e *Engine) readFramesAfterHead(c *clientConn, reader frameReader) {
	if reader.Len() > 0 {
		e.readFrames(c, reader)
		return
	}
	_ = reader.Release()
}

// readHead gathers c's request head without ever waiting for bytes: an
// incomplete head is moved out of the reader into c.partialHead, and the
// caller returns until more arrive (the wheel's handshake deadline bounds
// how long that may take), so a slowloris costs its bytes and no
// goroutine. complete is false while the head is incomplete or when c was
// closed. head may alias the reader's buffer: it is valid until the caller
// skips consumed, the number of the reader's bytes it spans. The head may
// not pass DefaultMaxHeaderBytes, wherever the reads happen to split it.
func (e *Engine) readHead(c *clientConn, reader frameReader) (head []byte, consumed int, complete bool) {
	buffered := reader.Len()
	peeked, err := reader.Peek(buffered)
	if err != nil {
		c.closeWith(reasonClientClosed)
		return nil, 0, false
	}
	saved := len(c.partialHead)
	data := peeked
	if saved > 0 {
		data = append(c.partialHead, peeked...)
	}
	window := data[:min(len(data), DefaultMaxHeaderBytes)]
	if end := bytes.Index(window, headEnd); end >= 0 {
		head = data[:end+len(headEnd)]
		return head, len(head) - saved, true
	}
	if len(data) >= DefaultMaxHeaderBytes {
		e.metrics.handshakeRefusals("header_too_large")
		c.partialHead = nil
		c.send(rawFrame([]byte("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")))
		c.closeWith(reasonProtocolError)
		return nil, 0, false
	}
	c.partialHead = data[:len(data):len(data)]
	if saved == 0 {
		c.partialHead = append([]byte(nil), peeked...)
	}
	_ = reader.Skip(buffered)
	_ = reader.Release()
	return nil, 0, false
}

// detach hands c to net/http: it leaves the engine, and netpoll lets go of
// the socket; onNetpollClose then gives it to net/http with the bytes read
// so far.
func (e *Engine) detach(c *clientConn, connection netpoll.Connection) {
	if !e.handOff(c) {
		return
	}
	detacher, ok := connection.(interface{ Detach() error })
	if !ok {
		_ = connection.Close()
		return
	}
	_ = detacher.Detach()
}

// upgradeable reports whether request is an Engine.IO WebSocket handshake
// this loop can take as it is, and the polling session it upgrades (sid,
// empty for a new session); anything else, errors included, is answered by
// net/http with the exact Engine.IO error.
func (e *Engine) upgradeable(request requestHead) (sid string, ok bool) {
	if request.method != "GET" || e.draining.Load() {
		return "", false
	}
	if !e.servesPath(request.path) {
		return "", false
	}
	query, err := url.ParseQuery(request.query)
	if err != nil || query.Get("EIO") != "4" || query.Get("transport") != "websocket" {
		return "", false
	}
	if !headerHasToken(request.upgrade, "websocket") {
		return "", false
	}
	if request.origin != "" && e.config.AllowOrigin != nil && !e.config.AllowOrigin(request.origin) {
		return "", false
	}
	return query.Get("sid"), true
}

// plainResponse is a complete HTTP/1.1 answer that closes the connection.
func plainResponse(status int, body string) []byte {
	return []byte("HTTP/1.1 " + itoa(status) + " " + http.StatusText(status) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " +
		itoa(len(body)) + "\r\n\r\n" + body)
}

// bearerToken returns the token of an "Authorization: Bearer" value.
func bearerToken(value string) string {
	if scheme, token, ok := strings.Cut(value, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return ""
}

type readWriter struct {
	io.Reader
	io.Writer
}

// requestHead is the part of an HTTP request head the loop needs.
type requestHead struct {
	method, path, query string
	upgrade, origin     string
	bearer              string
	forwardedFor        string
}

// parseRequestHead parses a request line and the few headers the loop
// needs; it reports false for anything that is not a plausible HTTP/1.x
// request head (net/http then answers it).
func parseRequestHead(head []byte) (requestHead, bool) {
	var request requestHead
	text := string(head)
	line, rest, ok := strings.Cut(text, "\r\n")
	if !ok {
		return request, false
	}
	method, target, ok := strings.Cut(line, " ")
	if !ok {
		return request, false
	}
	target, proto, ok := strings.Cut(target, " ")
	if !ok || (proto != "HTTP/1.1" && proto != "HTTP/1.0") || !isToken(method) || !strings.HasPrefix(target, "/") || hasControl(target) {
		return request, false
	}
	request.method = method
	request.path, request.query, _ = strings.Cut(target, "?")
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		// RFC 9110 §5.5: field values hold no CR, LF or NUL; a bare LF is
		// refused rather than guessed at (net/http answers 400).
		if !ok || !isToken(name) || hasControl(value) {
			return request, false
		}
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "Upgrade"):
			request.upgrade = value
		case strings.EqualFold(name, "Origin"):
			request.origin = value
		case strings.EqualFold(name, "Authorization"):
			request.bearer = bearerToken(value)
		case strings.EqualFold(name, "X-Forwarded-For"):
			if request.forwardedFor != "" {
				request.forwardedFor += ","
			}
			request.forwardedFor += value
		}
	}
	return request, true
}

// isToken reports whether text is a non-empty RFC 9110 token (method and
// field names).
func isToken(text string) bool {
	if text == "" {
		return false
	}
	for i := 0; i < len(text); i++ {
		b := text[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, b) >= 0 {
			return false
		}
	}
	return true
}

// hasControl reports whether text holds a control byte other than tab.
func hasControl(text string) bool {
	for i := 0; i < len(text); i++ {
		if b := text[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return true
		}
	}
	return false
}

// headerHasToken reports whether a comma-separated header value holds token.
func headerHasToken(value, token string) bool {
	for value != "" {
		var item string
		item, value, _ = strings.Cut(value, ",")
		if strings.EqualFold(strings.TrimSpace(item), token) {
			return true
		}
	}
	return false
}
