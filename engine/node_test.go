package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestNodeClient runs the stock socket.io-client in Node.js with its
// default options (polling, then the upgrade to WebSocket) and with
// transports: ["polling"], and checks that it receives market:data.
func TestNodeClient(t *testing.T) {
	node := requireNodeClient(t)
	for _, mode := range []string{"default", "polling"} {
		t.Run(mode, func(t *testing.T) {
			e := startEngine(t, Config{})
			stop := tickUntil(e, 20*time.Millisecond)
			defer stop()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			script, _ := filepath.Abs(filepath.Join(clientDir, "client.js"))
			command := exec.CommandContext(ctx, node, script, "http://"+e.Addr().String(), testToken(t, "node-user", time.Hour), mode)
			command.Dir = clientDir
			output, err := command.Output()
			if err != nil {
				t.Fatalf("node client.js: %v\n%s", err, output)
			}
			var result struct {
				Failure        string          `json:"failure"`
				FirstTransport string          `json:"firstTransport"`
				UpgradedTo     string          `json:"upgradedTo"`
				Transport      string          `json:"transport"`
				Ack            json.RawMessage `json:"ack"`
				Tick           struct {
					Symbol string  `json:"symbol"`
					Price  float64 `json:"price"`
				} `json:"tick"`
			}
			if err := json.Unmarshal(output, &result); err != nil {
				t.Fatalf("client output %q: %v", output, err)
			}
			if result.Failure != "" {
				t.Fatalf("client failed: %s (%s)", result.Failure, output)
			}
			want := map[string]string{"default": "websocket", "polling": "polling"}[mode]
			if result.FirstTransport != "polling" || result.Transport != want || string(result.Ack) != `{"ok":true,"symbols":["BTCUSD"]}` ||
				result.Tick.Symbol != "BTCUSD" || result.Tick.Price < 1 {
				t.Fatalf("client saw %s", output)
			}
			if mode == "default" && result.UpgradedTo != "websocket" {
				t.Fatalf("default options did not upgrade: %s", output)
			}
			if mode == "polling" && result.UpgradedTo != "" {
				t.Fatalf("polling-only client upgraded: %s", output)
			}
		})
	}
}

// TestNodeClientRecovers drops the stock client's connection while orders
// flow: it must come back with socket.recovered true, the same socket id,
// every order exactly once and in order, and ticks without subscribing
// again.
func TestNodeClientRecovers(t *testing.T) {
	node := requireNodeClient(t)
	for _, mode := range []string{"websocket", "default"} {
		t.Run(mode, func(t *testing.T) {
			e := startEngine(t, recoveryConfig())
			stopTicks := tickUntil(e, 20*time.Millisecond)
			defer stopTicks()
			stopOrders := make(chan struct{})
			ordersDone := make(chan struct{})
			go func() {
				defer close(ordersDone)
				for seq := 1; ; seq++ {
					select {
					case <-stopOrders:
						return
					case <-time.After(5 * time.Millisecond):
					}
					e.PublishUser(StreamOrders, "traveller", []byte(fmt.Sprintf(`{"userId":"traveller","seq":%d}`, seq)))
				}
			}()
			defer func() { close(stopOrders); <-ordersDone }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			script, _ := filepath.Abs(filepath.Join(clientDir, "recover.js"))
			command := exec.CommandContext(ctx, node, script, "http://"+e.Addr().String(), testToken(t, "traveller", time.Hour), mode, "60")
			command.Dir = clientDir
			output, err := command.Output()
			if err != nil {
				t.Fatalf("node recover.js: %v\n%s", err, output)
			}
			result := checkRecoveredClient(t, output)
			if result.TicksAfterRecovery == 0 {
				t.Fatal("no tick after the recovery")
			}
		})
	}
}

// recoveredClient is what recover.js (of the JSON and the msgpack client
// projects) prints.
type recoveredClient struct {
	Failure  string   `json:"failure"`
	Orders   []int    `json:"orders"`
	Offsets  []string `json:"offsets"` // the offset argument's typeof, msgpack client only
	Connects []struct {
		Recovered bool   `json:"recovered"`
		ID        string `json:"id"`
	} `json:"connects"`
	TicksAfterRecovery int `json:"ticksAfterRecovery"`
}

// checkRecoveredClient parses recover.js's output and checks what every
// recovery must hold: a fresh connection, then a recovered one with the
// same socket id, and the orders gap-free and without a duplicate.
func checkRecoveredClient(t *testing.T, output []byte) recoveredClient {
	t.Helper()
	var result recoveredClient
	if err := json.Unmarshal(output, &result); err != nil {
		t.Fatalf("client output %q: %v", output, err)
	}
	if result.Failure != "" {
		t.Fatalf("client failed: %s (%s)", result.Failure, output)
	}
	if len(result.Connects) != 2 || result.Connects[0].Recovered || !result.Connects[1].Recovered || result.Connects[0].ID != result.Connects[1].ID {
		t.Fatalf("connects = %+v; want a fresh one, then a recovery with the same id", result.Connects)
	}
	for i, seq := range result.Orders[1:] {
		if seq != result.Orders[i]+1 {
			t.Fatalf("orders %v: %d follows %d (lost or duplicated across the recovery)", result.Orders, seq, result.Orders[i])
		}
	}
	return result
}
