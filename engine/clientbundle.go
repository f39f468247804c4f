package engine

import (
	"bytes"
	"embed"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// The stock socket.io-client browser bundle (clientbundle/README.md), served
// under Config.Path as the Node.js server does by default, so that a page
// can load the client that matches this server with
// <script src="/socket.io/socket.io.js">. It is embedded: the binary never
// fetches anything at run time.
//
//go:embed clientbundle/socket.io.js clientbundle/socket.io.js.map clientbundle/socket.io.min.js clientbundle/socket.io.min.js.map
var clientBundleFiles embed.FS

// clientBundleNames are the files served, by the name they have under
// Config.Path.
var clientBundleNames = []string{"socket.io.js", "socket.io.js.map", "socket.io.min.js", "socket.io.min.js.map"}

// ClientBundleVersion is the socket.io-client version of the embedded
// bundle, read from its banner ("Socket.IO v4.8.4").
var ClientBundleVersion = clientBundleVersion()

var bundleBanner = regexp.MustCompile(`Socket\.IO v(\d+\.\d+\.\d+\S*)`)

func clientBundleVersion() string {
	data, err := clientBundleFiles.ReadFile("clientbundle/socket.io.js")
	if err != nil {
		panic("engine: the embedded socket.io.js is missing: " + err.Error())
	}
	match := bundleBanner.FindSubmatch(data[:min(len(data), 200)])
	if match == nil {
		panic("engine: the embedded socket.io.js has no version banner")
	}
	return string(match[1])
}

// clientBundleHandler serves one file of the bundle. Its ETag is the client
// version, as the Node.js server's: a browser revalidates every load
// (max-age=0) and gets 304 until the server carries another version, so a
// page never runs a client older than the server it talks to.
func clientBundleHandler(name string) http.Handler {
	data, err := clientBundleFiles.ReadFile("clientbundle/" + name)
	if err != nil {
		panic("engine: the embedded " + name + " is missing: " + err.Error())
	}
	contentType := "application/javascript; charset=utf-8"
	if strings.HasSuffix(name, ".map") {
		contentType = "application/json; charset=utf-8"
	}
	etag := `"` + ClientBundleVersion + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		header := w.Header()
		header.Set("Content-Type", contentType)
		header.Set("Cache-Control", "public, max-age=0")
		header.Set("ETag", etag)
		// ServeContent answers If-None-Match with 304 (a weak W/ match too),
		// HEAD and ranges.
		// Embedded files have no modification time: the ETag alone decides.
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
}
