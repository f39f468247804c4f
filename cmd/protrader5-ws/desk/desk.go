// Package desk serves the trading-desk page: one static page, its script
// and its style sheet, embedded in the binary, that connects to the gateway
// it came from with the socket.io-client bundle the gateway serves, and
// shows ticks, orders, positions with live P&L and notifications.
//
// Everything it serves carries a strict Content-Security-Policy: the page
// has no inline script or style, loads nothing from another origin, and
// connects only to its own.
package desk

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"time"
)

// ContentSecurityPolicy is sent with every response of the handler. 'self'
// in connect-src covers ws: and wss: on the page's own host and port (CSP
// Level 3), which is where the socket goes; img-src allows data: for the
// empty favicon, so that the browser asks the server for none.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// TokenPath is where Options.Token is served.
const TokenPath = "/dev/token"

//go:embed static/index.html static/desk.js static/desk.css
var files embed.FS

// asset is one embedded file, with its validator computed once.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// defaultSocketIOPath is the Engine.IO path index.html is written for.
const defaultSocketIOPath = "/socket.io/"

// loadAssets maps the URL paths served to the embedded files, with the page
// pointed at socketIOPath for both the client bundle and the connection.
func loadAssets(socketIOPath string) map[string]*asset {
	index := embedded("static/index.html")
	if socketIOPath != defaultSocketIOPath {
		index = bytes.ReplaceAll(index, []byte(`"`+defaultSocketIOPath), []byte(`"`+html.EscapeString(socketIOPath)))
	}
	return map[string]*asset{
		"/":         newAsset(index, "text/html; charset=utf-8"),
		"/desk.js":  newAsset(embedded("static/desk.js"), "text/javascript; charset=utf-8"),
		"/desk.css": newAsset(embedded("static/desk.css"), "text/css; charset=utf-8"),
	}
}

func embedded(name string) []byte {
	body, err := files.ReadFile(name)
	if err != nil {
		panic("desk: the embedded " + name + " is missing: " + err.Error())
	}
	return body
}

// newAsset returns body with an ETag of its content, so that it changes
// exactly when the page does.
func newAsset(body []byte, contentType string) *asset {
	sum := sha256.Sum256(body)
	return &asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// Options configures Handler. The zero value serves the page alone.
type Options struct {
	// Token, when set, is served at TokenPath as {"token": "..."}: a token
	// the page connects with, without asking. Only for development: anyone
	// who reaches the port gets one. Nil means TokenPath is 404 and the page
	// asks its user for a token.
	Token func() (string, error)
	// SocketIOPath is the gateway's Engine.IO path (SOCKETIO_PATH), where
	// the page loads the client bundle from and connects to. Empty means
	// "/socket.io/".
	SocketIOPath string
	// Logger receives the failures of Token. Nil means slog.Default().
	Logger *slog.Logger
}

// Handler returns the handler of the page and its assets; every other path
// is 404. It is safe for concurrent use.
func Handler(options Options) http.Handler {
	if options.Logger == nil {
		options.Logger = slog.Default()
	}
	if options.SocketIOPath == "" {
		options.SocketIOPath = defaultSocketIOPath
	}
	return &handler{options: options, assets: loadAssets(options.SocketIOPath)}
}

type handler struct {
	options Options
	assets  map[string]*asset // read only
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	header := w.Header()
	header.Set("Content-Security-Policy", ContentSecurityPolicy)
	header.Set("X-Content-Type-Options", "nosniff")
	header.Set("Referrer-Policy", "no-referrer")
	if r.URL.Path == TokenPath && h.options.Token != nil {
		h.serveToken(w, r)
		return
	}
	file, ok := h.assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		header.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	header.Set("Content-Type", file.contentType)
	// The names carry no version, so a browser revalidates every load and
	// gets 304 while the binary is the same: a new release is never hidden
	// behind a cached script.
	header.Set("Cache-Control", "no-cache")
	header.Set("ETag", file.etag)
	// Embedded files have no modification time: the ETag alone decides.
	http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(file.body))
}

// serveToken answers GET TokenPath with a fresh token, never cached.
func (h *handler) serveToken(w http.ResponseWriter, r *http.Request) {
	header := w.Header()
	header.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		header.Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	token, err := h.options.Token()
	if err != nil {
		h.options.Logger.Warn("desk: no development token", slog.Any("error", err))
		http.Error(w, "no development token: "+err.Error(), http.StatusInternalServerError)
		return
	}
	body, _ := json.Marshal(struct {
		Token string `json:"token"`
	}{token})
	header.Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
