package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientBundleMatchesTheLockfile: the embedded files are the
// socket.io-client version the committed lockfile pins, the one the Node.js
// and browser tests run.
func TestClientBundleMatchesTheLockfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(clientDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lockfile struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &lockfile); err != nil {
		t.Fatal(err)
	}
	pinned := lockfile.Packages["node_modules/socket.io-client"].Version
	if pinned == "" || ClientBundleVersion != pinned {
		t.Fatalf("embedded bundle is socket.io-client %q; %s/package-lock.json pins %q (clientbundle/README.md says how to update)",
			ClientBundleVersion, clientDir, pinned)
	}
	for _, name := range clientBundleNames {
		content, err := clientBundleFiles.ReadFile("clientbundle/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(name, ".map") && !strings.Contains(string(content[:200]), "Socket.IO v"+pinned+"\n") {
			t.Errorf("%s is not socket.io-client %s: %q", name, pinned, content[:80])
		}
	}
}

// TestClientBundleServed: every file under the configured path, with its
// type, the version as ETag, 304 on a matching If-None-Match, HEAD, and no
// other method.
func TestClientBundleServed(t *testing.T) {
	for _, path := range []string{"", "/custom/"} {
		e := startEngine(t, Config{Path: path})
		base := "http://" + e.Addr().String() + e.config.Path
		for _, name := range clientBundleNames {
			want, _ := clientBundleFiles.ReadFile("clientbundle/" + name)
			response, body := bundleRequest(t, http.MethodGet, base+name, "")
			wantType := "application/javascript; charset=utf-8"
			if strings.HasSuffix(name, ".map") {
				wantType = "application/json; charset=utf-8"
			}
			if response.StatusCode != http.StatusOK || string(body) != string(want) ||
				response.Header.Get("Content-Type") != wantType || response.Header.Get("ETag") != `"`+ClientBundleVersion+`"` ||
				response.Header.Get("Cache-Control") != "public, max-age=0" {
				t.Errorf("GET %s: %d, %d bytes (want %d), headers %v", base+name, response.StatusCode, len(body), len(want), response.Header)
			}
		}
		for _, etag := range []string{`"` + ClientBundleVersion + `"`, `W/"` + ClientBundleVersion + `"`, `"0.0.1", "` + ClientBundleVersion + `"`} {
			if response, body := bundleRequest(t, http.MethodGet, base+"socket.io.js", etag); response.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("If-None-Match %s: %d with %d bytes; want 304 and no body", etag, response.StatusCode, len(body))
			}
		}
		if response, _ := bundleRequest(t, http.MethodGet, base+"socket.io.js", `"0.0.1"`); response.StatusCode != http.StatusOK {
			t.Errorf("If-None-Match of another version: %d; want 200", response.StatusCode)
		}
		if response, body := bundleRequest(t, http.MethodHead, base+"socket.io.min.js", ""); response.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD: %d with %d bytes", response.StatusCode, len(body))
		}
		if response, _ := bundleRequest(t, http.MethodPost, base+"socket.io.js", ""); response.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d; want 405", response.StatusCode)
		}
		// The Engine.IO endpoint itself is untouched.
		if response, body := bundleRequest(t, http.MethodGet, base, ""); response.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Transport unknown") {
			t.Errorf("GET %s: %d %q; want the Engine.IO error", base, response.StatusCode, body)
		}
	}
}

func bundleRequest(t *testing.T, method, target, ifNoneMatch string) (*http.Response, []byte) {
	t.Helper()
	request, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ifNoneMatch != "" {
		request.Header.Set("If-None-Match", ifNoneMatch)
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response, body
}

// servedBundlePage is a page as a site behind the gateway's own origin
// writes it: the client from /socket.io/socket.io.js, io() with no URL.
// It reports the first tick received over WebSocket to /result.
const servedBundlePage = `<!doctype html>
<html><head><meta charset="utf-8"><title>served bundle</title></head>
<body>
<script src="/socket.io/socket.io.js"></script>
<script>
const report = (text) => fetch("/result", { method: "POST", body: text });
const socket = io({ auth: { token: %q } });
socket.on("connect", () => {
  if (!socket.recovered) socket.emit("subscribe:market", { symbols: ["BTCUSD"] });
});
socket.on("connect_error", (err) => report("connect_error: " + err.message));
socket.on("market:data", (tick) => {
  if (socket.io.engine.transport.name !== "websocket") return;
  report("RESULT transport=websocket tick=" + JSON.stringify(tick));
  socket.close();
});
</script>
</body></html>`

// TestClientBundleInChromium: a page on the gateway's origin loads the
// served bundle in headless chromium and receives ticks over WebSocket. The
// origin is a reverse proxy in front of the engine, as a site would put it.
func TestClientBundleInChromium(t *testing.T) {
	chromium := requireChromium(t)
	e := startEngine(t, Config{})
	stop := tickUntil(e, 20*time.Millisecond)
	defer stop()

	results := make(chan string, 1)
	engineURL, _ := url.Parse("http://" + e.Addr().String())
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", httputil.NewSingleHostReverseProxy(engineURL))
	page := fmt.Sprintf(servedBundlePage, testToken(t, "served-bundle-user", time.Hour))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	})
	mux.HandleFunc("/result", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case results <- string(body):
		default:
		}
	})
	pageURL := servePage(t, mux)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// --remote-debugging-port keeps headless chromium running until it is
	// ended here, so the page has all the time it needs.
	command := exec.CommandContext(ctx, chromium, append(headlessChromiumFlags, "--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", pageURL)...)
	var stderr strings.Builder
	command.Stderr = &stderr
	if err := command.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var result string
	select {
	case result = <-results:
	case <-ctx.Done():
	}
	_ = command.Process.Kill()
	_ = command.Wait() // after which stderr is complete
	if !strings.HasPrefix(result, `RESULT transport=websocket tick={"symbol":"BTCUSD","price":`) {
		t.Fatalf("page reported %q\nchromium stderr:\n%s", result, stderr.String())
	}
}
