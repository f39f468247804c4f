package ingest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// testPrefix isolates a test's channels and keys in a shared Redis.
func testPrefix(t testing.TB) string {
	return fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())
}

// do runs a command that must succeed.
func do(t testing.TB, client rueidis.Client, command rueidis.Completed) rueidis.RedisResult {
	t.Helper()
	result := client.Do(context.Background(), command)
	if err := result.Error(); err != nil {
		t.Fatalf("redis command: %v", err)
	}
	return result
}

// waitReady waits until source reports want.
func waitReady(t testing.TB, source Source, want bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ready, reason := source.Ready()
		if ready == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready() = %v, %q after %v; want %v", ready, reason, timeout, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runRedis runs a Redis source until the test ends.
func runRedis(t testing.TB, options RedisOptions) *Redis {
	t.Helper()
	if options.Logger == nil {
		options.Logger = quietLogger()
	}
	source, err := NewRedis(options)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- source.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	return source
}

func splitLines(s string) []string { return strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") }

// parseCommandStat reads "cmdstat_get:calls=12,..." for command.
func parseCommandStat(line, command string) (int64, bool) {
	rest, ok := strings.CutPrefix(line, "cmdstat_"+command+":calls=")
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest, ",")
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}
