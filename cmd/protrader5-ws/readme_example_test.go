package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The markers around the Node.js client example in README.md.
const (
	readmeExampleStart = "<!-- README Node.js example: readme_example_test.go runs this block unchanged. -->\n```js\n"
	readmeExampleEnd   = "```\n<!-- end of the README Node.js example -->"
)

// readmeExample returns README.md's Node.js client example.
func readmeExample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(data), readmeExampleStart)
	example, _, closed := strings.Cut(rest, readmeExampleEnd)
	if !found || !closed {
		t.Fatal("README.md lacks the markers around its Node.js client example")
	}
	return example
}

// exampleRun is what the example reported through readme-harness.js.
type exampleRun struct {
	mu         sync.Mutex
	connects   []bool // socket.recovered of each connect
	subscribed int    // "subscribed" logs: acks of subscribe:market
	ticks      []int  // ticks received, by connection (index into connects)
	failures   []string
	done       bool
}

func (r *exampleRun) record(line string) {
	var record struct {
		Event     string            `json:"event"`
		Recovered bool              `json:"recovered"`
		Log       []json.RawMessage `json:"log"`
		Error     []string          `json:"error"`
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := json.Unmarshal([]byte(line), &record); err != nil {
		r.failures = append(r.failures, "not a harness record: "+line)
		return
	}
	switch {
	case record.Event == "connect":
		r.connects = append(r.connects, record.Recovered)
		r.ticks = append(r.ticks, 0)
	case record.Error != nil:
		r.failures = append(r.failures, strings.Join(record.Error, " "))
	case len(record.Log) > 0 && string(record.Log[0]) == `"subscribed"`:
		r.subscribed++
		if len(record.Log) < 2 || !strings.HasPrefix(string(record.Log[1]), `{"ok":true,`) {
			r.failures = append(r.failures, "subscribe refused: "+line)
		}
	// A tick, not a position (which has a symbol too): only ticks carry the 24h change.
	case len(record.Log) == 1 && strings.Contains(string(record.Log[0]), `"changePercent24h":`) && len(r.ticks) > 0:
		r.ticks[len(r.ticks)-1]++
	}
}

// waitUntil polls the run's state until condition holds (under the lock).
func (r *exampleRun) waitUntil(t *testing.T, what string, condition func(*exampleRun) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		held, failures, done := condition(r), append([]string(nil), r.failures...), r.done
		r.mu.Unlock()
		switch {
		case len(failures) > 0:
			t.Fatalf("the example reported: %v", failures)
		case held:
			return
		case done:
			t.Fatalf("the example ended before %s", what)
		case time.Now().After(deadline):
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("no %s within 20s: connects %v, ticks %v, subscribed %d", what, r.connects, r.ticks, r.subscribed)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadmeNodeExampleKeepsReceivingAfterReconnect runs README.md's
// Node.js example with the stock socket.io-client, closes its connection
// under it, and checks that ticks still arrive: on a recovered session,
// whose subscriptions the server restores, and on a fresh one, which the
// example must subscribe again.
func TestReadmeNodeExampleKeepsReceivingAfterReconnect(t *testing.T) {
	example := readmeExample(t)
	interop := interopDirectory(t)
	for _, tc := range []struct {
		name       string
		env        []string
		recovered  bool
		subscribed int
	}{
		{"recovered session", nil, true, 1},
		{"fresh session", []string{"RECOVERY_WINDOW_MS=0"}, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, 0, tc.env...)
			// The example runs from a directory of its own, as a reader's
			// client.mjs would, with the lockfile's socket.io-client.
			directory := t.TempDir()
			if err := os.Symlink(filepath.Join(interop, "node_modules"), filepath.Join(directory, "node_modules")); err != nil {
				t.Fatal(err)
			}
			script := filepath.Join(directory, "client.mjs")
			if err := os.WriteFile(script, []byte(example), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			command := exec.CommandContext(ctx, "node", "--import", filepath.Join(interop, "readme-harness.js"), script)
			command.Dir = directory
			command.Env = append(os.Environ(), "GATEWAY_URL="+g.url(), "TOKEN="+interopToken(t, "demo", time.Hour))
			var stderr strings.Builder
			command.Stderr = &stderr
			stdin, err := command.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := command.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := command.Start(); err != nil {
				t.Fatal(err)
			}
			run := &exampleRun{}
			reading := make(chan struct{})
			go func() {
				defer close(reading)
				scanner := bufio.NewScanner(stdout)
				scanner.Buffer(make([]byte, 64<<10), 1<<20)
				for scanner.Scan() {
					run.record(scanner.Text())
				}
				run.mu.Lock()
				run.done = true
				run.mu.Unlock()
			}()
			defer func() {
				stdin.Close()
				cancel()
				<-reading
				_ = command.Wait()
				if t.Failed() {
					t.Logf("node stderr:\n%s", stderr.String())
				}
			}()

			// The first subscriptions are answered before the connection is
			// cut, so that each case counts its acks exactly (an ack cut off
			// is the example's catch, and its next connect subscribes again).
			run.waitUntil(t, "tick and subscribe ack on the first connection", func(r *exampleRun) bool {
				return len(r.ticks) == 1 && r.ticks[0] > 0 && r.subscribed >= 1
			})
			if _, err := io.WriteString(stdin, "reconnect\n"); err != nil {
				t.Fatal(err)
			}
			// A live tick may overtake the subscribe ack (docs/protocol.md), so
			// both are waited for.
			run.waitUntil(t, "tick and subscribe ack after the reconnect", func(r *exampleRun) bool {
				return len(r.ticks) == 2 && r.ticks[1] > 0 && r.subscribed >= tc.subscribed
			})
			run.mu.Lock()
			defer run.mu.Unlock()
			if run.connects[0] || run.connects[1] != tc.recovered || run.subscribed != tc.subscribed {
				t.Errorf("connects (recovered) %v, subscribe acks %d; want [false %v] and %d", run.connects, run.subscribed, tc.recovered, tc.subscribed)
			}
		})
	}
}
