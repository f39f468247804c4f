package ingest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine/enginetest"
	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// writeTestPKI writes a throwaway CA and a server certificate for
// 127.0.0.1 signed by it; it returns the file paths.
func writeTestPKI(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	return enginetest.NewPKI(t).WriteFiles(t)
}

// requireRedisTLS skips (fails on CI) when redis-server was built without
// TLS: such a build rejects the tls-port directive.
func requireRedisTLS(t *testing.T) {
	t.Helper()
	version, err := exec.Command(redistest.Binary(t), "--version").Output()
	if err != nil {
		t.Fatalf("redis-server --version: %v", err)
	}
	out, _ := exec.Command(redistest.Binary(t), "--port", "0", "--tls-port", "0", "--save", "", "--appendonly", "no").CombinedOutput()
	if strings.Contains(string(out), "Bad directive") || strings.Contains(string(out), "not supported") {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s has no TLS: %s", version, out)
		}
		t.Skipf("%s has no TLS", version)
	}
}

func TestRedisTLS(t *testing.T) {
	requireRedisTLS(t)
	caFile, certFile, keyFile := writeTestPKI(t)
	tlsPort := redistest.FreePort(t)
	// The plain port stays open for the helper's PING and for publishing.
	server := redistest.Start(t, redistest.WithArgs("--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no"))
	rec := newRecorder()
	router := NewRouter(rec, RouterOptions{Logger: quietLogger()})
	source := runRedis(t, RedisOptions{
		URL: "rediss://127.0.0.1:" + strconv.Itoa(tlsPort), TLSCAFile: caFile, Router: router,
	})
	waitReady(t, source, true, 5*time.Second)
	client := redistest.Client(t, server.URL())
	do(t, client, client.B().Publish().Channel("market:ticks").Message(`{"symbol":"BTCUSD","price":1}`).Build())
	if calls := rec.waitFor(t, 1, 5*time.Second); calls[0].key != "BTCUSD" {
		t.Fatalf("calls = %+v; want the tick", calls)
	}

	// Without the CA the server certificate is not trusted: never ready.
	untrusted := runRedis(t, RedisOptions{URL: "rediss://127.0.0.1:" + strconv.Itoa(tlsPort), Router: router})
	time.Sleep(200 * time.Millisecond)
	if ready, _ := untrusted.Ready(); ready {
		t.Fatal("Ready() = true with an untrusted server certificate")
	}
}
