package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/redis/rueidis"
)

// attackCounters count what one kind of storm traffic did.
type attackCounters struct {
	name     string
	opened   atomic.Uint64 // connections or sessions started
	finished atomic.Uint64 // ran their course and were closed by us
	closed   atomic.Uint64 // closed by the server
	failed   atomic.Uint64 // refused, timed out or answered wrongly
	reported atomic.Bool
}

// fail counts a failure and prints the first one of its kind: the counts
// say how often, the first error says why.
func (a *attackCounters) fail(err error) {
	a.failed.Add(1)
	if !a.reported.Swap(true) {
		fmt.Fprintf(os.Stderr, "soak: %s: first failure: %v\n", a.name, err)
	}
}

// attackCounts is a snapshot of attackCounters.
type attackCounts struct {
	Opened   uint64 `json:"opened"`
	Finished uint64 `json:"finished"`
	Closed   uint64 `json:"closed_by_server"`
	Failed   uint64 `json:"failed"`
}

func (a *attackCounters) snapshot() attackCounts {
	return attackCounts{Opened: a.opened.Load(), Finished: a.finished.Load(), Closed: a.closed.Load(), Failed: a.failed.Load()}
}

// stormStats is what the storm did, for the report.
type stormStats struct {
	Probes          attackCounts `json:"probes_new_connection"`
	KeepAliveProbes attackCounts `json:"probes_keep_alive"`
	Scrapes         attackCounts `json:"scrapes"`
	Polling         attackCounts `json:"polling_churn"`
	WebSocket       attackCounts `json:"websocket_churn"`
	Flood           attackCounts `json:"flood"`
	FloodFrames     uint64       `json:"flood_frames"`
	FloodStopped    bool         `json:"flood_stopped"` // by the memory safety valve
	Slowloris       attackCounts `json:"slowloris"`
	SlowReaders     attackCounts `json:"slow_readers"`
	ProbeLatency    *Histogram   `json:"probe_latency"`
}

// short is the storm part of a progress line.
func (s stormStats) short() string {
	return fmt.Sprintf("polling %d ws %d flood %d/%d slowloris %d/%d slow %d/%d probes %d",
		s.Polling.Finished, s.WebSocket.Finished, s.Flood.Closed, s.Flood.Opened,
		s.Slowloris.Closed, s.Slowloris.Opened, s.SlowReaders.Closed, s.SlowReaders.Opened,
		s.Probes.Finished+s.KeepAliveProbes.Finished)
}

// long is the storm block of the report.
func (s stormStats) long() string {
	line := func(name string, counts attackCounts, meaning string) string {
		return fmt.Sprintf("%-24s %8d opened %8d finished %8d closed by the server %6d failed  (%s)\n",
			name, counts.Opened, counts.Finished, counts.Closed, counts.Failed, meaning)
	}
	text := line("probes, new connection", s.Probes, "GET /health and /ready")
	text += line("probes, keep-alive", s.KeepAliveProbes, "GET /health and /ready")
	text += line("metrics scrapes", s.Scrapes, "GET /metrics")
	text += line("polling churn", s.Polling, "open, connect, subscribe, close")
	text += line("websocket churn", s.WebSocket, "connect, subscribe, disconnect")
	text += line("pre-auth flood", s.Flood, fmt.Sprintf("%d frames; finished = stopped at the per-connection cap", s.FloodFrames))
	text += line("slowloris", s.Slowloris, "a request head a byte at a time")
	text += line("slow readers", s.SlowReaders, "subscribed, never reading")
	if s.ProbeLatency != nil && s.ProbeLatency.Count() > 0 {
		text += fmt.Sprintf("probe latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", milliseconds(s.ProbeLatency.Quantile(0.5)),
			milliseconds(s.ProbeLatency.Quantile(0.99)), milliseconds(s.ProbeLatency.Max()))
	}
	if s.FloodStopped {
		text += "the flood was stopped early: the gateway's RSS passed the safety limit\n"
	}
	return text
}

// storm runs every kind of hostile and churning traffic at once, until
// stop. Each worker closes what it opened before it returns.
type storm struct {
	soak     *soakConfig
	settings *config // the healthy clients' settings: target, path, symbols
	minter   *tokenMinter

	probes, keepAliveProbes, scrapes, polling, websocket attackCounters
	flood, slowloris, slowReaders                        attackCounters
	floodFrames                                          atomic.Uint64
	floodStopped                                         atomic.Bool
	probeLatency                                         Histogram

	cancel      context.CancelFunc
	cancelFlood context.CancelFunc
	workers     sync.WaitGroup
	clients     []*http.Client // closed at the end, so no idle keep-alive outlives the storm
}

// startStorm starts every attacker; they run until stop. redis carries the
// slow readers' order stream.
func startStorm(soak *soakConfig, settings *config, minter *tokenMinter, redis rueidis.Client) *storm {
	s := &storm{soak: soak, settings: settings, minter: minter}
	s.probes.name, s.keepAliveProbes.name, s.scrapes.name = "probes (new connection)", "probes (keep-alive)", "metrics scrapes"
	s.polling.name, s.websocket.name = "polling churn", "websocket churn"
	s.flood.name, s.slowloris.name, s.slowReaders.name = "pre-auth flood", "slowloris", "slow readers"
	ctx, cancel := context.WithCancel(context.Background())
	floodContext, cancelFlood := context.WithCancel(ctx)
	s.cancel, s.cancelFlood = cancel, cancelFlood

	// Like a kubelet: a new connection per probe, and "Connection: close".
	fresh := s.httpClient(&http.Transport{DisableKeepAlives: true})
	kept := s.httpClient(&http.Transport{MaxIdleConnsPerHost: 4})
	for _, path := range []string{"/health", "/ready"} {
		s.every(ctx, soak.ProbeInterval, func() { s.get(ctx, fresh, path, &s.probes) })
		s.every(ctx, soak.ProbeInterval, func() { s.get(ctx, kept, path, &s.keepAliveProbes) })
	}
	s.every(ctx, soak.ScrapeInterval, func() { s.get(ctx, kept, "/metrics", &s.scrapes) })

	// Churn: churnWorkers sessions at a time of each kind, each worker at
	// its share of the rate; a slow session delays only its own worker.
	const churnWorkers = 4
	sessions := atomic.Uint64{}
	for range churnWorkers * min(1, int(math.Ceil(soak.ChurnRate))) {
		interval := time.Duration(float64(time.Second) * churnWorkers / soak.ChurnRate)
		polling := newPollingClient(s.httpClient(&http.Transport{MaxIdleConnsPerHost: 1}), settings.Targets[0], settings.Path)
		s.every(ctx, interval, func() { s.pollingChurn(ctx, polling, sessions.Add(1)) })
		s.every(ctx, interval, func() { s.websocketChurn(ctx, sessions.Add(1)) })
	}
	for range soak.Flooders {
		s.workers.Go(func() { s.floodLoop(floodContext) })
	}
	for index := range soak.Slowloris {
		s.workers.Go(func() { s.slowlorisLoop(ctx, index) })
	}
	for index := range soak.SlowReaders {
		s.workers.Go(func() { s.slowReaderLoop(ctx, index) })
	}
	if soak.SlowReaders > 0 {
		sequence := uint64(0)
		s.every(ctx, time.Second/slowOrderRate, func() {
			sequence++
			s.publishSlowOrders(ctx, redis, sequence)
		})
	}
	return s
}

func (s *storm) httpClient(transport *http.Transport) *http.Client {
	client := &http.Client{Timeout: 5 * time.Second, Transport: transport}
	s.clients = append(s.clients, client)
	return client
}

// every runs action every interval on its own goroutine until ctx ends;
// an action that overruns skips the ticks it missed.
func (s *storm) every(ctx context.Context, interval time.Duration, action func()) {
	s.workers.Go(func() {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				action()
			}
		}
	})
}

// stopFlood stops the flooders alone: the memory safety valve.
func (s *storm) stopFlood() {
	if !s.floodStopped.Swap(true) {
		s.cancelFlood()
	}
}

// stop ends every attacker and waits until each has closed its sockets.
func (s *storm) stop() {
	s.cancel()
	s.workers.Wait()
	for _, client := range s.clients {
		client.CloseIdleConnections()
	}
}

func (s *storm) stats() stormStats {
	return stormStats{
		Probes: s.probes.snapshot(), KeepAliveProbes: s.keepAliveProbes.snapshot(), Scrapes: s.scrapes.snapshot(),
		Polling: s.polling.snapshot(), WebSocket: s.websocket.snapshot(),
		Flood: s.flood.snapshot(), FloodFrames: s.floodFrames.Load(), FloodStopped: s.floodStopped.Load(),
		Slowloris: s.slowloris.snapshot(), SlowReaders: s.slowReaders.snapshot(),
		ProbeLatency: &s.probeLatency,
	}
}

// get fetches path and expects 200; the body is read to the end so that a
// keep-alive connection can be reused.
func (s *storm) get(ctx context.Context, client *http.Client, path string, counters *attackCounters) {
	counters.opened.Add(1)
	start := time.Now()
	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.settings.Targets[0]+path, nil)
	response, err := client.Do(request)
	if err != nil {
		if ctx.Err() == nil {
			counters.fail(err)
		}
		return
	}
	_, err = io.Copy(io.Discard, response.Body)
	response.Body.Close()
	switch {
	case err != nil && ctx.Err() == nil:
		counters.fail(err)
	case response.StatusCode != http.StatusOK:
		counters.fail(fmt.Errorf("GET %s: %s", path, response.Status))
	default:
		counters.finished.Add(1)
		if path != "/metrics" {
			s.probeLatency.Record(int64(time.Since(start)))
		}
	}
}

// churnUser is the user of churn session n: the healthy clients' users, so
// that a user's short-lived second socket comes and goes beside the one
// whose orders are checked exactly once.
func (s *storm) churnUser(n uint64) (string, int) {
	user := int(n % uint64(max(s.settings.Clients, 1)))
	return userID(user), user % s.settings.Symbols
}

func (s *storm) pollingChurn(ctx context.Context, polling *pollingClient, n uint64) {
	user, symbol := s.churnUser(n)
	s.polling.opened.Add(1)
	err := pollingSession(ctx, polling, s.minter.mint(user), s.settings.SymbolPrefix+strconv.Itoa(symbol), s.settings.ConnectTimeout)
	switch {
	case err == nil:
		s.polling.finished.Add(1)
	case ctx.Err() != nil:
	case errors.Is(err, errPollingClosed):
		s.polling.closed.Add(1)
	default:
		s.polling.fail(err)
	}
}

// websocketChurn connects, subscribes and leaves: politely (Socket.IO
// DISCONNECT and a close frame) every other time, by dropping the TCP
// connection otherwise.
func (s *storm) websocketChurn(ctx context.Context, n uint64) {
	user, symbol := s.churnUser(n)
	churner := &client{index: -1, target: s.settings.Targets[0], symbols: []int{symbol}, orders: true}
	s.websocket.opened.Add(1)
	_, _, err := churner.setup(s.settings, churner.target, s.minter.mint(user), func(inboundMessage) {})
	if err == nil && n%2 == 0 {
		err = churner.send("41")
		if err == nil {
			err = writeClientClose(churner.conn)
		}
	}
	if churner.conn != nil {
		churner.conn.Close()
	}
	switch {
	case err == nil:
		s.websocket.finished.Add(1)
	case ctx.Err() == nil:
		s.websocket.fail(err)
	}
}

func writeClientClose(conn net.Conn) error {
	frame := ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	return ws.WriteFrame(conn, frame)
}
