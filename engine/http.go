package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cloudwego/netpoll"
)

// httpFront serves the plain HTTP requests that netpoll hands over: health,
// readiness, metrics, Engine.IO errors and long-polling. Such sockets leave
// netpoll for good and belong to net/http.
type httpFront struct {
	engine   *Engine
	listener *handoffListener
	server   *http.Server
}

func newHTTPFront(e *Engine) *httpFront {
	front := &httpFront{engine: e, listener: newHandoffListener()}
	mux := http.NewServeMux()
	mux.HandleFunc(e.config.Path, e.serveEngineIO)
	for _, path := range e.extraPaths {
		mux.HandleFunc(path, e.serveEngineIO)
	}
	// More specific than the Engine.IO path, so the mux picks them first.
	for _, name := range clientBundleNames {
		mux.Handle(e.config.Path+name, clientBundleHandler(name))
	}
	mux.HandleFunc("/health", e.serveHealth)
	mux.HandleFunc("/ready", e.serveReady)
	if e.config.Metrics != nil {
		mux.Handle("/metrics", e.config.Metrics)
	}
	if e.config.Pages != nil {
		// The least specific pattern: it gets only what nothing above takes.
		mux.Handle("/", e.config.Pages)
	}
	front.server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: e.config.HandshakeTimeout,
		IdleTimeout:       2 * e.config.PingInterval,
		// net/http reads up to MaxHeaderBytes plus 4096 bytes of slack, so
		// this keeps a head within DefaultMaxHeaderBytes, as on the event
		// loop (later requests of a kept-alive connection may take what
		// net/http read ahead too, at most 4 KiB more).
		MaxHeaderBytes: DefaultMaxHeaderBytes - 4096,
		ErrorLog:       slog.NewLogLogger(e.logger.Handler(), slog.LevelDebug),
		ConnState:      front.countConnection,
	}
	return front
}

// countConnection keeps the http_connections gauge: every connection
// net/http is given ends in StateClosed (none is hijacked here).
func (f *httpFront) countConnection(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		f.engine.metrics.httpConnections.Add(1)
	case http.StateClosed, http.StateHijacked:
		f.engine.metrics.httpConnections.Add(-1)
	}
}

func (f *httpFront) serve() {
	if err := f.server.Serve(f.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		f.engine.logger.Error("http server stopped", slog.Any("error", err))
	}
}

func (f *httpFront) shutdown(ctx context.Context) error {
	err := f.server.Shutdown(ctx)
	f.listener.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// adopt turns a socket netpoll has just detached into a net.Conn for
// net/http, with the bytes already read put back in front: those the
// handshake moved out (read, the start of the head) and those still in
// netpoll's buffer.
func (f *httpFront) adopt(connection netpoll.Connection, read []byte) {
	reader := connection.Reader()
	buffered := read
	if n := reader.Len(); n > 0 {
		if peeked, err := reader.Peek(n); err == nil {
			buffered = append(buffered[:len(buffered):len(buffered)], peeked...)
		}
	}
	withFd, ok := connection.(interface{ Fd() int })
	if !ok {
		return
	}
	// net.FileConn duplicates the descriptor; the original is closed here
	// (netpoll leaves a detached descriptor open).
	file := os.NewFile(uintptr(withFd.Fd()), "")
	conn, err := net.FileConn(file)
	_ = file.Close()
	if err != nil {
		f.engine.logger.Warn("handing a socket to net/http failed", slog.Any("error", err))
		return
	}
	if !f.listener.deliver(&prefixedConn{Conn: conn, prefix: buffered}) {
		_ = conn.Close()
	}
}

// handoffListener is a net.Listener fed with handed-off sockets.
type handoffListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn, 128), closed: make(chan struct{})}
}

func (l *handoffListener) deliver(conn net.Conn) bool {
	select {
	case l.conns <- conn:
		return true
	case <-l.closed:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case conn := <-l.conns:
		return conn, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return &net.TCPAddr{} }

// prefixedConn replays bytes read before the hand-off, then reads the socket.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Engine.IO v4 HTTP errors (docs/protocol.md).
const (
	codeTransportUnknown    = 0
	codeSessionIDUnknown    = 1
	codeBadHandshakeMethod  = 2
	codeBadRequest          = 3
	codeForbidden           = 4
	codeUnsupportedProtocol = 5
)

var engineIOErrorBodies = [...]string{
	codeTransportUnknown:    `{"code":0,"message":"Transport unknown"}`,
	codeSessionIDUnknown:    `{"code":1,"message":"Session ID unknown"}`,
	codeBadHandshakeMethod:  `{"code":2,"message":"Bad handshake method"}`,
	codeBadRequest:          `{"code":3,"message":"Bad request"}`,
	codeForbidden:           `{"code":4,"message":"Forbidden"}`,
	codeUnsupportedProtocol: `{"code":5,"message":"Unsupported protocol version"}`,
}

func writeEngineIOError(w http.ResponseWriter, code int) {
	status := http.StatusBadRequest
	if code == codeForbidden {
		status = http.StatusForbidden
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(engineIOErrorBodies[code]))
}

// serveEngineIO answers the Engine.IO requests that did not become a
// WebSocket on the event loop: long-polling, and every handshake error,
// checked in the order the reference server (engine.io verify, handshake)
// does.
func (e *Engine) serveEngineIO(w http.ResponseWriter, r *http.Request) {
	if !e.servesPath(r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	if !e.corsHeaders(w, r) {
		e.refuse(w, codeForbidden)
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	query := r.URL.Query()
	transport := query.Get("transport")
	if transport != "polling" && transport != "websocket" {
		e.refuse(w, codeTransportUnknown)
		return
	}
	if sid := query.Get("sid"); sid != "" {
		c := e.session(sid)
		switch {
		case c == nil:
			e.refuse(w, codeSessionIDUnknown)
		case transport != "polling":
			// A WebSocket for the session that is not an upgrade request.
			e.refuse(w, codeBadRequest)
		case r.Method == http.MethodGet:
			e.servePoll(w, r, c)
		case r.Method == http.MethodPost:
			e.servePost(w, r, c)
		default:
			e.refuse(w, codeBadRequest)
		}
		return
	}
	switch {
	case r.Method != http.MethodGet:
		e.refuse(w, codeBadHandshakeMethod)
		return
	case transport == "websocket" && !headerHasToken(r.Header.Get("Upgrade"), "websocket"):
		e.refuse(w, codeBadRequest)
		return
	case query.Get("EIO") != "4":
		e.refuse(w, codeUnsupportedProtocol)
		return
	case e.draining.Load():
		e.metrics.handshakeRefusals("draining")
		http.Error(w, "server is draining", http.StatusServiceUnavailable)
		return
	case transport == "websocket":
		// A WebSocket handshake the loop did not take (it takes every
		// valid one): nothing else can serve it here.
		e.refuse(w, codeBadRequest)
		return
	}
	ip := clientIP(e.config.TrustedProxies, r.RemoteAddr, r.Header.Get("X-Forwarded-For"))
	if reason := e.limits.admit(ip, timeNow()); reason != "" {
		e.metrics.handshakeRefusals(reason)
		status, body := refusalStatus(reason)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return
	}
	e.openPollingSession(w, r, ip)
}

// refuse answers an Engine.IO error and counts it.
func (e *Engine) refuse(w http.ResponseWriter, code int) {
	e.metrics.handshakeRefusals(engineIORefusalNames[code])
	writeEngineIOError(w, code)
}

// corsHeaders sets the CORS headers of an Engine.IO response (the cors
// middleware the reference server is configured with): an allowed Origin is
// echoed with credentials allowed; it reports false for a disallowed one.
func (e *Engine) corsHeaders(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if e.config.AllowOrigin != nil && !e.config.AllowOrigin(origin) {
		return false
	}
	header := w.Header()
	header.Set("Access-Control-Allow-Origin", origin)
	header.Set("Access-Control-Allow-Credentials", "true")
	header.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		header.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
		if requested := r.Header.Get("Access-Control-Request-Headers"); requested != "" {
			header.Set("Access-Control-Allow-Headers", requested)
			header.Add("Vary", "Access-Control-Request-Headers")
		}
	}
	return true
}

var engineIORefusalNames = [...]string{"transport_unknown", "sid_unknown", "bad_method", "bad_request", "forbidden", "unsupported_protocol"}

// serveHealth is liveness only: it says nothing about Redis (docs/operations.md).
func (e *Engine) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok","timestamp":"` + time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + `"}`))
}

// serveReady is 200 while the ingest is attached and the node not draining.
func (e *Engine) serveReady(w http.ResponseWriter, r *http.Request) {
	reason := ""
	switch {
	case e.draining.Load():
		reason = "draining"
	case e.config.Ready != nil:
		if ok, why := e.config.Ready(); !ok {
			reason = why
			if reason == "" {
				reason = "ingest not attached"
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		body, _ := jsonString(reason)
		_, _ = w.Write([]byte(`{"status":"unavailable","reason":` + body + `}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}
