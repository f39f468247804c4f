package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireChromium finds Debian's chromium, installing it when allowed (as
// root in CI, or with INSTALL_CHROMIUM=1); otherwise it fails with what to
// do, so that CI never skips the browser test silently.
func requireChromium(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("chromium"); err == nil {
		return path
	}
	if os.Getenv("INSTALL_CHROMIUM") == "1" || (inCI() && os.Geteuid() == 0) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		for _, arguments := range [][]string{{"update"}, {"install", "-y", "chromium"}} {
			command := exec.CommandContext(ctx, "apt-get", arguments...)
			command.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if output, err := command.CombinedOutput(); err != nil {
				t.Fatalf("apt-get %s: %v\n%s", strings.Join(arguments, " "), err, output)
			}
		}
		if path, err := exec.LookPath("chromium"); err == nil {
			return path
		}
	}
	t.Fatal("chromium is not installed: run `apt-get install -y chromium` (Debian), or set INSTALL_CHROMIUM=1 to let the test install it")
	return ""
}

// browserPage connects with socket.io-client's defaults (polling, then the
// upgrade), subscribes, and reports the first market:data tick received
// over WebSocket: into the DOM, and by POSTing it to /result.
const browserPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>protrader5 browser test</title></head>
<body>
<pre id="result">pending</pre>
<script src="/socket.io.min.js"></script>
<script>
const report = (text) => {
  document.getElementById("result").textContent = text;
  fetch("/result", { method: "POST", body: text });
};
const socket = io(%q, { auth: { token: %q } });
let opened = "";
socket.io.on("open", () => { opened = socket.io.engine.transport.name; });
socket.on("connect", () => {
  socket.emit("subscribe:market", { symbols: ["BTCUSD"] }, (ack) => {
    if (!ack.ok) report("subscribe refused: " + JSON.stringify(ack));
  });
});
socket.on("connect_error", (err) => report("connect_error: " + err.message));
socket.on("market:data", (tick) => {
  if (socket.io.engine.transport.name !== "websocket") return;
  report("RESULT opened=" + opened + " transport=websocket tick=" + JSON.stringify(tick));
  socket.close();
});
</script>
<iframe src="/hold" style="display:none"></iframe>
</body></html>`

// TestBrowserClient loads socket.io-client's browser bundle in headless
// chromium from a page on another origin (so CORS is exercised too).
func TestBrowserClient(t *testing.T) {
	requireNodeClient(t)
	chromium := requireChromium(t)
	e := startEngine(t, Config{})
	stop := tickUntil(e, 20*time.Millisecond)
	defer stop()

	results := make(chan string, 1)
	bundle := filepath.Join(clientDir, "node_modules", "socket.io-client", "dist", "socket.io.min.js")
	mux := http.NewServeMux()
	page := fmt.Sprintf(browserPage, "http://"+e.Addr().String(), testToken(t, "browser-user", time.Hour))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	})
	mux.HandleFunc("/socket.io.min.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, bundle)
	})
	mux.HandleFunc("/result", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case results <- string(body):
		default:
		}
	})
	// The page's load event, after which chromium dumps the DOM, waits for
	// this frame: it is held until the page has reported.
	held := make(chan struct{})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-held:
		case <-time.After(20 * time.Second):
		case <-r.Context().Done():
		}
	})
	pageURL := servePage(t, mux)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	profile := t.TempDir()
	command := exec.CommandContext(ctx, chromium, append(headlessChromiumFlags, "--user-data-dir="+profile, "--dump-dom", pageURL)...)
	var dom strings.Builder
	command.Stdout = &dom
	var stderr strings.Builder
	command.Stderr = &stderr
	if err := command.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var result string
	select {
	case result = <-results:
	case <-time.After(30 * time.Second):
	}
	close(held)
	if err := command.Wait(); err != nil {
		t.Logf("chromium: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(result, `RESULT opened=polling transport=websocket tick={"symbol":"BTCUSD","price":`) {
		t.Fatalf("page reported %q\nDOM:\n%s\nchromium stderr:\n%s", result, dom.String(), stderr.String())
	}
	if !strings.Contains(dom.String(), "RESULT opened=polling transport=websocket") {
		t.Fatalf("DOM does not show the result:\n%s", dom.String())
	}
}

// headlessChromiumFlags run Debian's chromium headless, quietly, without
// anything that reaches beyond the loopback pages of a test.
var headlessChromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
	"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"}

// servePage serves mux on a loopback port until the test ends and returns
// its root URL.
func servePage(t *testing.T, mux http.Handler) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := &http.Server{Handler: mux}
	go server.Serve(listener)
	t.Cleanup(func() { server.Close() })
	return "http://" + listener.Addr().String() + "/"
}
