package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// headlessChromiumFlags run Debian's chromium headless, quietly, without
// anything that reaches beyond the loopback pages of a test.
var headlessChromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
	"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--hide-scrollbars", "--mute-audio"}

// findChromium returns Debian's chromium, or fails with what to do: a
// browser test never skips silently.
func findChromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run `make test-deps` (or `apt-get install -y chromium`)")
	}
	return path
}

// devtoolsMessage is one message of the Chrome DevTools protocol: a call's
// answer (ID set) or an event (Method set).
type devtoolsMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// browser is a headless chromium driven over --remote-debugging-pipe: the
// protocol's JSON messages, each ended by a NUL byte, on the descriptors 3
// (to the browser) and 4 (from it). No port, no WebSocket, nothing another
// process on the machine could reach.
type browser struct {
	command   *exec.Cmd
	toBrowser *os.File
	stderr    *lockedWriter

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan devtoolsMessage // guarded by mu
	events  []devtoolsMessage              // guarded by mu
	readErr error                          // guarded by mu
	done    chan struct{}                  // closed when the reader ends
}

// startBrowser runs chromium until the test ends.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	chromium := findChromium(t)
	toBrowserReader, toBrowserWriter, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromBrowserReader, fromBrowserWriter, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	arguments := append(append([]string{}, headlessChromiumFlags...),
		"--remote-debugging-pipe", "--user-data-dir="+t.TempDir(), "about:blank")
	b := &browser{
		command:   exec.Command(chromium, arguments...),
		toBrowser: toBrowserWriter,
		stderr:    &lockedWriter{builder: &strings.Builder{}},
		pending:   map[int64]chan devtoolsMessage{},
		done:      make(chan struct{}),
	}
	b.command.Stderr = b.stderr
	b.command.ExtraFiles = []*os.File{toBrowserReader, fromBrowserWriter}
	if err := b.command.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// The child holds its own copies.
	toBrowserReader.Close()
	fromBrowserWriter.Close()
	go b.read(fromBrowserReader)
	t.Cleanup(func() { b.close(t) })
	return b
}

func (b *browser) read(from *os.File) {
	defer close(b.done)
	defer from.Close()
	reader := bufio.NewReaderSize(from, 1<<20)
	for {
		raw, err := reader.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, answer := range b.pending {
				close(answer)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var message devtoolsMessage
		if err := json.Unmarshal(raw[:len(raw)-1], &message); err != nil {
			continue
		}
		b.mu.Lock()
		if message.ID != 0 {
			if answer, ok := b.pending[message.ID]; ok {
				answer <- message
				delete(b.pending, message.ID)
			}
		} else {
			b.events = append(b.events, message)
		}
		b.mu.Unlock()
	}
}

// call sends method to the session (the browser itself when sessionID is
// empty) and decodes the answer into result, unless result is nil.
func (b *browser) call(ctx context.Context, sessionID, method string, params, result any) error {
	if params == nil {
		params = struct{}{}
	}
	encodedParams, err := json.Marshal(params)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("%s: chromium is gone: %w", method, b.readErr)
	}
	b.nextID++
	id := b.nextID
	answer := make(chan devtoolsMessage, 1)
	b.pending[id] = answer
	b.mu.Unlock()
	request, _ := json.Marshal(devtoolsMessage{ID: id, SessionID: sessionID, Method: method, Params: encodedParams})
	if _, err := b.toBrowser.Write(append(request, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case message, ok := <-answer:
		switch {
		case !ok:
			return fmt.Errorf("%s: chromium closed the pipe", method)
		case message.Error != nil:
			return fmt.Errorf("%s: %d %s", method, message.Error.Code, message.Error.Message)
		case result != nil:
			return json.Unmarshal(message.Result, result)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// eventsOf returns the events received so far with method.
func (b *browser) eventsOf(method string) []devtoolsMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	var found []devtoolsMessage
	for _, event := range b.events {
		if event.Method == method {
			found = append(found, event)
		}
	}
	return found
}

// close asks chromium to quit and waits for it, killing it if it lingers.
func (b *browser) close(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.call(ctx, "", "Browser.close", nil, nil)
	exited := make(chan error, 1)
	go func() { exited <- b.command.Wait() }()
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = b.command.Process.Kill()
		<-exited
	}
	b.toBrowser.Close()
	<-b.done
	if t.Failed() {
		t.Logf("chromium stderr:\n%s", b.stderr)
	}
}

// tab is one page of the browser, attached with its own session.
type tab struct {
	browser   *browser
	sessionID string
}

// openTab creates a blank page of width × height CSS pixels with the
// Page, Runtime, Log and Network events on.
func (b *browser) openTab(ctx context.Context, width, height int) (*tab, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}
	page := &tab{browser: b, sessionID: attached.SessionID}
	for _, domain := range []string{"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"} {
		if err := page.call(ctx, domain, nil, nil); err != nil {
			return nil, err
		}
	}
	metrics := map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}
	if err := page.call(ctx, "Emulation.setDeviceMetricsOverride", metrics, nil); err != nil {
		return nil, err
	}
	return page, nil
}

func (p *tab) call(ctx context.Context, method string, params, result any) error {
	return p.browser.call(ctx, p.sessionID, method, params, result)
}

// evaluate runs expression in the page and decodes its value into result.
func (p *tab) evaluate(ctx context.Context, expression string, result any) error {
	var answer struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.call(ctx, "Runtime.evaluate", map[string]any{"expression": expression, "returnByValue": true, "awaitPromise": true}, &answer)
	if err != nil {
		return err
	}
	if answer.ExceptionDetails != nil {
		return fmt.Errorf("evaluate %q: %s %s", expression, answer.ExceptionDetails.Text, answer.ExceptionDetails.Exception.Description)
	}
	if result == nil || len(answer.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(answer.Result.Value, result)
}

// errNotYet is what a pollPage condition returns to be asked again.
var errNotYet = errors.New("not yet")

// pollPage calls condition every 100ms until it returns nil or an error
// other than errNotYet, or until timeout; what is asked for is decided by
// the page, never by how long it took, so a slow machine only waits longer.
func pollPage(ctx context.Context, t *testing.T, what string, timeout time.Duration, condition func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := condition()
		if err == nil {
			return
		}
		if !errors.Is(err, errNotYet) {
			t.Fatalf("%s: %v", what, err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not within %v (%v)", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
