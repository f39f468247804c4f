package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
	"github.com/redis/rueidis"
)

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name       string
		arguments  []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"help"}, exitSuccess, "usage: protrader5-ws", ""},
		{"-h", []string{"-h"}, exitSuccess, "Commands:", ""},
		{"--help", []string{"--help"}, exitSuccess, "Commands:", ""},
		{"unknown", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, exitSuccess, "protrader5-ws dev (commit ", ""},
		{"version stray", []string{"version", "x"}, exitUsage, "", "unexpected argument"},
		{"serve bad flag", []string{"serve", "--port", "1"}, exitUsage, "", "flag provided but not defined"},
		{"default serve bad flag", []string{"--port", "1"}, exitUsage, "", "flag provided but not defined"},
		{"token -h", []string{"token", "-h"}, exitSuccess, "", "usage: protrader5-ws token"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			c, stdout, stderr := newTestCLI(nil)
			code := c.run(test.arguments)
			if code != test.wantCode || !strings.Contains(stdout.String(), test.wantStdout) ||
				!strings.Contains(stderr.String(), test.wantStderr) {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, %q, %q",
					test.arguments, code, stdout, stderr, test.wantCode, test.wantStdout, test.wantStderr)
			}
		})
	}
	c, stdout, _ := newTestCLI(nil)
	c.run([]string{"version"})
	if !strings.Contains(stdout.String(), runtime.Version()) {
		t.Errorf("version output %q lacks the Go version", stdout)
	}
}

func TestServeConfigErrorExitsOne(t *testing.T) {
	c, _, stderr := newTestCLI(map[string]string{"PORT": "x", "PING_INTERVAL": "y"})
	c.serve = func(context.Context, Config, *slog.Logger) error {
		t.Error("runServe called despite a bad configuration")
		return nil
	}
	if code := c.run(nil); code != exitFailure {
		t.Errorf("serve with bad settings: exit %d; want 1", code)
	}
	if !strings.Contains(stderr.String(), "config: PORT:") || !strings.Contains(stderr.String(), "config: PING_INTERVAL:") {
		t.Errorf("stderr = %q; want both problems", stderr)
	}
}

func TestServeRunsAndLogsConfig(t *testing.T) {
	directory := t.TempDir()
	c, _, stderr := newTestCLI(map[string]string{"NODE_ENV": "test", "LOG_DIR": directory, "JWT_SECRET": "never-logged"})
	var got Config
	c.serve = func(ctx context.Context, config Config, logger *slog.Logger) error {
		got = config
		logger.Error("engine failed")
		return errors.New("listen: address in use")
	}
	if code := c.run([]string{"serve"}); code != exitFailure {
		t.Errorf("serve whose runServe fails: exit %d; want 1", code)
	}
	if got.Environment != "test" || got.LogDirectory != directory {
		t.Errorf("runServe got config %+v", got)
	}
	combined, err := os.ReadFile(filepath.Join(directory, "combined.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"msg":"starting"`, `"ping_interval_ms":25000`, `"msg":"gateway stopped"`, "address in use"} {
		if !strings.Contains(string(combined), want) {
			t.Errorf("combined.log lacks %s:\n%s", want, combined)
		}
	}
	if strings.Contains(string(combined), "never-logged") {
		t.Error("combined.log holds the JWT secret")
	}
	// Outside development stderr carries the same JSON lines, for
	// container log collectors; never the secret.
	if !strings.Contains(stderr.String(), `"msg":"starting"`) || strings.Contains(stderr.String(), "never-logged") {
		t.Errorf("stderr = %q; want the JSON log lines without the secret", stderr)
	}
}

func TestWithShutdownSignals(t *testing.T) {
	ctx, stop := withShutdownSignals(context.Background())
	defer stop()
	// NotifyContext has registered the handler when it returns, so the signal
	// cannot reach the default action and end the test binary.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
}

func TestServeUntilDoneBoundsTheDrain(t *testing.T) {
	config := defaultConfig(EnvironmentTest)
	config.DrainTimeout = 0
	logger := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())

	c, _, _ := newTestCLI(nil)
	c.shutdownGrace = 50 * time.Millisecond
	returned := make(chan struct{})
	c.serve = func(ctx context.Context, config Config, logger *slog.Logger) error {
		<-ctx.Done()
		<-returned // a drain that never ends
		return nil
	}
	defer close(returned)
	cancel()
	start := time.Now()
	err := c.serveUntilDone(ctx, config, logger)
	if err == nil || !strings.Contains(err.Error(), "shutdown did not finish") {
		t.Errorf("serveUntilDone with a stuck drain = %v; want a shutdown error", err)
	}
	if elapsed := time.Since(start); elapsed < c.shutdownGrace {
		t.Errorf("gave up after %v; want at least %v", elapsed, c.shutdownGrace)
	}

	// The real runServe drains and returns promptly once the context ends.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	c, _, _ = newTestCLI(nil)
	config.Port = 0
	config.JWTSecret = []byte("secret")
	config.DrainTimeout = 2 * time.Second
	start = time.Now()
	if err := c.serveUntilDone(ctx, config, logger); err != nil {
		t.Errorf("serveUntilDone with runServe = %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("runServe took %v to drain an idle gateway", elapsed)
	}
}

func TestPublishRefusals(t *testing.T) {
	tests := []struct {
		name      string
		variables map[string]string
		arguments []string
		wantCode  int
		wantError string
	}{
		{"unknown channel", nil, []string{"--channel", "orders", "--data", "{}"}, exitUsage, `--channel "orders" is not one of`},
		{"not json", nil, []string{"--channel", "notifications", "--data", "{x"}, exitUsage, "is not valid JSON"},
		{"no data", nil, []string{"--channel", "notifications"}, exitUsage, "is not valid JSON"},
		{"array on user channel", nil, []string{"--channel", "order:updates", "--data", "[]"}, exitUsage, "must be a JSON object"},
		{"no redis", nil, []string{"--channel", "market:ticks", "--data", `[{"symbol":"BTCUSD"}]`}, exitFailure, "REDIS_URL is not set; publish needs Redis"},
		{"bad redis url", map[string]string{"REDIS_URL": "http://x"}, []string{"--channel", "notifications", "--data", "{}"}, exitFailure, "config: REDIS_URL:"},
		{"bad user streams", map[string]string{"USER_STREAMS": "kafka"}, []string{"--channel", "notifications", "--data", "{}"}, exitFailure, "config: USER_STREAMS:"},
		{"maxlen with pubsub", nil, []string{"--channel", "notifications", "--data", "{}", "--maxlen", "10"}, exitUsage, "--maxlen must be positive, and applies only"},
		{"maxlen on ticks", map[string]string{"USER_STREAMS": "streams"}, []string{"--channel", "market:ticks", "--data", "{}", "--maxlen", "10"}, exitUsage, "--maxlen"},
		{"negative maxlen", map[string]string{"USER_STREAMS": "streams"}, []string{"--channel", "notifications", "--data", "{}", "--maxlen", "-1"}, exitUsage, "--maxlen"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			c, stdout, stderr := newTestCLI(test.variables)
			code := c.run(append([]string{"publish"}, test.arguments...))
			if code != test.wantCode || !strings.Contains(stderr.String(), test.wantError) || stdout.Len() != 0 {
				t.Errorf("publish %v: exit %d, stdout %q, stderr %q; want exit %d and %q",
					test.arguments, code, stdout, stderr, test.wantCode, test.wantError)
			}
		})
	}
}

func TestPublishReachesSubscriber(t *testing.T) {
	redisURL := redistest.URL(t)
	subscriber := redistest.Client(t, redisURL)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	received := make(chan string, 1)
	subscribed := make(chan struct{})
	go subscriber.Receive(ctx, subscriber.B().Subscribe().Channel("pt5:notifications").Build(), func(message rueidis.PubSubMessage) {
		received <- message.Message
	})
	// Wait until the subscription is visible to publishers.
	go func() {
		defer close(subscribed)
		for ctx.Err() == nil {
			counts, _ := subscriber.Do(ctx, subscriber.B().PubsubNumsub().Channel("pt5:notifications").Build()).AsIntMap()
			if counts["pt5:notifications"] > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	<-subscribed

	message := `{"id":"n1","userId":"alice","title":"hi"}`
	c, stdout, stderr := newTestCLI(map[string]string{"REDIS_URL": redisURL, "REDIS_PREFIX": "pt5:"})
	if code := c.run([]string{"publish", "--channel", "notifications", "--data", message}); code != exitSuccess {
		t.Fatalf("publish exit %d; stderr %q", code, stderr)
	}
	if got := strings.TrimSpace(stdout.String()); got != "1" {
		t.Errorf("publish printed %q; want 1 receiver", got)
	}
	select {
	case got := <-received:
		if got != message {
			t.Errorf("subscriber got %q; want %q", got, message)
		}
	case <-ctx.Done():
		t.Fatal("the message never arrived")
	}
}

// With USER_STREAMS=streams a user message becomes a stream entry; ticks
// are still published.
func TestPublishAppendsToStream(t *testing.T) {
	redisURL := redistest.URL(t)
	prefix := e2ePrefix(t)
	client := redistest.Client(t, redisURL)
	key := prefix + "order:updates"
	t.Cleanup(func() { _ = client.Do(context.Background(), client.B().Del().Key(key).Build()).Error() })
	variables := map[string]string{"REDIS_URL": redisURL, "REDIS_PREFIX": prefix, "USER_STREAMS": "streams"}

	messages := []string{`{"orderId":"o1","userId":"alice"}`, `{"orderId":"o2","userId":"alice"}`, `{"orderId":"o3","userId":"alice"}`}
	var ids []string
	for index, message := range messages {
		arguments := []string{"publish", "--channel", "order:updates", "--data", message}
		if index > 0 {
			arguments = append(arguments, "--maxlen", "1000")
		}
		c, stdout, stderr := newTestCLI(variables)
		if code := c.run(arguments); code != exitSuccess {
			t.Fatalf("publish %v: exit %d; stderr %q", arguments, code, stderr)
		}
		ids = append(ids, strings.TrimSpace(stdout.String()))
	}
	entries, err := client.Do(context.Background(), client.B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		t.Fatalf("XRANGE %s: %v", key, err)
	}
	if len(entries) != len(messages) {
		t.Fatalf("XRANGE %s = %+v; want %d entries", key, entries, len(messages))
	}
	for index, entry := range entries {
		if entry.ID != ids[index] || len(entry.FieldValues) != 1 || entry.FieldValues["data"] != messages[index] {
			t.Errorf("entry %d = %+v; want %s with data %s", index, entry, ids[index], messages[index])
		}
	}

	c, stdout, stderr := newTestCLI(variables)
	if code := c.run([]string{"publish", "--channel", "market:ticks", "--data", `{"symbol":"BTCUSD","price":1}`}); code != exitSuccess {
		t.Fatalf("publish tick: exit %d; stderr %q", code, stderr)
	}
	if got := strings.TrimSpace(stdout.String()); got != "0" {
		t.Errorf("publish tick printed %q; want 0 receivers (PUBLISH, nobody subscribed)", got)
	}
}
