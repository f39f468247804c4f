package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// TestHealthcheckCommand runs the Dockerfile's HEALTHCHECK command, as
// written, against a gateway built with the Dockerfile's go build: it passes
// while the gateway serves and fails once it is gone. Only the binary's path
// moves (the image has it at /usr/local/bin).
func TestHealthcheckCommand(t *testing.T) {
	healthcheck := lineWithPrefix(dockerfileLines(t), "HEALTHCHECK ")
	_, form, ok := strings.Cut(healthcheck, " CMD ")
	var command []string
	if !ok || json.Unmarshal([]byte(form), &command) != nil || len(command) == 0 {
		t.Fatalf("Dockerfile HEALTHCHECK %q: want CMD [...] in exec form", healthcheck)
	}
	binary := buildGateway(t)
	if command[0] != "/usr/local/bin/protrader5-ws" {
		t.Fatalf("HEALTHCHECK runs %s, not the gateway binary", command[0])
	}
	port := strconv.Itoa(redistest.FreePort(t))
	// The container's environment: the image's ENV plus PORT; no Redis, so
	// a development NODE_ENV with the embedded bus.
	environment := []string{"PATH=" + os.Getenv("PATH"), "NODE_ENV=test", "LOG_DIR=", "PORT=" + port,
		"METRICS_PORT=" + strconv.Itoa(redistest.FreePort(t))}
	check := func() (int, string) {
		run := exec.Command(binary, command[1:]...)
		run.Dir, run.Env = t.TempDir(), environment
		output, _ := run.CombinedOutput()
		return run.ProcessState.ExitCode(), string(output)
	}
	if code, output := check(); code != 1 {
		t.Errorf("HEALTHCHECK with no gateway: exit %d (%s); want 1", code, output)
	}
	gateway := startProcess(t, "gateway", t.TempDir(), environment, binary, "serve")
	waitFor(t, "HEALTHCHECK passing", 10*time.Second, func() error {
		if code, output := check(); code != 0 {
			return fmt.Errorf("exit %d: %s", code, output)
		}
		return nil
	})
	gateway.stop(5 * time.Second)
	if code, output := check(); code != 1 {
		t.Errorf("HEALTHCHECK after the gateway stopped: exit %d (%s); want 1", code, output)
	}
}
