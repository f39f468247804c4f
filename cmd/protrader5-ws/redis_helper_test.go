package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// The Redis end-to-end tests always talk to a real redis-server: REDIS_URL
// when set, otherwise one this test starts on a free loopback port and
// stops at the end (redistest). They never flush a Redis: every test isolates its
// channels and keys with a unique REDIS_PREFIX.

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
	client := redistest.Client(t, url)
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
