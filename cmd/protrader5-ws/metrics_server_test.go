package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// inProcessGateway is runServe running in the test binary, so that the test
// can see the goroutines it leaves behind.
type inProcessGateway struct {
	port     int
	logs     *lockedWriter
	cancel   context.CancelFunc
	finished chan error
}

// startInProcess runs runServe with config until the test ends or stop is
// called. config.Port 0 lets the kernel choose; the port is read from the
// "gateway listening" log line.
func startInProcess(t *testing.T, config Config) *inProcessGateway {
	t.Helper()
	logs := &lockedWriter{builder: &strings.Builder{}}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	g := &inProcessGateway{logs: logs, cancel: cancel, finished: make(chan error, 1)}
	t.Cleanup(func() { _ = g.stop() })
	go func() { g.finished <- runServe(ctx, config, logger) }()
	deadline := time.Now().Add(10 * time.Second)
	for g.port == 0 {
		if match := listeningPattern.FindStringSubmatch(logs.String()); match != nil {
			g.port, _ = strconv.Atoi(match[1])
			break
		}
		select {
		case err := <-g.finished:
			g.finished <- err
			t.Fatalf("runServe returned at start: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("runServe did not say where it listens:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return g
}

// stop cancels runServe and returns its result; later calls return nil.
func (g *inProcessGateway) stop() error {
	g.cancel()
	select {
	case err, ok := <-g.finished:
		if ok {
			close(g.finished)
		}
		return err
	case <-time.After(15 * time.Second):
		return fmt.Errorf("runServe did not return within 15s of the cancel:\n%s", g.logs)
	}
}

func inProcessConfig() Config {
	config := defaultConfig(EnvironmentTest)
	config.Port = 0
	config.JWTSecret = []byte("metrics-test-secret")
	config.DrainTimeout = 2 * time.Second
	return config
}

// get fetches url without keeping the connection, so that no idle
// connection of the test's own outlives the servers.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	response, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return response.StatusCode, string(body)
}

// prometheusSample matches one sample line of a protrader5_ metric.
var prometheusSample = regexp.MustCompile(`(?m)^protrader5_[a-z_]+(\{[^}]*\})? [0-9.e+-]+$`)

func TestMetricsOnTheClientPortByDefault(t *testing.T) {
	g := startInProcess(t, inProcessConfig())
	status, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", g.port))
	if status != http.StatusOK || !prometheusSample.MatchString(body) {
		t.Errorf("GET /metrics on the client port = %d; want 200 with protrader5_ samples:\n%.500s", status, body)
	}
	if strings.Contains(g.logs.String(), `"msg":"metrics listening"`) {
		t.Errorf("a metrics server started without METRICS_PORT:\n%s", g.logs)
	}
	if err := g.stop(); err != nil {
		t.Error(err)
	}
}

func TestMetricsPortServesMetricsAlone(t *testing.T) {
	config := inProcessConfig()
	config.MetricsPort = redistest.FreePort(t)
	g := startInProcess(t, config)
	client := fmt.Sprintf("http://127.0.0.1:%d", g.port)
	metrics := fmt.Sprintf("http://127.0.0.1:%d", config.MetricsPort)

	if status, body := get(t, client+"/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the client port = %d; want 404:\n%.500s", status, body)
	}
	if status, _ := get(t, client+"/health"); status != http.StatusOK {
		t.Errorf("GET /health on the client port = %d; want 200", status)
	}
	status, body := get(t, metrics+"/metrics")
	if status != http.StatusOK || !prometheusSample.MatchString(body) || !strings.Contains(body, "# TYPE protrader5_sockets gauge") {
		t.Errorf("GET /metrics on the metrics port = %d; want 200 with protrader5_ samples:\n%.500s", status, body)
	}
	// Only /metrics: the probes and the Engine.IO path stay on the client port.
	for _, path := range []string{"/health", "/ready", "/socket.io/?EIO=4&transport=polling"} {
		if status, _ := get(t, metrics+path); status != http.StatusNotFound {
			t.Errorf("GET %s on the metrics port = %d; want 404", path, status)
		}
	}
	logLine := regexp.MustCompile(fmt.Sprintf(`"msg":"metrics listening","address":"[^"]*:%d"`, config.MetricsPort))
	if !logLine.MatchString(g.logs.String()) {
		t.Errorf("no metrics listening log line for port %d:\n%s", config.MetricsPort, g.logs)
	}

	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	// The port is free again and nothing of the server is left running.
	listener, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(config.MetricsPort)))
	if err != nil {
		t.Errorf("the metrics port is still bound after the shutdown: %v", err)
	} else {
		listener.Close()
	}
	waitNoGoroutine(t, "main.(*metricsServer)", "net/http.(*conn).serve", "net/http.(*Server).Serve")
}

func TestMetricsPortInUseStopsStartup(t *testing.T) {
	taken, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	config := inProcessConfig()
	config.Port = redistest.FreePort(t)
	config.MetricsPort = taken.Addr().(*net.TCPAddr).Port

	finished := make(chan error, 1)
	go func() { finished <- runServe(context.Background(), config, slog.New(slog.DiscardHandler)) }()
	select {
	case err = <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("runServe kept running with its metrics port taken")
	}
	want := fmt.Sprintf("serve: metrics port (METRICS_PORT=%d): ", config.MetricsPort)
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("runServe with METRICS_PORT in use = %v; want %q... address already in use", err, want)
	}
	// The client port it had bound is released.
	listener, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(config.Port)))
	if err != nil {
		t.Errorf("the client port is still bound after the failed start: %v", err)
	} else {
		listener.Close()
	}
}

// waitNoGoroutine waits until no goroutine's stack holds any of frames.
// The package's tests run one at a time, so servers of other tests do not
// show up here.
func waitNoGoroutine(t *testing.T, frames ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buffer := make([]byte, 1<<20)
	for {
		stacks := string(buffer[:runtime.Stack(buffer, true)])
		var found []string
		for _, frame := range frames {
			if strings.Contains(stacks, frame) {
				found = append(found, frame)
			}
		}
		if len(found) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines running %v after the shutdown:\n%s", found, stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
