package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// The Redis end-to-end tests always talk to a real redis-server: REDIS_URL
// when set, otherwise one this test starts on a free loopback port and
// stops at the end. They never flush a Redis: every test isolates its
// channels and keys with a unique REDIS_PREFIX.

// testRedis is a redis-server process started by a test.
type testRedis struct {
	t      *testing.T
	port   int
	dir    string
	url    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// redisServerBinary returns the redis-server path. Without one the test
// skips, or fails when CI=true: CI must run every Redis test.
func redisServerBinary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found and CI=true: %v", err)
		}
		t.Skipf("redis-server not found: %v", err)
	}
	return path
}

// startTestRedis starts a private redis-server on a free port, stopped when
// the test ends.
func startTestRedis(t *testing.T) *testRedis {
	t.Helper()
	port := freePort(t)
	r := &testRedis{t: t, port: port, dir: t.TempDir(), url: fmt.Sprintf("redis://127.0.0.1:%d", port)}
	r.start()
	t.Cleanup(r.kill)
	return r
}

// start runs redis-server on r.port and waits until it answers PING.
func (r *testRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command(redisServerBinary(r.t),
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--loglevel", "warning")
	r.cmd.Dir = r.dir
	log, err := os.OpenFile(r.dir+"/redis.log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	defer log.Close()
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	r.exited = exited
	cmd := r.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(5 * time.Second)
	for !redisAnswers(r.port) {
		select {
		case <-exited:
			out, _ := os.ReadFile(r.dir + "/redis.log")
			r.t.Fatalf("redis-server on port %d exited: %s", r.port, out)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d did not answer PING within 5s", r.port)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kill stops the process this test started (by its pid) and reaps it.
func (r *testRedis) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

func redisAnswers(port int) bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// e2eRedisURL returns REDIS_URL when set, else a private server's URL.
func e2eRedisURL(t *testing.T) string {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return url
	}
	return startTestRedis(t).url
}

// e2ePrefix isolates a test's channels and keys in a shared Redis.
func e2ePrefix(t *testing.T) string {
	return fmt.Sprintf("e2e:%s:%d:", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

// redisEnv is the gateway environment for Redis ingest without the demo feed.
func redisEnv(url, prefix string, extra ...string) []string {
	return append([]string{"REDIS_URL=" + url, "REDIS_PREFIX=" + prefix, "DEMO_FEED=false"}, extra...)
}

// backend plays the backend services: it publishes and writes keys under
// a prefix, as they would.
type backend struct {
	t      *testing.T
	client rueidis.Client
	prefix string
	keys   []string // written by this test, deleted at its end
}

func newBackend(t *testing.T, url, prefix string) *backend {
	t.Helper()
	option, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	option.DisableCache = true
	client, err := rueidis.NewClient(option)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(client.Close)
	b := &backend{t: t, client: client, prefix: prefix}
	// Runs before Close. Only the keys this test wrote: a shared Redis
	// (REDIS_URL) is never flushed.
	t.Cleanup(func() {
		if len(b.keys) > 0 {
			_ = client.Do(context.Background(), client.B().Del().Key(b.keys...).Build()).Error()
		}
	})
	return b
}

// publish sends message on channel (before prefix) and returns how many
// subscribers Redis says got it.
func (b *backend) publish(channel, message string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := b.client.Do(ctx, b.client.B().Publish().Channel(b.prefix+channel).Message(message).Build()).AsInt64()
	if err != nil {
		b.t.Fatalf("PUBLISH %s %s: %v", channel, message, err)
	}
	return n
}

func (b *backend) set(key, value string) {
	b.t.Helper()
	b.keys = append(b.keys, b.prefix+key)
	if err := b.client.Do(context.Background(), b.client.B().Set().Key(b.prefix+key).Value(value).Build()).Error(); err != nil {
		b.t.Fatalf("SET %s: %v", key, err)
	}
}

func (b *backend) hset(key, field, value string) {
	b.t.Helper()
	b.keys = append(b.keys, b.prefix+key)
	if err := b.client.Do(context.Background(), b.client.B().Hset().Key(b.prefix+key).FieldValue().FieldValue(field, value).Build()).Error(); err != nil {
		b.t.Fatalf("HSET %s %s: %v", key, field, err)
	}
}

// metrics scrapes /metrics into series (name with labels, as printed) → value.
func (g *gateway) metrics() map[string]float64 {
	g.t.Helper()
	response, err := http.Get(g.url() + "/metrics")
	if err != nil {
		g.t.Fatalf("GET /metrics: %v", err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil || response.StatusCode != http.StatusOK {
		g.t.Fatalf("GET /metrics = %d, %v", response.StatusCode, err)
	}
	series := make(map[string]float64)
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		cut := strings.LastIndexByte(line, ' ')
		if cut < 0 {
			continue
		}
		value, err := strconv.ParseFloat(line[cut+1:], 64)
		if err != nil {
			g.t.Fatalf("metrics line %q: %v", line, err)
		}
		series[line[:cut]] = value
	}
	return series
}

// ready returns the status and body of GET /ready.
func (g *gateway) ready() (int, string) {
	client := http.Client{Timeout: time.Second}
	response, err := client.Get(g.url() + "/ready")
	if err != nil {
		return 0, err.Error()
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	return response.StatusCode, strings.TrimSpace(string(body))
}

// waitReady polls /ready until it answers status, and returns the body.
func (g *gateway) waitReady(status int, timeout time.Duration) string {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body := g.ready()
		if code == status {
			return body
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("GET /ready = %d %s after %v; want %d", code, body, timeout, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rejectSeries names the reject counter of channel and reason.
func rejectSeries(channel, reason string) string {
	return fmt.Sprintf(`protrader5_ingest_rejects_total{channel=%q,reason=%q}`, channel, reason)
}

// acceptSeries names the accepted-messages counter of channel.
func acceptSeries(channel string) string {
	return fmt.Sprintf(`protrader5_ingest_messages_total{channel=%q}`, channel)
}

// metricDeltas returns after-before for every series whose name starts with
// one of prefixes and that changed.
func metricDeltas(before, after map[string]float64, prefixes ...string) map[string]float64 {
	deltas := make(map[string]float64)
	for name, value := range after {
		for _, prefix := range prefixes {
			if strings.HasPrefix(name, prefix) && value != before[name] {
				deltas[name] = value - before[name]
			}
		}
	}
	return deltas
}

// unionKeys returns the keys of a and b, sorted.
func unionKeys(a, b map[string]float64) []string {
	keys := make([]string, 0, len(a)+len(b))
	for key := range a {
		keys = append(keys, key)
	}
	for key := range b {
		if _, ok := a[key]; !ok {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}
