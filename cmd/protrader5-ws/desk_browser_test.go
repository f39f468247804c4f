package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest"
)

// startDeskGateway runs the gateway in the test binary on the embedded bus,
// with the demo feed at the given intervals, until the test ends, and
// returns its base URL on the loopback address.
func startDeskGateway(t *testing.T, config Config, demo ingest.DemoOptions) string {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	s, err := newServer(config, logger)
	if err != nil {
		t.Fatal(err)
	}
	s.demo = demo
	source, err := s.startSource()
	if err != nil {
		t.Fatal(err)
	}
	listening, err := s.listen()
	if err != nil {
		source.stop()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.serveUntilDone(ctx, listening.gateway, source) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the gateway did not stop within 20s")
		}
	})
	port := listening.gateway.Addr().(*net.TCPAddr).Port
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// deskConfig is a development configuration on a free port, with no log
// files.
func deskConfig(environment string) Config {
	config := defaultConfig(environment)
	config.Port = 0
	config.LogDirectory = ""
	config.JWTSecret = []byte("desk-test-secret")
	config.DrainTimeout = 2 * time.Second
	return config
}

// pageProblems collects what the browser reported against the page: console
// errors and warnings, uncaught exceptions, error log entries (CSP
// violations, failed loads) and the violations the page's own
// securitypolicyviolation listener saw. ignore drops log entries of URLs the
// test expects to fail.
func pageProblems(ctx context.Context, page *tab, ignore ...string) ([]string, error) {
	var problems []string
	for _, event := range page.browser.eventsOf("Runtime.consoleAPICalled") {
		var call struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		_ = json.Unmarshal(event.Params, &call)
		if call.Type == "error" || call.Type == "warning" || call.Type == "assert" {
			problems = append(problems, fmt.Sprintf("console.%s %v", call.Type, call.Args))
		}
	}
	for _, event := range page.browser.eventsOf("Runtime.exceptionThrown") {
		problems = append(problems, "exception "+string(event.Params))
	}
	for _, event := range page.browser.eventsOf("Log.entryAdded") {
		var added struct {
			Entry struct {
				Source string `json:"source"`
				Level  string `json:"level"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		_ = json.Unmarshal(event.Params, &added)
		entry := added.Entry
		if entry.Level != "error" || ignored(entry.URL, ignore) {
			continue
		}
		problems = append(problems, fmt.Sprintf("log %s %s: %s (%s)", entry.Level, entry.Source, entry.Text, entry.URL))
	}
	var violations []string
	if err := page.evaluate(ctx, "window.deskTestViolations || []", &violations); err != nil {
		return nil, err
	}
	for _, violation := range violations {
		problems = append(problems, "securitypolicyviolation "+violation)
	}
	return problems, nil
}

func ignored(url string, ignore []string) bool {
	for _, suffix := range ignore {
		if url != "" && strings.HasSuffix(url, suffix) {
			return true
		}
	}
	return false
}

// violationListener is installed in every document before its own scripts
// run, by the test (DevTools scripts are not subject to the page's CSP): it
// records each violation the page causes.
const violationListener = `window.deskTestViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.deskTestViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});`

// openDesk opens the desk page at base in a new tab.
func openDesk(ctx context.Context, t *testing.T, b *browser, base string) *tab {
	t.Helper()
	page, err := b.openTab(ctx, 1200, 980)
	if err != nil {
		t.Fatal(err)
	}
	if err := page.call(ctx, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": violationListener}, nil); err != nil {
		t.Fatal(err)
	}
	if err := page.call(ctx, "Page.navigate", map[string]any{"url": base + "/"}, nil); err != nil {
		t.Fatal(err)
	}
	pollPage(ctx, t, "the page loads", 45*time.Second, func() error {
		var loaded bool
		if err := page.evaluate(ctx, fmt.Sprintf(`location.href === %q && document.readyState === "complete"`, base+"/"), &loaded); err != nil {
			return err
		}
		if !loaded {
			return errNotYet
		}
		return nil
	})
	return page
}

// tickerRow is what the page shows of one symbol.
type tickerRow struct {
	Symbol string `json:"symbol"`
	Price  string `json:"price"`
	Ticks  int    `json:"ticks"`
}

const readTicker = `[...document.querySelectorAll("#ticker-rows tr")].map((row) => ({
  symbol: row.dataset.symbol, price: row.dataset.price || "", ticks: Number(row.dataset.ticks || 0)}))`

func readRows(ctx context.Context, page *tab) (map[string]tickerRow, error) {
	var rows []tickerRow
	if err := page.evaluate(ctx, readTicker, &rows); err != nil {
		return nil, err
	}
	bySymbol := map[string]tickerRow{}
	for _, row := range rows {
		bySymbol[row.Symbol] = row
	}
	return bySymbol, nil
}

// framesOf counts the market:data WebSocket frames of symbol the browser
// received.
func framesOf(b *browser, symbol string) int {
	marker := `["market:data",{"symbol":"` + symbol + `"`
	count := 0
	for _, event := range b.eventsOf("Network.webSocketFrameReceived") {
		var frame struct {
			Response struct {
				PayloadData string `json:"payloadData"`
			} `json:"response"`
		}
		_ = json.Unmarshal(event.Params, &frame)
		if strings.Contains(frame.Response.PayloadData, marker) {
			count++
		}
	}
	return count
}

// subscribesSent counts the subscribe:market events the page sent, over
// WebSocket or in polling POSTs.
func subscribesSent(b *browser) int {
	const marker = `"subscribe:market"`
	count := 0
	for _, event := range b.eventsOf("Network.webSocketFrameSent") {
		var frame struct {
			Response struct {
				PayloadData string `json:"payloadData"`
			} `json:"response"`
		}
		_ = json.Unmarshal(event.Params, &frame)
		count += strings.Count(frame.Response.PayloadData, marker)
	}
	for _, event := range b.eventsOf("Network.requestWillBeSent") {
		var sent struct {
			Request struct {
				PostData string `json:"postData"`
			} `json:"request"`
		}
		_ = json.Unmarshal(event.Params, &sent)
		count += strings.Count(sent.Request.PostData, marker)
	}
	return count
}

// TestDeskPageInChromium loads the desk page from a development gateway in
// headless chromium, under its Content-Security-Policy, and follows it:
// ticks fill and move the ticker, the demo user's orders, positions with
// moving P&L and notifications arrive, a removed symbol stops coming, and a
// screenshot is kept.
func TestDeskPageInChromium(t *testing.T) {
	config := deskConfig(EnvironmentDevelopment)
	base := startDeskGateway(t, config, ingest.DemoOptions{TickInterval: 50 * time.Millisecond, EventInterval: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := startBrowser(t)
	page := openDesk(ctx, t, b, base)
	const wait = 45 * time.Second

	var first map[string]tickerRow
	pollPage(ctx, t, "every default symbol gets a price", wait, func() error {
		rows, err := readRows(ctx, page)
		if err != nil {
			return err
		}
		for _, symbol := range []string{"BTCUSD", "ETHUSD", "SOLUSD", "AAPL", "TSLA"} {
			if rows[symbol].Price == "" {
				return fmt.Errorf("%w: %v", errNotYet, rows)
			}
		}
		first = rows
		return nil
	})
	pollPage(ctx, t, "the prices change", wait, func() error {
		rows, err := readRows(ctx, page)
		if err != nil {
			return err
		}
		for symbol, row := range rows {
			if row.Ticks >= first[symbol].Ticks+5 && row.Price != first[symbol].Price {
				return nil
			}
		}
		return fmt.Errorf("%w: %v then %v", errNotYet, first, rows)
	})

	var connection map[string]string
	pollPage(ctx, t, "the connection panel shows the upgraded socket and a round trip", wait, func() error {
		err := page.evaluate(ctx, `Object.fromEntries([...document.querySelectorAll(".connection dd")].map((d) => [d.id, d.textContent]))`, &connection)
		if err != nil {
			return err
		}
		if connection["connection-status"] != "connected" || connection["connection-transport"] != "websocket" ||
			!strings.HasPrefix(connection["connection-upgraded"], "to websocket at ") ||
			connection["connection-recovered"] != "no" || !strings.HasSuffix(connection["connection-round-trip"], " ms") ||
			connection["connection-user"] != "demo" {
			return fmt.Errorf("%w: %v", errNotYet, connection)
		}
		return nil
	})

	pollPage(ctx, t, "demo orders and notifications appear", wait, func() error {
		var counts struct{ Orders, Notifications int }
		err := page.evaluate(ctx, `({Orders: document.querySelectorAll("#order-rows tr[data-order-id]").length,
			Notifications: document.querySelectorAll("#notifications li").length})`, &counts)
		if err != nil {
			return err
		}
		if counts.Orders < 2 || counts.Notifications < 2 {
			return fmt.Errorf("%w: %+v", errNotYet, counts)
		}
		return nil
	})

	const readPnL = `Object.fromEntries([...document.querySelectorAll("#position-rows tr")].map((row) => [row.dataset.positionId, row.dataset.pnl]))`
	var firstPnL map[string]string
	pollPage(ctx, t, "the demo positions appear", wait, func() error {
		if err := page.evaluate(ctx, readPnL, &firstPnL); err != nil {
			return err
		}
		if len(firstPnL) < 2 {
			return fmt.Errorf("%w: %v", errNotYet, firstPnL)
		}
		return nil
	})
	pollPage(ctx, t, "a position's P&L changes", wait, func() error {
		var pnl map[string]string
		if err := page.evaluate(ctx, readPnL, &pnl); err != nil {
			return err
		}
		for id, value := range pnl {
			if before, ok := firstPnL[id]; ok && value != before {
				return nil
			}
		}
		return fmt.Errorf("%w: %v then %v", errNotYet, firstPnL, pnl)
	})

	// Removing ETHUSD: its row goes, and once the unsubscribe is acked the
	// server sends no more of its ticks while the others keep coming.
	if err := page.evaluate(ctx, `document.querySelector('#ticker-rows tr[data-symbol="ETHUSD"] button.remove').click()`, nil); err != nil {
		t.Fatal(err)
	}
	pollPage(ctx, t, "the unsubscribe is acknowledged", wait, func() error {
		var status string
		if err := page.evaluate(ctx, `document.getElementById("market-status").textContent`, &status); err != nil {
			return err
		}
		if status != "Removed ETHUSD." {
			return fmt.Errorf("%w: status %q", errNotYet, status)
		}
		return nil
	})
	// Frames of other symbols flow past any ETHUSD tick that was already on
	// its way, then the ETHUSD count must hold while they keep flowing.
	othersAfter := func(count int) func() error {
		start := framesOf(b, "BTCUSD")
		return func() error {
			if got := framesOf(b, "BTCUSD"); got < start+count {
				return fmt.Errorf("%w: %d BTCUSD frames since", errNotYet, got-start)
			}
			return nil
		}
	}
	pollPage(ctx, t, "BTCUSD ticks keep coming after the removal", wait, othersAfter(10))
	removedFrames := framesOf(b, "ETHUSD")
	before, err := readRows(ctx, page)
	if err != nil {
		t.Fatal(err)
	}
	pollPage(ctx, t, "more BTCUSD ticks", wait, othersAfter(20))
	after, err := readRows(ctx, page)
	if err != nil {
		t.Fatal(err)
	}
	if got := framesOf(b, "ETHUSD"); got != removedFrames {
		t.Errorf("ETHUSD frames went from %d to %d after its removal", removedFrames, got)
	}
	if _, ok := after["ETHUSD"]; ok {
		t.Errorf("the ETHUSD row is back: %v", after)
	}
	if after["BTCUSD"].Ticks <= before["BTCUSD"].Ticks {
		t.Errorf("the BTCUSD row stopped too: %v then %v", before, after)
	}

	// Adding it back through the form.
	if err := page.evaluate(ctx, `document.getElementById("symbol-input").value = "ethusd";
		document.getElementById("symbol-form").requestSubmit()`, nil); err != nil {
		t.Fatal(err)
	}
	pollPage(ctx, t, "the re-added ETHUSD row fills", wait, func() error {
		rows, err := readRows(ctx, page)
		if err != nil {
			return err
		}
		if rows["ETHUSD"].Ticks < 2 {
			return fmt.Errorf("%w: %v", errNotYet, rows)
		}
		return nil
	})

	problems, err := pageProblems(ctx, page)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("the page had problems:\n%s", strings.Join(problems, "\n"))
	}
	saveScreenshot(ctx, t, page, "desk.png")

	// A throttle is sent only once picked, and the interval the server
	// echoes is shown.
	if err := page.evaluate(ctx, `const select = document.getElementById("throttle-select");
		select.value = "250"; select.dispatchEvent(new Event("change"))`, nil); err != nil {
		t.Fatal(err)
	}
	pollPage(ctx, t, "the throttle is answered", wait, func() error {
		var status string
		if err := page.evaluate(ctx, `document.getElementById("market-status").textContent`, &status); err != nil {
			return err
		}
		switch status {
		case "Subscribed; at most one update per symbol every 250 ms.":
			return nil
		case "Removed ETHUSD.", "Subscribed to 5 symbols.":
			return fmt.Errorf("%w: status %q", errNotYet, status)
		}
		return fmt.Errorf("the throttle got %q", status)
	})

	// A dropped connection recovers: the page shows it, does not subscribe
	// again (the server restored the subscriptions), and ticks keep coming.
	// SOLUSD, removed while disconnected, is unsubscribed once recovered.
	subscribesBefore := subscribesSent(b)
	if subscribesBefore == 0 {
		t.Fatal("no subscribe:market seen leaving the page")
	}
	if err := page.evaluate(ctx, `document.getElementById("drop-button").click();
		document.querySelector('#ticker-rows tr[data-symbol="SOLUSD"] button.remove').click()`, nil); err != nil {
		t.Fatal(err)
	}
	pollPage(ctx, t, "the dropped connection recovers", wait, func() error {
		var state struct{ Status, Recovered, Transport string }
		err := page.evaluate(ctx, `({Status: document.getElementById("connection-status").textContent,
			Recovered: document.getElementById("connection-recovered").textContent,
			Transport: document.getElementById("connection-transport").textContent})`, &state)
		if err != nil {
			return err
		}
		if state.Status != "connected" || !strings.HasPrefix(state.Recovered, "yes") || state.Transport != "websocket" {
			return fmt.Errorf("%w: %+v", errNotYet, state)
		}
		return nil
	})
	pollPage(ctx, t, "ticks keep coming after the recovery", wait, othersAfter(10))
	removedFrames = framesOf(b, "SOLUSD")
	pollPage(ctx, t, "more ticks after the recovery", wait, othersAfter(20))
	if got := framesOf(b, "SOLUSD"); got != removedFrames {
		t.Errorf("SOLUSD, removed while disconnected, still comes after the recovery: %d frames then %d", removedFrames, got)
	}
	if got := subscribesSent(b); got != subscribesBefore {
		t.Errorf("the page sent subscribe:market %d times before the drop and %d after the recovery; want no more", subscribesBefore, got)
	}

	// The checks above can fail: an inline script, which the policy forbids,
	// is caught by them.
	if err := page.evaluate(ctx, `const inline = document.createElement("script");
		inline.textContent = "window.inlineRan = true"; document.body.append(inline); window.inlineRan === true`, nil); err != nil {
		t.Fatal(err)
	}
	pollPage(ctx, t, "an inline script is reported as a violation", wait, func() error {
		problems, err := pageProblems(ctx, page)
		if err != nil {
			return err
		}
		if len(problems) == 0 {
			return errNotYet
		}
		return nil
	})
	var inlineRan bool
	if err := page.evaluate(ctx, "window.inlineRan === true", &inlineRan); err != nil || inlineRan {
		t.Errorf("an inline script ran under the policy (%v)", err)
	}
}

// saveScreenshot writes the page as a PNG into TEST_ARTIFACTS_DIR, by
// default bin/test-artifacts at the top of the repository.
func saveScreenshot(ctx context.Context, t *testing.T, page *tab, name string) {
	t.Helper()
	directory := os.Getenv("TEST_ARTIFACTS_DIR")
	if directory == "" {
		directory = filepath.Join("..", "..", "bin", "test-artifacts")
	}
	var shot struct {
		Data string `json:"data"`
	}
	if err := page.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(directory, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(directory, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(data))
}
