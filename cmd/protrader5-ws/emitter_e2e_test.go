package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

var (
	emitterNpmOnce  sync.Once
	emitterNpmError error
)

// emitterDirectory returns the Node project of the emitter test, installing
// it when needed.
func emitterDirectory(t *testing.T) string {
	t.Helper()
	directory, _ := filepath.Abs("testdata/emitter")
	emitterNpmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(directory, "node_modules", "@socket.io", "redis-emitter")); err == nil {
			return
		}
		command := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		command.Dir = directory
		if output, err := command.CombinedOutput(); err != nil {
			emitterNpmError = fmt.Errorf("npm ci: %v\n%s", err, output)
		}
	})
	if emitterNpmError != nil {
		t.Fatal(emitterNpmError)
	}
	return directory
}

// emitterSocket is one stock client of the emitter test.
type emitterSocket struct {
	Name    string   `json:"name"`
	Gateway int      `json:"gateway"`
	Token   string   `json:"token"`
	Orders  bool     `json:"orders"`
	Symbols []string `json:"symbols"`
	Recover bool     `json:"recover"`
}

// emitterResult is what emitter.js prints.
type emitterResult struct {
	Received    map[string][]json.RawMessage `json:"received"`
	Volatile    map[string]int               `json:"volatile"`
	Disconnects map[string]string            `json:"disconnects"`
	Recovered   any                          `json:"recovered"`
	Failure     string                       `json:"failure"`
}

// canonicalEvent re-encodes an [event, ...args] array with sorted keys, and
// without the recovery offset that the gateway appends to the stream
// events (the stock client hands it to listeners as a last argument).
func canonicalEvent(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var event []any
	if err := json.Unmarshal(raw, &event); err != nil || len(event) == 0 {
		t.Fatalf("event %s: %v", raw, err)
	}
	switch event[0] {
	case "order:update", "position:update", "notification":
		if _, offset := event[len(event)-1].(string); offset && len(event) > 2 {
			event = event[:len(event)-1]
		}
	}
	encoded, _ := json.Marshal(event)
	return string(encoded)
}

// TestEmitterReachesSocketsOnTwoGateways has the real @socket.io/redis-emitter
// emit to user, user stream and market rooms, with except, a broadcast and
// volatile, and checks that stock clients on two gateways sharing one Redis
// get exactly what they should, once, while malformed, binary and unknown
// room messages are counted and survived.
func TestEmitterReachesSocketsOnTwoGateways(t *testing.T) {
	url, prefix := redistest.URL(t), e2ePrefix(t)
	key := fmt.Sprintf("e2e-emitter-%d", time.Now().UnixNano())
	env := redisEnv(url, prefix, "EMITTER=true", "EMITTER_KEY="+key)
	nodes := []*gateway{startGateway(t, 0, env...), startGateway(t, 0, env...)}
	for _, node := range nodes {
		node.waitReady(200, 10*time.Second)
	}
	before := []map[string]float64{nodes[0].metrics(), nodes[1].metrics()}
	for _, node := range before {
		if _, present := node[`protrader5_emitter_messages_total{outcome="malformed"}`]; !present {
			t.Fatal("protrader5_emitter_messages_total{outcome=\"malformed\"} is not exported from the start")
		}
	}

	sockets := []emitterSocket{
		{Name: "A", Gateway: 0, Token: interopToken(t, "u1", time.Hour), Orders: true, Symbols: []string{"BTCUSD"}},
		{Name: "B", Gateway: 1, Token: interopToken(t, "u1", time.Hour), Symbols: []string{}},
		{Name: "C", Gateway: 0, Token: interopToken(t, "u2", time.Hour), Symbols: []string{"BTCUSD"}},
		{Name: "D", Gateway: 1, Token: interopToken(t, "u2", time.Hour), Orders: true, Symbols: []string{}},
		{Name: "E", Gateway: 1, Token: interopToken(t, "u3", time.Hour), Symbols: []string{"BTCUSD"}},
		{Name: "R", Gateway: 0, Token: interopToken(t, "u4", time.Hour), Orders: true, Symbols: []string{}, Recover: true},
	}
	const (
		orderO1      = `["order:update",{"orderId":"o1","status":"NEW","userId":"u1"}]`
		alert        = `["account:alert",{"at":"2026-01-02T03:04:05.678Z","big":9007199254740992,"fraction":0.1,"level":"high","list":[1,null,"x"],"negative":-5}]`
		orderO2      = `["order:update",{"orderId":"o2","status":"FILLED","userId":"u1"}]`
		tick         = `["market:data",{"price":50001.5,"seq":1,"symbol":"BTCUSD"}]`
		news         = `["market:news",{"headline":"h"}]`
		announcement = `["system:announcement",{"text":"hi"}]`
		maintenance  = `["system:maintenance",{"minutes":5}]`
		multi        = `["multi","x",2]`
		orderO3      = `["order:update",{"orderId":"o3","status":"NEW","userId":"u2"}]`
		orderO4      = `["order:update",{"orderId":"o4","status":"NEW","userId":"u4"}]`
	)
	want := map[string][]string{
		// u1, orders and BTCUSD: its user's events, its stream's, the tick.
		"A": {orderO1, alert, orderO2, tick, news, announcement, maintenance, multi},
		// u1 without subscriptions: user room events that are not a stream's.
		"B": {alert, announcement, maintenance},
		// u2 on BTCUSD: not market:news (except user:u2), multi once.
		"C": {tick, announcement, maintenance, multi},
		// u2 with orders: its order, not the notification (not subscribed).
		"D": {announcement, maintenance, multi, orderO3},
		// u3 on BTCUSD: not system:maintenance (except user:u3).
		"E": {tick, news, announcement, multi},
		// u4 with orders: the broadcasts, then o4 while its connection was
		// cut, replayed when it recovers (not counted in expected below).
		"R": {announcement, maintenance, orderO4},
	}
	expected := -1
	for _, events := range want {
		expected += len(events)
	}
	spec, _ := json.Marshal(map[string]any{
		"redisURL": url, "key": key, "expected": expected, "sockets": sockets,
		"gateways": []string{nodes[0].url(), nodes[1].url()},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	command := exec.CommandContext(ctx, "node", "emitter.js", string(spec))
	command.Dir = emitterDirectory(t)
	var stderr strings.Builder
	command.Stderr = &stderr
	started := time.Now()
	output, err := command.Output()
	t.Logf("emitter.js ran for %v", time.Since(started).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("node emitter.js: %v\nstderr: %s", err, stderr.String())
	}
	var result emitterResult
	if err := json.Unmarshal(output, &result); err != nil {
		t.Fatalf("emitter.js output %q: %v", output, err)
	}
	if result.Failure != "" {
		t.Fatalf("emitter.js failed: %s", result.Failure)
	}

	for _, socket := range sockets {
		var got []string
		for _, raw := range result.Received[socket.Name] {
			got = append(got, canonicalEvent(t, raw))
		}
		slices.Sort(got)
		wanted := slices.Clone(want[socket.Name])
		slices.Sort(wanted)
		if !slices.Equal(got, wanted) {
			t.Errorf("socket %s got\n  %s\nwant\n  %s", socket.Name, strings.Join(got, "\n  "), strings.Join(wanted, "\n  "))
		}
	}
	for name, count := range result.Volatile {
		if wantCount := map[bool]int{true: 1}[name == "E"]; count != wantCount {
			t.Errorf("socket %s got volatile:ping %d times; want %d", name, count, wantCount)
		}
	}
	if result.Disconnects["E"] != "io server disconnect" || result.Disconnects["R"] != "forced close" || len(result.Disconnects) != 2 {
		t.Errorf("disconnects = %v; want E with \"io server disconnect\" and R's cut connection", result.Disconnects)
	}
	if result.Recovered != true {
		t.Errorf("R's reconnection recovered = %v; want true (the order emitted meanwhile replayed)", result.Recovered)
	}

	// Each gateway got every message once, and counted it.
	wantCounts := map[string]float64{
		`protrader5_emitter_messages_total{outcome="malformed"}`:    2,
		`protrader5_emitter_messages_total{outcome="binary"}`:       1,
		`protrader5_emitter_messages_total{outcome="unknown_room"}`: 1,
		// o1, o2, o3, the notification and o4, as the channels' messages.
		`protrader5_emitter_messages_total{outcome="user_message"}`: 5,
		`protrader5_emitter_messages_total{outcome="tick"}`:         1,
		// alert, news, announcement, maintenance, multi, nobody, volatile.
		`protrader5_emitter_messages_total{outcome="emitted"}`:            7,
		`protrader5_emitter_requests_total{request="disconnect_sockets"}`: 1,
	}
	for i, node := range nodes {
		after := node.metrics()
		deltas := metricDeltas(before[i], after, "protrader5_emitter_messages_total", "protrader5_emitter_requests_total")
		for _, name := range unionKeys(deltas, wantCounts) {
			if deltas[name] != wantCounts[name] {
				t.Errorf("gateway %d: %s rose by %v; want %v", i, name, deltas[name], wantCounts[name])
			}
		}
	}
}
