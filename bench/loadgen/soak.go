package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// soakConfig is one soak: healthy clients under a steady feed, a calm
// window, a storm of hostile and churning traffic, a quiet window; see
// bench/README.md for what each part is and the PASS criteria.
type soakConfig struct {
	Gateway   string `json:"gateway"`    // binary to start with "serve"; empty: use Target
	Target    string `json:"target"`     // host:port of a running gateway, with ServerPID
	ServerPID int    `json:"server_pid"` // its process, sampled through /proc
	RedisURL  string `json:"redis_url"`  // empty: start a private redis-server
	JWTSecret string `json:"-"`

	Duration       time.Duration `json:"duration"`        // the storm
	Calm           time.Duration `json:"calm"`            // before the storm: the baseline readings
	Retention      time.Duration `json:"retention"`       // after the storm, before the quiet window
	Quiet          time.Duration `json:"quiet"`           // after the retention: the end readings
	Settle         time.Duration `json:"settle"`          // feed before the calm window
	SampleInterval time.Duration `json:"sample_interval"` // progress lines and the table
	CollectionWait time.Duration `json:"collection_wait"` // longest wait past a window for a garbage collection
	// ReadingsAfterCollection is how many readings, a second apart, follow
	// the collections a window waits for.
	ReadingsAfterCollection int `json:"readings_after_collection"`

	Clients   int     `json:"clients"`
	Symbols   int     `json:"symbols"`
	PerClient int     `json:"per_client"`
	TickRate  float64 `json:"tick_rate"`  // ticks per second, over all symbols
	OrderRate float64 `json:"order_rate"` // order updates per second, over all users

	ChurnRate         float64       `json:"churn_rate"` // sessions per second, each of polling and WebSocket
	Flooders          int           `json:"flooders"`
	FloodFrames       uint64        `json:"flood_frames"` // per connection, then it is reopened
	MaxRSSMiB         int64         `json:"max_rss_mib"`  // the flood stops if the gateway passes it
	Slowloris         int           `json:"slowloris"`
	SlowlorisInterval time.Duration `json:"slowloris_interval"`
	SlowReaders       int           `json:"slow_readers"`
	ProbeInterval     time.Duration `json:"probe_interval"`
	ScrapeInterval    time.Duration `json:"scrape_interval"`

	Thresholds soakThresholds `json:"thresholds"`
	Output     string         `json:"-"` // JSON outcome file
}

// soakReadings is how many readings, one second apart, end each window at
// least; more follow while the gateway has not collected its garbage (see
// readSettled), for at most -gc-wait.
const soakReadings = 5

func parseSoakFlags(arguments []string) (soakConfig, error) {
	flags := flag.NewFlagSet("loadgen soak", flag.ContinueOnError)
	c := soakConfig{Thresholds: defaultSoakThresholds}
	flags.StringVar(&c.Gateway, "gateway", "", "gateway binary to start (\"<binary> serve\", private port, production mode)")
	flags.StringVar(&c.Target, "target", "", "host:port of a gateway already running (instead of -gateway; needs -server-pid)")
	flags.IntVar(&c.ServerPID, "server-pid", 0, "pid of the -target gateway")
	flags.StringVar(&c.RedisURL, "redis-url", os.Getenv("REDIS_URL"), "Redis the gateway uses (default $REDIS_URL; empty: start a private redis-server)")
	secret := os.Getenv("JWT_SECRET")
	if secret == "" {
		secret = "soak-secret"
	}
	flags.StringVar(&c.JWTSecret, "jwt-secret", secret, "HS256 secret of the gateway (default $JWT_SECRET)")
	flags.DurationVar(&c.Duration, "duration", 10*time.Minute, "length of the storm")
	recoveryWindow := gatewayRecoveryWindow()
	flags.DurationVar(&c.Calm, "calm", time.Minute, "calm window before the storm, whose readings are the baseline")
	flags.DurationVar(&c.Retention, "retention", recoveryWindow, "wait after the storm before the quiet window, for what the gateway keeps by design to expire (default: the gateway's RECOVERY_WINDOW_MS)")
	flags.DurationVar(&c.Quiet, "quiet", 90*time.Second, "quiet window after the retention wait, whose readings are the end")
	flags.DurationVar(&c.Settle, "settle", recoveryWindow+30*time.Second, "feed before the calm window (default: the gateway's RECOVERY_WINDOW_MS + 30s)")
	flags.DurationVar(&c.SampleInterval, "sample-interval", 10*time.Second, "time between samples of the gateway")
	flags.DurationVar(&c.CollectionWait, "gc-wait", 250*time.Second, "longest wait past a window's readings for two garbage collections in the gateway (Go forces one every 2m)")
	flags.IntVar(&c.ReadingsAfterCollection, "readings-after-gc", defaultReadingsAfterCollection, "readings, one second apart, after a window's garbage collections (the runtime returns freed pages to the system over some seconds)")
	flags.IntVar(&c.Clients, "clients", 5000, "healthy clients (users u0..uN-1), connected for the whole soak")
	flags.IntVar(&c.Symbols, "symbols", 100, "symbols ticks are published on")
	flags.IntVar(&c.PerClient, "per-client", 1, "symbols each healthy client subscribes to")
	flags.Float64Var(&c.TickRate, "tick-rate", 200, "ticks per second over all symbols")
	flags.Float64Var(&c.OrderRate, "order-rate", 200, "order updates per second over all healthy users")
	flags.Float64Var(&c.ChurnRate, "churn-rate", 50, "sessions per second opened and closed, for each of polling and WebSocket")
	flags.IntVar(&c.Flooders, "flooders", 3, "pre-auth flood connections")
	flags.Uint64Var(&c.FloodFrames, "flood-frames", 2_000_000, "frames a flood connection sends before it closes and reopens")
	flags.Int64Var(&c.MaxRSSMiB, "max-rss-mib", 3072, "safety valve: the flood stops when the gateway's RSS passes this")
	flags.IntVar(&c.Slowloris, "slowloris", 500, "connections sending a request head a byte at a time")
	flags.DurationVar(&c.SlowlorisInterval, "slowloris-interval", time.Second, "time between two bytes of a slowloris head")
	flags.IntVar(&c.SlowReaders, "slow-readers", 20, "subscribed sockets that never read")
	flags.DurationVar(&c.ProbeInterval, "probe-interval", 100*time.Millisecond, "time between two probes of each kind")
	flags.DurationVar(&c.ScrapeInterval, "scrape-interval", time.Second, "time between two /metrics scrapes")
	flags.Float64Var(&c.Thresholds.GrowthPercent, "growth-percent", c.Thresholds.GrowthPercent, "PASS: each figure ends at most this much above its baseline")
	flags.Float64Var(&c.Thresholds.CountSlack, "count-slack", c.Thresholds.CountSlack, "PASS: goroutines and fds may also end this many above")
	flags.Float64Var(&c.Thresholds.IdleCPUCores, "idle-cpu", c.Thresholds.IdleCPUCores, "PASS: quiet-window CPU at most this many cores above the calm window's")
	flags.StringVar(&c.Output, "out", "", "also write the outcome as JSON to this file")
	flags.Usage = func() {
		fmt.Fprintln(flags.Output(), "usage: loadgen soak -gateway bin/protrader5-ws [flags]\n\nEvery flag can also be set as SOAK_<FLAG> in the environment (SOAK_DURATION=1m, SOAK_MAX_RSS_MIB=2048); flags win.")
		flags.PrintDefaults()
	}
	var environmentErr error
	flags.VisitAll(func(f *flag.Flag) {
		name := "SOAK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if value := os.Getenv(name); value != "" && environmentErr == nil {
			if err := f.Value.Set(value); err != nil {
				environmentErr = fmt.Errorf("loadgen soak: %s=%q: %w", name, value, err)
			}
		}
	})
	if environmentErr != nil {
		return c, environmentErr
	}
	if err := flags.Parse(arguments); err != nil {
		return c, err
	}
	if flags.NArg() > 0 {
		return c, fmt.Errorf("loadgen soak: unexpected argument %q", flags.Arg(0))
	}
	return c, c.validate()
}

func (c *soakConfig) validate() error {
	switch {
	case c.Gateway == "" && (c.Target == "" || c.ServerPID <= 0):
		return errors.New("loadgen soak: -gateway, or -target with -server-pid, is required")
	case c.Gateway == "" && c.RedisURL == "":
		return errors.New("loadgen soak: -target needs the -redis-url its gateway uses")
	case c.Duration <= 0 || c.Calm <= 0 || c.Quiet <= 0 || c.Settle < 0 || c.Retention < 0 || c.SampleInterval <= 0 || c.CollectionWait < 0:
		return errors.New("loadgen soak: -duration, -calm, -quiet and -sample-interval must be > 0")
	case c.ReadingsAfterCollection < 1:
		return errors.New("loadgen soak: -readings-after-gc must be >= 1")
	case c.Clients < 1 || c.Symbols < 1 || c.PerClient < 1:
		return errors.New("loadgen soak: -clients, -symbols and -per-client must be >= 1")
	case c.TickRate < 0 || c.OrderRate < 0 || c.ChurnRate < 0:
		return errors.New("loadgen soak: rates must be >= 0")
	case c.Flooders < 0 || c.Slowloris < 0 || c.SlowReaders < 0:
		return errors.New("loadgen soak: attacker counts must be >= 0")
	case c.SlowlorisInterval <= 0 || c.ProbeInterval <= 0 || c.ScrapeInterval <= 0 || c.FloodFrames == 0:
		return errors.New("loadgen soak: intervals and -flood-frames must be > 0")
	}
	return nil
}

func soakMain(arguments []string, out io.Writer) error {
	c, err := parseSoakFlags(arguments)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	outcome, err := runSoak(ctx, c, out)
	if err != nil {
		return err
	}
	checks := outcome.evaluate()
	printSoakReport(out, outcome, checks)
	if c.Output != "" {
		encoded, err := json.MarshalIndent(struct {
			Config  soakConfig   `json:"config"`
			Outcome *soakOutcome `json:"outcome"`
			Checks  []soakCheck  `json:"checks"`
		}{c, outcome, checks}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(c.Output, append(encoded, '\n'), 0o644); err != nil {
			return err
		}
	}
	if !passed(checks) {
		return errors.New("loadgen soak: FAIL")
	}
	return nil
}

// healthySettings are the loadgen settings of the healthy clients.
func (c *soakConfig) healthySettings(target string) config {
	return config{
		Label:          "soak",
		Targets:        []string{target},
		Path:           "/socket.io/",
		Clients:        c.Clients,
		RampPerSecond:  2000,
		ConnectTimeout: 10 * time.Second,
		JWTSecret:      c.JWTSecret,
		Symbols:        c.Symbols,
		PerClient:      c.PerClient,
		SymbolPrefix:   "SYM",
		Rate:           c.TickRate / float64(c.Symbols),
		Orders:         true,
		OrdersRate:     c.OrderRate,
		Procs:          1,
		Duration:       c.Duration,
		Drain:          10 * time.Second,
		RedisURL:       c.RedisURL,
		RunID:          rand.Int64N(1 << 40),
		ClientCount:    c.Clients,
	}
}

// runSoak runs the whole soak and returns what it measured; an error means
// it could not run, not that the gateway failed.
func runSoak(ctx context.Context, c soakConfig, out io.Writer) (*soakOutcome, error) {
	out = &serializedWriter{writer: out} // the sampler prints from its own goroutine
	outcome := &soakOutcome{Thresholds: c.Thresholds, Clients: c.Clients}
	address, pid := c.Target, c.ServerPID
	alive := func() bool { _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); return err == nil }
	if c.Gateway != "" {
		directory, err := os.MkdirTemp("", "soak-")
		if err != nil {
			return nil, err
		}
		if c.RedisURL == "" {
			redis, url, err := startSoakRedis(directory)
			if err != nil {
				return nil, err
			}
			defer redis.stop(5 * time.Second)
			c.RedisURL = url
		}
		gateway, gatewayAddress, err := startSoakGateway(directory, c.Gateway, c.RedisURL, c.JWTSecret)
		if err != nil {
			return nil, err
		}
		defer gateway.stop(15 * time.Second)
		address, pid, alive = gatewayAddress, gateway.pid(), gateway.running
		fmt.Fprintf(out, "soak: gateway pid %d on %s, Redis %s; logs in %s\n", pid, address, c.RedisURL, directory)
	}

	settings := c.healthySettings(address)
	if err := settings.validate(); err != nil {
		return nil, err
	}
	fleet := newFleet(&settings)
	defer fleet.close()
	feed, err := newFeeder(&settings)
	if err != nil {
		return nil, err
	}
	defer feed.close()
	probe := newGatewayProbe(pid, address)
	defer probe.close()

	fmt.Fprintf(out, "soak: connecting %d healthy clients (%d of %d symbols each; %g ticks/s, %g orders/s)\n",
		c.Clients, c.PerClient, c.Symbols, c.TickRate, c.OrderRate)
	connectStart := time.Now()
	fleet.connect()
	fmt.Fprintf(out, "soak: %d connected in %.1fs\n", fleet.connected.Load(), time.Since(connectStart).Seconds())

	feedContext, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	feedStart := time.Now()
	// Latency counts from the calm window on: the settle time is warm-up.
	fleet.setWindow(feedStart.Add(c.Settle).UnixNano(), math.MaxInt64)
	feedDone := make(chan error, 1)
	go func() { feedDone <- feed.run(feedContext, feedStart, 1000*time.Hour) }()

	sampler := startSoakSampler(probe, fleet, out, c.SampleInterval, connectStart)
	problem := func(text string) {
		if !slices.Contains(outcome.Problems, text) {
			fmt.Fprintf(out, "soak: %s\n", text)
			outcome.Problems = append(outcome.Problems, text)
		}
	}
	finish := func() (*soakOutcome, error) {
		// Why the gateway closed what it closed, refused what it refused.
		if counters, err := probe.counters(context.Background(), "protrader5_disconnects_total", "protrader5_handshake_refusals_total",
			"protrader5_auth_failures_total", "protrader5_event_refusals_total"); err == nil {
			outcome.GatewayCounters = counters
		}
		stopFeed()
		if err := <-feedDone; err != nil && !errors.Is(err, context.Canceled) {
			problem(fmt.Sprintf("feed: %v", err))
		}
		published := feed.publication()
		outcome.PublishedTicks, outcome.PublishedOrders = feed.ticks.Load(), published.Orders
		outcome.Samples = sampler.stop()
		outcome.Fleet.merge(fleet.finish(published))
		if !alive() {
			problem("the gateway process is gone")
		}
		if ctx.Err() != nil {
			return nil, errors.New("loadgen soak: interrupted")
		}
		return outcome, nil
	}

	// window waits out one calm or quiet window of the given length and takes
	// its readings at the end (readSettled: on past the window until the
	// gateway has collected its garbage twice since the window began); it
	// returns the figures, and the CPU in cores from the window's middle to
	// the end of the readings. The first half is left out of the CPU figure
	// so that the quiet window does not charge the gateway for finishing
	// what the storm left in flight (bytes in socket buffers, closes); the
	// calm window is measured the same way so that the two compare.
	window := func(phase string, length time.Duration) (settledFigures, float64, float64) {
		sampler.setPhase(phase)
		if phase == "quiet" && c.Retention > 0 {
			fmt.Fprintf(out, "soak: waiting %v for what the gateway keeps by design to expire\n", c.Retention)
			sleepContext(ctx, c.Retention)
		}
		opening, err := probe.read(ctx)
		if err != nil {
			problem(fmt.Sprintf("%s: %v", phase, err))
		}
		readings := max(1, min(soakReadings, int(length/2/time.Second)))
		sleepContext(ctx, length/2)
		start := time.Now()
		cpuStart, err := probe.cpuSeconds()
		if err != nil {
			problem(fmt.Sprintf("%s: %v", phase, err))
		}
		sleepContext(ctx, length-length/2-time.Duration(readings-1)*time.Second)
		figures, err := probe.readSettled(ctx, readings, readings+int(c.CollectionWait/time.Second)+c.ReadingsAfterCollection, c.ReadingsAfterCollection, opening.Collections)
		if err != nil {
			problem(fmt.Sprintf("%s readings: %v", phase, err))
		}
		cpuEnd, err := probe.cpuSeconds()
		if err != nil {
			problem(fmt.Sprintf("%s: %v", phase, err))
		}
		elapsed := time.Since(start).Seconds()
		collected := fmt.Sprintf("after %d garbage collections in the window", collectionsNeeded)
		if !figures.Collected {
			collected = fmt.Sprintf("without %d garbage collections in the window: the heap figure may hold garbage", collectionsNeeded)
		}
		fmt.Fprintf(out, "soak: %s readings: lowest of %d, %s\n", phase, figures.Readings, collected)
		return figures, (cpuEnd - cpuStart) / elapsed, elapsed
	}

	sampler.setPhase("settle")
	if !sleepContext(ctx, c.Settle) {
		return finish()
	}
	outcome.Baseline, outcome.CalmCores, outcome.CalmSeconds = window("calm", c.Calm)
	if ctx.Err() != nil || !alive() {
		return finish()
	}
	fmt.Fprintf(out, "soak: baseline RSS %.1f MiB, live heap %.1f MiB, %.0f goroutines, %d fds; %.3f cores calm. Storm for %v\n",
		float64(outcome.Baseline.RSSBytes)/(1<<20), outcome.Baseline.LiveHeap/(1<<20), outcome.Baseline.Goroutines,
		outcome.Baseline.FDs, outcome.CalmCores, c.Duration)

	sampler.setPhase("storm")
	stormStart := time.Now()
	attackers := startStorm(&c, &settings, fleet.minter, feed.redis)
	sampler.setStorm(attackers)
	for time.Since(stormStart) < c.Duration && sleepContext(ctx, min(time.Second, c.Duration-time.Since(stormStart))) {
		if !alive() {
			break
		}
		if process, err := readProcessSample(pid); err == nil && process.RSSBytes > c.MaxRSSMiB<<20 && !attackers.floodStopped.Load() {
			attackers.stopFlood()
			problem(fmt.Sprintf("the gateway's RSS reached %.0f MiB, past the %d MiB safety limit: the flood was stopped",
				float64(process.RSSBytes)/(1<<20), c.MaxRSSMiB))
		}
	}
	attackers.stop()
	outcome.StormSeconds = time.Since(stormStart).Seconds()
	outcome.Storm = attackers.stats()
	fmt.Fprintf(out, "soak: storm over after %.0fs; quiet for %v\n", outcome.StormSeconds, c.Retention+c.Quiet)
	if ctx.Err() != nil || !alive() {
		return finish()
	}
	outcome.End, outcome.QuietCores, outcome.QuietSeconds = window("quiet", c.Quiet)
	return finish()
}

// serializedWriter lets several goroutines print lines to one writer.
type serializedWriter struct {
	mu     sync.Mutex
	writer io.Writer
}

func (w *serializedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writer.Write(p)
}

// gatewayRecoveryWindow is the recovery window of the gateway the soak
// starts, which takes RECOVERY_WINDOW_MS from the soak's environment. The
// gateway keeps what each user was sent for that long, by design, so the
// soak settles that long before its baseline (the healthy users' history
// has filled) and stays quiet that long after the storm (the storm users'
// history and saved sessions have expired) before it judges the end.
func gatewayRecoveryWindow() time.Duration {
	const gatewayDefault = 2 * time.Minute
	milliseconds, err := strconv.ParseInt(os.Getenv("RECOVERY_WINDOW_MS"), 10, 64)
	if err != nil || milliseconds < 0 {
		return gatewayDefault
	}
	return time.Duration(milliseconds) * time.Millisecond
}
