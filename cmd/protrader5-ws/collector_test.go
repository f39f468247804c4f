package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// collector is one stock socket.io-client running the "collect" scenario
// of testdata/interop/scenario.js: it subscribes, says so, and records
// every server event until its markers have arrived.
type collector struct {
	t       *testing.T
	name    string
	command *exec.Cmd
	stdout  strings.Builder
	stderr  strings.Builder
	cancel  context.CancelFunc
	// finished is closed when the process has been reaped; err is its
	// exit status then.
	finished chan struct{}
	err      error
}

// collectSpec is the scenario's JSON argument.
type collectSpec struct {
	Symbols []string `json:"symbols,omitempty"`
	Streams []string `json:"streams,omitempty"`
	// Markers: finish after this many events with payload.marker === true.
	Markers int `json:"markers,omitempty"`
	// Events: finish after this many events.
	Events int `json:"events,omitempty"`
	// WaitMs: finish this long after subscribing whatever arrived.
	WaitMs *int `json:"waitMs,omitempty"`
	// GraceMs: time left for strays after the last expected event.
	GraceMs int `json:"graceMs,omitempty"`
}

// collectEvent is one event the client saw, in arrival order.
type collectEvent struct {
	Name    string          `json:"name"`
	Payload json.RawMessage `json:"payload"`
	Reason  string          `json:"reason"`
	At      float64         `json:"at"`
}

// collectResult is what the scenario prints.
type collectResult struct {
	Failure         string          `json:"failure"`
	Events          []collectEvent  `json:"events"`
	MarketAck       json.RawMessage `json:"marketAck"`
	SocketID        string          `json:"socketId"`
	FinalSocketID   string          `json:"finalSocketId"`
	Connected       bool            `json:"connected"`
	Connects        int             `json:"connects"`
	OrdersAck       json.RawMessage `json:"ordersAck"`
	PositionsAck    json.RawMessage `json:"positionsAck"`
	NotificationAck json.RawMessage `json:"notificationsAck"`
}

// startCollector runs the client as user against g and returns once it has
// subscribed (the acks came back).
func startCollector(t *testing.T, g *gateway, name, user string, spec collectSpec) *collector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	c := &collector{t: t, name: name, cancel: cancel, finished: make(chan struct{})}
	c.command = exec.CommandContext(ctx, "node", "scenario.js", "collect", g.url(), interopToken(t, user, time.Hour), asJSON(spec))
	c.command.Dir = interopDirectory(t)
	c.command.Env = append(os.Environ(), "SCENARIO_TIMEOUT_MS=45000")
	c.command.Stdout = &c.stdout
	stderr, err := c.command.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.command.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	subscribed := make(chan bool, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		scanner := bufio.NewScanner(stderr)
		signalled := false
		for scanner.Scan() {
			line := scanner.Text()
			if !signalled && line == "subscribed" {
				signalled = true
				subscribed <- true
				continue
			}
			c.stderr.WriteString(line + "\n")
		}
		if !signalled {
			subscribed <- false
		}
	}()
	go func() {
		<-copied
		c.err = c.command.Wait()
		close(c.finished)
	}()
	t.Cleanup(func() {
		cancel()
		<-c.finished // the context kill ends it
	})
	select {
	case ok := <-subscribed:
		if !ok {
			<-c.finished
			t.Fatalf("client %s ended before subscribing: %v\nstdout: %s\nstderr: %s", name, c.err, c.stdout.String(), c.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("client %s did not subscribe within 20s", name)
	}
	return c
}

// wait returns the client's result once it has finished.
func (c *collector) wait() collectResult {
	c.t.Helper()
	defer c.cancel()
	select {
	case <-c.finished:
	case <-time.After(50 * time.Second):
		c.t.Fatalf("client %s did not finish within 50s", c.name)
	}
	if c.err != nil {
		c.t.Fatalf("client %s: %v\nstdout: %s\nstderr: %s", c.name, c.err, c.stdout.String(), c.stderr.String())
	}
	var result collectResult
	if err := json.Unmarshal([]byte(c.stdout.String()), &result); err != nil {
		c.t.Fatalf("client %s output %q: %v", c.name, c.stdout.String(), err)
	}
	if result.Failure != "" {
		c.t.Fatalf("client %s failed: %s; events: %s", c.name, result.Failure, describeEvents(result.Events))
	}
	return result
}

// describeEvents renders events one per line for failure messages.
func describeEvents(events []collectEvent) string {
	var b strings.Builder
	for _, event := range events {
		if event.Name == "disconnect" {
			fmt.Fprintf(&b, "\n  %6.0fms disconnect %s", event.At, event.Reason)
			continue
		}
		fmt.Fprintf(&b, "\n  %6.0fms %s %s", event.At, event.Name, event.Payload)
	}
	return b.String()
}

// field returns payload's top-level member as compact JSON text.
func field(payload json.RawMessage, name string) string {
	var object map[string]json.RawMessage
	if json.Unmarshal(payload, &object) != nil {
		return ""
	}
	return string(object[name])
}

// summary renders each event as "name:value of key", where key is the
// first of keys the payload has, e.g. `order:update:"o1"`.
func summary(events []collectEvent, keys ...string) []string {
	out := make([]string, 0, len(events))
	for _, event := range events {
		if event.Name == "disconnect" {
			out = append(out, "disconnect:"+event.Reason)
			continue
		}
		value := ""
		for _, key := range keys {
			if value = field(event.Payload, key); value != "" {
				break
			}
		}
		out = append(out, event.Name+":"+value)
	}
	return out
}
