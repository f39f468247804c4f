package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// TestMain lets -procs re-execute the test binary as a load generator child.
func TestMain(m *testing.M) {
	if os.Getenv(childEnvironment) != "" {
		if err := childMain(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startProcess runs command until the test ends, killing it by its pid.
func startProcess(t *testing.T, command *exec.Cmd) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(command.Path)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	command.Stdout, command.Stderr = logFile, logFile
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		command.Process.Kill()
		command.Wait()
		if t.Failed() {
			output, _ := os.ReadFile(logFile.Name())
			t.Logf("%s output:\n%s", command.Path, output)
		}
	})
}

func waitFor(t *testing.T, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a server to start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitHealthy(t *testing.T, port int) {
	waitFor(t, func() bool {
		response, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
		if err != nil {
			return false
		}
		response.Body.Close()
		return response.StatusCode == http.StatusOK
	})
}

func smallConfig(redisURL string, port, pid int) config {
	return config{
		Label:          "e2e",
		Targets:        []string{fmt.Sprintf("127.0.0.1:%d", port)},
		Path:           "/socket.io/",
		Clients:        50,
		RampPerSecond:  2000,
		ConnectTimeout: 10 * time.Second,
		JWTSecret:      "e2e-secret",
		Symbols:        10,
		PerClient:      3,
		SymbolPrefix:   "SYM",
		Rate:           10,
		Procs:          1,
		Warmup:         300 * time.Millisecond,
		Duration:       2 * time.Second,
		Drain:          5 * time.Second,
		RedisURL:       redisURL,
		ServerPIDs:     []int{pid},
	}
}

func checkComplete(t *testing.T, outcome *result, wantOrders bool) {
	t.Helper()
	fleet := outcome.Fleet
	if fleet.Connected != outcome.Config.Clients || fleet.Failed != 0 || fleet.Disconnected != 0 {
		t.Fatalf("connected %d, failed %d (%v), disconnected %d; want %d, 0, 0",
			fleet.Connected, fleet.Failed, fleet.FailReasons, fleet.Disconnected, outcome.Config.Clients)
	}
	ticks := fleet.Ticks
	if ticks.Expected == 0 || ticks.InOrder != ticks.Expected || ticks.Duplicates != 0 || ticks.OutOfOrder != 0 || fleet.ForeignMessages != 0 {
		t.Fatalf("ticks %+v, foreign %d; want every expected tick once, in order", ticks, fleet.ForeignMessages)
	}
	if fleet.TickLatency.Count() == 0 || outcome.ServerWindowEnd == nil || outcome.DeliveriesPerSec <= 0 {
		t.Fatalf("no latency samples (%d), server sample %v or rate %v", fleet.TickLatency.Count(), outcome.ServerWindowEnd, outcome.DeliveriesPerSec)
	}
	if wantOrders {
		orders := fleet.Orders
		if orders.Published == 0 || orders.Delivered != orders.Published || orders.Lost+orders.Duplicates+orders.Misrouted+orders.OutOfOrder+orders.Foreign != 0 {
			t.Fatalf("orders %+v; want every order delivered exactly once to its user", orders)
		}
	}
}

func TestEndToEndFloor(t *testing.T) {
	redisURL := redistest.URL(t, redistest.Required())
	binary := filepath.Join(t.TempDir(), "floor")
	if output, err := exec.Command("go", "build", "-o", binary, "../floor").CombinedOutput(); err != nil {
		t.Fatalf("go build floor: %v\n%s", err, output)
	}
	port := redistest.FreePort(t)
	command := exec.Command(binary)
	command.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "REDIS_URL="+redisURL)
	startProcess(t, command)
	waitHealthy(t, port)

	t.Run("one process", func(t *testing.T) {
		outcome, err := run(context.Background(), smallConfig(redisURL, port, command.Process.Pid), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		checkComplete(t, outcome, false)
	})
	t.Run("two processes with stalled clients", func(t *testing.T) {
		c := smallConfig(redisURL, port, command.Process.Pid)
		c.Procs = 2
		c.StalledPercent = 10
		outcome, err := run(context.Background(), c, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if outcome.Fleet.Stalled != 5 {
			t.Fatalf("stalled = %d; want 5", outcome.Fleet.Stalled)
		}
		checkComplete(t, outcome, false)
	})
}

func TestEndToEndNodeReference(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	directory, err := filepath.Abs("../reference/node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(directory, "node_modules")); err != nil {
		install := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		install.Dir = directory
		if output, err := install.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, output)
		}
	}
	redisURL := redistest.URL(t, redistest.Required())
	port := redistest.FreePort(t)
	command := exec.Command("node", "server.js")
	command.Dir = directory
	command.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "REDIS_URL="+redisURL, "JWT_SECRET=e2e-secret")
	startProcess(t, command)
	waitHealthy(t, port)

	c := smallConfig(redisURL, port, command.Process.Pid)
	c.OrdersRate = 100
	outcome, err := run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, outcome, true)
}

// TestEndToEndGatewayMsgpack runs half of the clients on the msgpack
// parser's packets against the gateway: every tick and order still
// arrives once and in order.
func TestEndToEndGatewayMsgpack(t *testing.T) {
	redisURL := redistest.URL(t, redistest.Required())
	binary := filepath.Join(t.TempDir(), "protrader5-ws")
	if output, err := exec.Command("go", "build", "-o", binary, "../../cmd/protrader5-ws").CombinedOutput(); err != nil {
		t.Fatalf("go build gateway: %v\n%s", err, output)
	}
	port := redistest.FreePort(t)
	command := exec.Command(binary, "serve")
	command.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "REDIS_URL="+redisURL, "JWT_SECRET=e2e-secret",
		"DEMO_FEED=false", "LOG_DIR="+filepath.Join(t.TempDir(), "logs"))
	startProcess(t, command)
	waitHealthy(t, port)

	c := smallConfig(redisURL, port, command.Process.Pid)
	c.OrdersRate = 100
	c.MsgpackFraction = 0.5
	outcome, err := run(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, outcome, true)
}
