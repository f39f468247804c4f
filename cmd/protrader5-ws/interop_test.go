package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The interop suite runs the real gateway binary and drives it with the
// stock socket.io-client from npm (testdata/interop, installed with npm ci
// from the committed lockfile).

const interopSecret = "interop-secret"

var (
	buildOnce   sync.Once
	builtBinary string
	buildError  error
	npmOnce     sync.Once
	npmError    error
)

// gatewayBinary builds the gateway once per test run.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		directory, err := os.MkdirTemp("", "protrader5-interop-")
		if err != nil {
			buildError = err
			return
		}
		builtBinary = filepath.Join(directory, "protrader5-ws")
		output, err := exec.Command("go", "build", "-o", builtBinary, ".").CombinedOutput()
		if err != nil {
			buildError = fmt.Errorf("go build: %v\n%s", err, output)
		}
	})
	if buildError != nil {
		t.Fatal(buildError)
	}
	return builtBinary
}

// interopDirectory returns the Node project, installing it when needed.
func interopDirectory(t *testing.T) string {
	t.Helper()
	directory, _ := filepath.Abs("testdata/interop")
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(directory, "node_modules", "socket.io-client")); err == nil {
			return
		}
		command := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		command.Dir = directory
		if output, err := command.CombinedOutput(); err != nil {
			npmError = fmt.Errorf("npm ci: %v\n%s", err, output)
		}
	})
	if npmError != nil {
		t.Fatal(npmError)
	}
	return directory
}

// gateway is one running gateway process.
type gateway struct {
	t       *testing.T
	port    int
	env     []string
	command *exec.Cmd
	logs    *strings.Builder
	output  *lockedWriter // guards logs while the process writes
	exited  chan struct{}
}

// startGateway runs the binary with the interop defaults plus env.
func startGateway(t *testing.T, port int, env ...string) *gateway {
	t.Helper()
	// With port 0 the gateway binds a port of its own choosing and the test
	// reads it from the "gateway listening" log line: a port picked free
	// here could be taken by a parallel test before the gateway binds it.
	g := &gateway{t: t, port: port, logs: &strings.Builder{}}
	g.env = append(os.Environ(),
		"PORT="+fmt.Sprint(port),
		"JWT_SECRET="+interopSecret,
		"NODE_ENV=test",
		"REDIS_URL=",
		"DEMO_FEED=true",
		"LOG_DIR="+t.TempDir(),
		"LOG_LEVEL=debug",
	)
	g.env = append(g.env, env...)
	// Registered first: a start that fails the test must not leave the
	// process running.
	t.Cleanup(g.stop)
	g.start()
	return g
}

func (g *gateway) start() {
	g.t.Helper()
	g.command = exec.Command(gatewayBinary(g.t), "serve")
	g.command.Env = g.env
	g.command.Dir = g.t.TempDir() // no .env file from the source tree
	if g.output == nil {
		g.output = &lockedWriter{builder: g.logs}
	}
	g.command.Stdout = g.output
	g.command.Stderr = g.output
	if err := g.command.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.exited = make(chan struct{})
	go func() { _ = g.command.Wait(); close(g.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for g.port == 0 {
		if match := listeningPattern.FindStringSubmatch(g.output.String()); match != nil {
			g.port, _ = strconv.Atoi(match[1])
			// A restart keeps the port, as a redeployed node would.
			g.env = append(g.env, "PORT="+match[1])
			break
		}
		select {
		case <-g.exited:
			g.t.Fatalf("gateway exited at start:\n%s", g.output.String())
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway did not say where it listens:\n%s", g.output.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		response, err := http.Get(g.url() + "/health")
		if err == nil {
			response.Body.Close()
			if response.StatusCode == 200 {
				return
			}
		}
		select {
		case <-g.exited:
			g.t.Fatalf("gateway exited at start:\n%s", g.output.String())
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway did not become healthy:\n%s", g.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gateway) stop() {
	if g.command == nil || g.command.Process == nil {
		return
	}
	select {
	case <-g.exited:
		return
	default:
	}
	_ = g.command.Process.Signal(os.Interrupt)
	select {
	case <-g.exited:
	case <-time.After(15 * time.Second):
		_ = g.command.Process.Kill()
		<-g.exited
		g.t.Errorf("gateway did not exit within 15s of SIGINT")
	}
}

// listeningPattern finds the port in the gateway's start-up log line
// (JSON outside development).
var listeningPattern = regexp.MustCompile(`"msg":"gateway listening","address":"[^"]*:(\d+)"`)

func (g *gateway) url() string { return fmt.Sprintf("http://127.0.0.1:%d", g.port) }

type lockedWriter struct {
	mu      sync.Mutex
	builder *strings.Builder
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.builder.String()
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.builder.Write(p)
}

// scenarioResult is what scenario.js prints.
type scenarioResult map[string]any

// runScenario runs scenario.js and returns its JSON line.
func runScenario(t *testing.T, ctx context.Context, env []string, arguments ...string) scenarioResult {
	t.Helper()
	command := exec.CommandContext(ctx, "node", append([]string{"scenario.js"}, arguments...)...)
	command.Dir = interopDirectory(t)
	command.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	command.Stderr = &stderr
	output, err := command.Output()
	if err != nil {
		t.Fatalf("node scenario %v: %v\nstderr: %s", arguments, err, stderr.String())
	}
	var result scenarioResult
	if err := json.Unmarshal(output, &result); err != nil {
		t.Fatalf("scenario output %q: %v", output, err)
	}
	if failure, ok := result["failure"]; ok {
		t.Fatalf("scenario %v failed: %v", arguments, failure)
	}
	return result
}

func scenario(t *testing.T, arguments ...string) scenarioResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return runScenario(t, ctx, nil, arguments...)
}

func interopToken(t *testing.T, userID string, ttl time.Duration) string {
	t.Helper()
	token, err := mintToken([]byte(interopSecret), userID, ttl, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func asJSON(value any) string {
	encoded, _ := json.Marshal(value)
	return string(encoded)
}

// readLines is used by the reconnect scenario to follow the client.
func readLines(t *testing.T, scanner *bufio.Scanner, want string, timeout time.Duration) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		for scanner.Scan() {
			if strings.Contains(scanner.Text(), want) {
				found <- true
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("client ended before printing %q", want)
		}
	case <-time.After(timeout):
		t.Fatalf("client did not print %q within %v", want, timeout)
	}
}

func TestInteropAuthentication(t *testing.T) {
	g := startGateway(t, 0)
	expired, _ := mintToken([]byte(interopSecret), "u1", time.Hour, "", "", time.Now().Add(-2*time.Hour))
	wrongSecret, _ := mintToken([]byte("not-the-secret"), "u1", time.Hour, "", "", time.Now())
	// alg "none": a header and claims with no signature.
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + base64URL(fmt.Sprintf(`{"sub":"u1","exp":%d}`, time.Now().Add(time.Hour).Unix())) + "."
	cases := []struct {
		name, scenario, token, code string
	}{
		{"auth payload", "auth", interopToken(t, "u1", time.Hour), ""},
		{"authorization header", "header", interopToken(t, "u1", time.Hour), ""},
		{"missing", "auth", "", "TOKEN_MISSING"},
		{"malformed", "auth", "garbage", "TOKEN_INVALID"},
		{"wrong secret", "auth", wrongSecret, "TOKEN_INVALID"},
		{"expired", "auth", expired, "TOKEN_EXPIRED"},
		{"alg none", "auth", none, "TOKEN_INVALID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			result := scenario(t, tc.scenario, g.url(), tc.token)
			if tc.code == "" {
				if result["connected"] != true {
					t.Fatalf("result = %s; want connected", asJSON(result))
				}
				return
			}
			want := `{"code":"` + tc.code + `"}`
			if result["connected"] != false || result["error"] != "Authentication failed" || asJSON(result["data"]) != want {
				t.Fatalf("result = %s; want connect_error Authentication failed with data %s", asJSON(result), want)
			}
		})
	}
}

func base64URL(text string) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString([]byte(text))), "=")
}

func TestInteropMarketData(t *testing.T) {
	g := startGateway(t, 0)
	result := scenario(t, "market", g.url(), interopToken(t, "u1", time.Hour), "btcusd")
	if asJSON(result["subscribeAck"]) != `{"ok":true,"symbols":["BTCUSD"]}` {
		t.Fatalf("subscribe ack = %s", asJSON(result["subscribeAck"]))
	}
	first, _ := result["firstTick"].(map[string]any)
	if first == nil {
		t.Fatalf("no market:data within 3s of subscribing: %s", asJSON(result))
	}
	if at := first["at"].(float64); at > 1000 {
		t.Fatalf("first tick arrived %vms after subscribing; want within a second", at)
	}
	tick := first["tick"].(map[string]any)
	for _, field := range []string{"symbol", "price", "volume", "high24h", "low24h", "change24h", "changePercent24h", "timestamp"} {
		if _, ok := tick[field]; !ok {
			t.Fatalf("tick %v lacks %s", tick, field)
		}
	}
	if asJSON(result["unsubscribeAck"]) != `{"ok":true,"symbols":[]}` || result["ticksAfterUnsubscribe"] != float64(0) {
		t.Fatalf("after unsubscribe: %s", asJSON(result))
	}
}

func TestInteropUserStreamsReachOnlyTheirUser(t *testing.T) {
	g := startGateway(t, 0, "DEMO_USER=alice,bob")
	results := make([]scenarioResult, 2)
	var wg sync.WaitGroup
	for i, user := range []string{"alice", "bob"} {
		token := interopToken(t, user, time.Hour)
		wg.Go(func() { results[i] = scenario(t, "user", g.url(), token, "7000") })
	}
	wg.Wait()
	for i, user := range []string{"alice", "bob"} {
		events, _ := results[i]["events"].([]any)
		seen := map[string]bool{}
		for _, raw := range events {
			event := raw.(map[string]any)
			if event["userId"] != user {
				t.Fatalf("%s received %s of user %v", user, event["name"], event["userId"])
			}
			seen[event["name"].(string)] = true
		}
		for _, name := range []string{"order:update", "position:update", "notification"} {
			if !seen[name] {
				t.Fatalf("%s saw no %s in 7s: %s", user, name, asJSON(results[i]))
			}
		}
	}
}

func TestInteropErrorEvent(t *testing.T) {
	g := startGateway(t, 0)
	result := scenario(t, "badpayload", g.url(), interopToken(t, "u1", time.Hour))
	want := `{"code":"INVALID_PAYLOAD","event":"subscribe:market","message":"expected {symbols: [string, ...]}"}`
	if got := asJSON(result["error"]); got != want {
		t.Fatalf("error event = %s; want %s", got, want)
	}
}

func TestInteropReconnectsAfterRestart(t *testing.T) {
	g := startGateway(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	command := exec.CommandContext(ctx, "node", "scenario.js", "reconnect", g.url(), interopToken(t, "u1", time.Hour))
	command.Dir = interopDirectory(t)
	command.Env = append(os.Environ(), "SCENARIO_TIMEOUT_MS=30000")
	stderr, _ := command.StderrPipe()
	var stdout strings.Builder
	command.Stdout = &stdout
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	scanner := bufio.NewScanner(stderr)
	readLines(t, scanner, "connected", 10*time.Second)
	g.stop()
	readLines(t, scanner, "disconnected", 10*time.Second)
	g.start()
	if err := command.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}
	var result scenarioResult
	if err := json.Unmarshal([]byte(stdout.String()), &result); err != nil || result["connects"] != float64(2) {
		t.Fatalf("client result %q: %v", stdout.String(), err)
	}
}

func TestInteropHeartbeat(t *testing.T) {
	// A timeout with room for a busy machine to schedule the idle client's
	// pongs; the mute client is dropped whatever it is.
	g := startGateway(t, 0, "PING_INTERVAL=200", "PING_TIMEOUT=1000")
	token := interopToken(t, "u1", time.Hour)
	var idle, mute scenarioResult
	var wg sync.WaitGroup
	wg.Go(func() { idle = scenario(t, "idle", g.url(), token, "1500") })
	wg.Go(func() { mute = scenario(t, "mute", g.url(), token) })
	wg.Wait()
	if idle["connected"] != true {
		t.Fatalf("idle client across 7 ping intervals: %s", asJSON(idle))
	}
	// The server pings at 200ms and gives up when no pong came in time.
	if mute["reason"] != "transport close" {
		t.Fatalf("mute client: %s; want a transport close", asJSON(mute))
	}
}

func TestInteropTokenExpiryDisconnects(t *testing.T) {
	g := startGateway(t, 0)
	token, _ := mintToken([]byte(interopSecret), "u1", 2*time.Second, "", "", time.Now())
	result := scenario(t, "expiry", g.url(), token)
	if result["reason"] != "io server disconnect" {
		t.Fatalf("expiry: %s; want io server disconnect", asJSON(result))
	}
}
