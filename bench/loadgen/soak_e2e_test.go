package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// TestSoakMachinery runs a soak of a few seconds against a gateway in this
// process, every kind of storm traffic included. It checks the machinery
// (every attacker gets through to the gateway, the healthy clients' books
// balance, the samples and readings are taken), not the verdict: the
// readings here are of this process, attackers and all.
func TestSoakMachinery(t *testing.T) {
	redisURL := redistest.URL(t, redistest.Required())
	address := startTestGateway(t, redisURL, func(settings *engine.Config) {
		// Short enough that slowloris heads are cut within the storm.
		settings.HandshakeTimeout = 300 * time.Millisecond
	})
	c := soakConfig{
		Target: address, ServerPID: os.Getpid(), RedisURL: redisURL, JWTSecret: testSecret,
		Duration: 2 * time.Second, Calm: time.Second, Quiet: time.Second, Retention: 0, ReadingsAfterCollection: 3, SampleInterval: 500 * time.Millisecond,
		Clients: 20, Symbols: 5, PerClient: 1, TickRate: 50, OrderRate: 20,
		ChurnRate: 20, Flooders: 1, FloodFrames: 20_000, MaxRSSMiB: 8192,
		Slowloris: 4, SlowlorisInterval: 50 * time.Millisecond, SlowReaders: 2,
		ProbeInterval: 50 * time.Millisecond, ScrapeInterval: 200 * time.Millisecond,
		Thresholds: defaultSoakThresholds,
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	outcome, err := runSoak(context.Background(), c, &out)
	if err != nil {
		t.Fatalf("runSoak: %v\n%s", err, out.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("soak output:\n%s", out.String())
		}
	}()

	checks := outcome.evaluate()
	for _, check := range checks {
		if (check.Name == "healthy clients" || check.Name == "orders" || check.Name == "run") && !check.Pass {
			t.Errorf("%s: %s", check.Name, check.Detail)
		}
	}
	if outcome.Fleet.Orders.Published == 0 || outcome.Fleet.Ticks.Received == 0 {
		t.Errorf("healthy clients checked %d orders and received %d ticks; want some of each",
			outcome.Fleet.Orders.Published, outcome.Fleet.Ticks.Received)
	}
	if len(outcome.Samples) < 2 || outcome.Baseline.LiveHeap == 0 || outcome.End.FDs == 0 || outcome.Baseline.Readings == 0 {
		t.Errorf("%d samples, baseline %+v, end %+v; want samples and both readings", len(outcome.Samples), outcome.Baseline, outcome.End)
	}

	storm := outcome.Storm
	for name, counts := range map[string]attackCounts{
		"probes": storm.Probes, "keep-alive probes": storm.KeepAliveProbes, "scrapes": storm.Scrapes,
		"polling churn": storm.Polling, "websocket churn": storm.WebSocket,
	} {
		if counts.Finished == 0 || counts.Failed != 0 {
			t.Errorf("%s: %+v; want some finished and none failed", name, counts)
		}
	}
	if storm.Flood.Opened == 0 || storm.FloodFrames == 0 {
		t.Errorf("flood: %+v, %d frames; want connections and frames", storm.Flood, storm.FloodFrames)
	}
	if storm.Slowloris.Closed == 0 {
		t.Errorf("slowloris: %+v; want heads cut by the 300ms handshake timeout", storm.Slowloris)
	}
	if storm.SlowReaders.Opened < uint64(c.SlowReaders) || storm.SlowReaders.Failed != 0 {
		t.Errorf("slow readers: %+v; want each opened, none failed", storm.SlowReaders)
	}

	var report bytes.Buffer
	printSoakReport(&report, outcome, checks)
	for _, want := range []string{"== soak samples", "== baseline", "tick latency: p50", "pre-auth flood", "== verdict"} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.String())
		}
	}
}
