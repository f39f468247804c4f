package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/engine/enginetest"
	"github.com/protrader5/ws-gateway/ingest"
)

const testSecret = "soak-test-secret"

// startTestGateway runs the engine in this process the way the gateway's
// serve command wires it: JWT auth, the Go collector on /metrics and, when
// redisURL is set, the Redis ingest. tune adjusts the engine's settings.
// It returns the gateway's address.
func startTestGateway(t *testing.T, redisURL string, tune func(*engine.Config)) string {
	t.Helper()
	authenticator, err := auth.New(auth.Options{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	registry := prometheus.NewRegistry()
	// The live heap the soak judges, as the gateway's registry exposes it.
	registry.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})))
	settings := engine.Config{
		Address: "127.0.0.1:0",
		Auth:    authenticator,
		Metrics: promhttp.HandlerFor(registry, promhttp.HandlerOpts{}),
		Logger:  slog.New(slog.DiscardHandler),
	}
	if tune != nil {
		tune(&settings)
	}
	var redis *ingest.Redis
	if redisURL != "" {
		late := &lateReady{}
		settings.Ready = late.ready
		gateway, err := engine.New(settings)
		if err != nil {
			t.Fatal(err)
		}
		router := ingest.NewRouter(gateway, ingest.RouterOptions{Logger: settings.Logger})
		if redis, err = ingest.NewRedis(ingest.RedisOptions{URL: redisURL, Router: router, Logger: settings.Logger}); err != nil {
			t.Fatal(err)
		}
		late.source = redis
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { redis.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		address := enginetest.Serve(t, gateway)
		waitFor(t, func() bool { ready, _ := redis.Ready(); return ready })
		return address
	}
	gateway, err := engine.New(settings)
	if err != nil {
		t.Fatal(err)
	}
	return enginetest.Serve(t, gateway)
}

// lateReady answers the engine's readiness from a source made after it.
type lateReady struct{ source *ingest.Redis }

func (l *lateReady) ready() (bool, string) {
	if l.source == nil {
		return false, "starting"
	}
	return l.source.Ready()
}

func TestPollingClientSession(t *testing.T) {
	address := startTestGateway(t, "", nil)
	minter := newTokenMinter(testSecret, time.Hour)
	httpClient := &http.Client{Timeout: 5 * time.Second}
	defer httpClient.CloseIdleConnections()
	polling := newPollingClient(httpClient, address, "/socket.io/")
	ctx := context.Background()

	if err := pollingSession(ctx, polling, minter.mint("u1"), "SYM1", 5*time.Second); err != nil {
		t.Fatalf("session: %v", err)
	}

	// The close packet ends the session on the server at once: its sid is
	// unknown afterwards.
	if err := polling.open(ctx); err != nil {
		t.Fatal(err)
	}
	sid := polling.sid
	if err := polling.connect(ctx, minter.mint("u2")); err != nil {
		t.Fatal(err)
	}
	if err := polling.close(ctx); err != nil {
		t.Fatal(err)
	}
	polling.sid = sid
	if _, err := polling.next(ctx); err == nil || !strings.Contains(err.Error(), "Session ID unknown") {
		t.Fatalf("poll after close: %v; want Session ID unknown", err)
	}
}

func TestPollingClientRefusedToken(t *testing.T) {
	address := startTestGateway(t, "", nil)
	httpClient := &http.Client{Timeout: 5 * time.Second}
	defer httpClient.CloseIdleConnections()
	polling := newPollingClient(httpClient, address, "/socket.io/")
	wrong := newTokenMinter("another-secret", time.Hour)
	err := pollingSession(context.Background(), polling, wrong.mint("u1"), "SYM1", 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "Authentication failed") {
		t.Fatalf("session with a foreign token: %v; want Authentication failed", err)
	}
	if polling.sid != "" {
		t.Fatalf("the failed session was left open (sid %q)", polling.sid)
	}
	if errors.Is(err, errPollingClosed) {
		t.Fatalf("a refusal is not a server close: %v", err)
	}
}
