package engine

import (
	"context"
	"encoding/json"
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
