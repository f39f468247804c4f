package redistest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// ping sends PING through rueidis with a short retry-free client.
func ping(t *testing.T, url string) error {
	t.Helper()
	option, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	option.DisableCache = true
	option.DisableRetry = true
	client, err := rueidis.NewClient(option)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return client.Do(ctx, client.B().Ping().Build()).Error()
}

func TestStartKillRestart(t *testing.T) {
	server := Start(t)
	if server.Port() == 0 || server.URL() != "redis://127.0.0.1:"+strconv.Itoa(server.Port()) {
		t.Fatalf("Port() = %d, URL() = %q", server.Port(), server.URL())
	}
	if err := ping(t, server.URL()); err != nil {
		t.Fatalf("PING %s: %v", server.URL(), err)
	}

	server.Kill()
	if err := ping(t, server.URL()); err == nil {
		t.Fatal("PING answered after Kill")
	}
	port := server.Port()
	server.Restart()
	if server.Port() != port {
		t.Fatalf("Restart moved the server from port %d to %d", port, server.Port())
	}
	if err := ping(t, server.URL()); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}

	server.Stop()
	if err := ping(t, server.URL()); err == nil {
		t.Fatal("PING answered after Stop")
	}
}

func TestWithPortAndArgs(t *testing.T) {
	port := FreePort(t)
	server := Start(t, WithPort(port), WithArgs("--rename-command", "FLUSHALL", ""))
	if server.Port() != port {
		t.Fatalf("Port() = %d; want %d", server.Port(), port)
	}
	client := Client(t, server.URL())
	if err := client.Do(context.Background(), client.B().Flushall().Build()).Error(); err == nil {
		t.Fatal("FLUSHALL ran; WithArgs did not reach redis-server")
	}
}

func TestURLHonoursREDIS_URL(t *testing.T) {
	const shared = "redis://shared.invalid:6380/0"
	t.Setenv("REDIS_URL", shared)
	if got := URL(t); got != shared {
		t.Fatalf("URL() = %q with REDIS_URL set; want it unchanged", got)
	}
	t.Setenv("REDIS_URL", "")
	if got := URL(t); got == shared || ping(t, got) != nil {
		t.Fatalf("URL() = %q without REDIS_URL; want a private server that answers PING", got)
	}
}
