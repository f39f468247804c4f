package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// clientDir holds the npm project with the stock socket.io-client used by
// the Node.js and browser tests.
const clientDir = "testdata/client"

var (
	npmOnce sync.Once
	npmErr  error
	npmLog  []byte
)

// inCI reports whether the tests run in CI, where a missing tool is a
// failure rather than a reason to skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// requireNodeClient makes sure node and the locked socket.io-client are
// installed (npm ci from the committed lockfile), or fails in CI and skips
// with the reason elsewhere.
func requireNodeClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if inCI() {
			t.Fatal("node is not installed; the Node.js and browser tests need Node.js 20 and npm")
		}
		t.Skip("node is not installed; install Node.js 20 to run the socket.io-client tests")
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(clientDir, "node_modules", "socket.io-client", "dist", "socket.io.min.js")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		command := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		command.Dir = clientDir
		npmLog, npmErr = command.CombinedOutput()
	})
	if npmErr != nil {
		t.Fatalf("npm ci in %s: %v\n%s", clientDir, npmErr, npmLog)
	}
	return node
}

// tickUntil publishes a BTCUSD tick every interval until the returned stop
// is called.
func tickUntil(e *Engine, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for price := 1; ; price++ {
			select {
			case <-done:
				return
			case <-ticker.C:
				e.PublishTick("BTCUSD", []byte(`{"symbol":"BTCUSD","price":`+itoa(price)+`}`))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
