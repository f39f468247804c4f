package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"
)

// result is the outcome of one run, the unit the scenario driver compares.
type result struct {
	Config  config      `json:"config"`
	Fleet   fleetResult `json:"fleet"`
	Started time.Time   `json:"started"`

	RampSeconds      float64 `json:"ramp_seconds"`
	PublishedTicks   uint64  `json:"published_ticks"`
	PublishedOrders  uint64  `json:"published_orders"`
	WindowSeconds    float64 `json:"window_seconds"`
	DeliveriesPerSec float64 `json:"deliveries_per_second"`

	// Server cost, summed over -server-pid, at four moments.
	ServerBaseline    *processSample `json:"server_baseline,omitempty"`
	ServerConnected   *processSample `json:"server_connected,omitempty"`
	ServerWindowStart *processSample `json:"server_window_start,omitempty"`
	ServerWindowEnd   *processSample `json:"server_window_end,omitempty"`
	ServerAfterClose  *processSample `json:"server_after_close,omitempty"` // -after-close
	ServerIdle        *processSample `json:"server_idle,omitempty"`        // -idle-settle

	ServerCPUPerMillion   float64 `json:"server_cpu_seconds_per_million_deliveries"`
	ServerCPUPercent      float64 `json:"server_cpu_percent"` // of one core, in the window
	ServerRSSPerConn      float64 `json:"server_rss_bytes_per_connection"`
	ServerCPUPerConnectMS float64 `json:"server_cpu_ms_per_connect"`
	LoadgenCPUSeconds     float64 `json:"loadgen_cpu_seconds"` // in the window, children included

	Storm *stormOutcome `json:"storm,omitempty"` // runs with -kill-after

	// NodeRSSPerConn is ServerRSSPerConn of each server process (-server-pid
	// order), over the clients connected to its -target (same order); the
	// Idle figures are the same from ServerIdle.
	NodeRSSPerConn     []float64 `json:"node_rss_bytes_per_connection,omitempty"`
	IdleRSSPerConn     float64   `json:"idle_rss_bytes_per_connection,omitempty"`
	NodeIdleRSSPerConn []float64 `json:"node_idle_rss_bytes_per_connection,omitempty"`
}

// fleetHandle is a fleet as the controller drives it: in this process, or in
// a -procs child.
type fleetHandle interface {
	connect() error
	setWindow(start, end int64) error
	counters() (connected int64, received uint64)
	finish(published *publication) (*fleetResult, error)
	pids() []int
	close()
}

type localFleet struct{ *fleet }

func (l localFleet) connect() error                   { l.fleet.connect(); return nil }
func (l localFleet) setWindow(start, end int64) error { l.fleet.setWindow(start, end); return nil }
func (l localFleet) finish(p *publication) (*fleetResult, error) {
	return l.fleet.finish(p), nil
}
func (l localFleet) pids() []int { return nil }
func (l localFleet) counters() (int64, uint64) {
	return l.fleet.connected.Load(), l.fleet.received()
}

// run executes one complete measurement: connect, publish for
// Warmup+Duration, drain, report. progress gets a line every Progress.
func run(ctx context.Context, c config, progress io.Writer) (*result, error) {
	if c.RunID == 0 {
		c.RunID = rand.Int64N(1 << 40)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	out := &result{Config: c, Started: time.Now()}
	feed, err := newFeeder(&c)
	if err != nil {
		return nil, err
	}
	defer feed.close()

	var fleets []fleetHandle
	defer func() {
		for _, handle := range fleets {
			handle.close()
		}
	}()
	if c.Procs == 1 {
		local := c
		local.FirstClient, local.ClientCount = 0, c.Clients
		fleets = append(fleets, localFleet{newFleet(&local)})
	} else {
		for child := range c.Procs {
			slice := c
			slice.FirstClient = child * c.Clients / c.Procs
			slice.ClientCount = (child+1)*c.Clients/c.Procs - slice.FirstClient
			handle, err := startChild(&slice)
			if err != nil {
				return nil, err
			}
			fleets = append(fleets, handle)
		}
	}
	loadgenPIDs := []int{os.Getpid()}
	for _, handle := range fleets {
		loadgenPIDs = append(loadgenPIDs, handle.pids()...)
	}
	sampleServer := func() *processSample { return sampleServers(c.ServerPIDs, progress) }
	counters := func() (int64, uint64) {
		var connected int64
		var received uint64
		for _, handle := range fleets {
			fleetConnected, fleetReceived := handle.counters()
			connected += fleetConnected
			received += fleetReceived
		}
		return connected, received
	}

	out.ServerBaseline = sampleServer()
	rampStart := time.Now()
	stopProgress := startProgress(progress, c.Progress, "connect", counters)
	errs := make(chan error, len(fleets))
	for _, handle := range fleets {
		go func() { errs <- handle.connect() }()
	}
	for range fleets {
		if err := <-errs; err != nil {
			stopProgress()
			return nil, err
		}
	}
	stopProgress()
	out.RampSeconds = time.Since(rampStart).Seconds()
	out.ServerConnected = sampleServer()
	if c.IdleSettle > 0 {
		time.Sleep(c.IdleSettle)
		out.ServerIdle = sampleServer()
	}

	feedStart := time.Now().Add(50 * time.Millisecond)
	windowStart := feedStart.Add(c.Warmup)
	windowEnd := windowStart.Add(c.Duration)
	if c.KillAfter > 0 {
		// The end is not known yet: the storm ends the feed (stormRun.run).
		windowEnd = windowStart.Add(time.Duration(stormWindowSeconds(&c)) * time.Second)
	}
	for _, handle := range fleets {
		if err := handle.setWindow(windowStart.UnixNano(), windowEnd.UnixNano()); err != nil {
			return nil, err
		}
	}
	var loadgenStart, loadgenEnd processSample
	var feedErr error
	if c.KillAfter > 0 {
		storm := &stormRun{
			config: &c, out: out, feed: feed, counters: counters, loadgenPIDs: loadgenPIDs,
			feedStart: feedStart, windowStart: windowStart, progress: progress,
		}
		feedErr = storm.run(ctx)
		loadgenStart, loadgenEnd = storm.loadgenStart, storm.loadgenEnd
	} else {
		feedErr = runSteady(ctx, &c, out, feed, counters, loadgenPIDs, feedStart, windowStart, windowEnd, progress, &loadgenStart, &loadgenEnd)
	}
	if feedErr != nil {
		return nil, feedErr
	}
	published := feed.publication()
	out.PublishedTicks, out.PublishedOrders = feed.ticks.Load(), published.Orders

	results := make(chan *fleetResult, len(fleets))
	for _, handle := range fleets {
		go func() {
			fleetResult, err := handle.finish(published)
			if err != nil {
				errs <- err
				return
			}
			results <- fleetResult
		}()
	}
	for range fleets {
		select {
		case err := <-errs:
			return nil, err
		case fleetResult := <-results:
			out.Fleet.merge(fleetResult)
		}
	}
	if c.AfterClose > 0 {
		time.Sleep(c.AfterClose)
		out.ServerAfterClose = sampleServer()
	}
	out.summarize(loadgenStart, loadgenEnd)
	if out.Storm != nil {
		out.Storm.summarize(&out.Fleet)
	}
	return out, nil
}

// runSteady publishes for Warmup+Duration and samples the servers and the
// load generator at both ends of the window.
func runSteady(ctx context.Context, c *config, out *result, feed *feeder, counters func() (int64, uint64),
	loadgenPIDs []int, feedStart, windowStart, windowEnd time.Time, progress io.Writer, loadgenStart, loadgenEnd *processSample) error {
	sampleServer := func() *processSample { return sampleServers(c.ServerPIDs, progress) }
	samplesDone := make(chan struct{})
	go func() {
		defer close(samplesDone)
		time.Sleep(time.Until(windowStart))
		out.ServerWindowStart = sampleServer()
		*loadgenStart, _ = sampleProcesses(loadgenPIDs)
		time.Sleep(time.Until(windowEnd))
		out.ServerWindowEnd = sampleServer()
		*loadgenEnd, _ = sampleProcesses(loadgenPIDs)
	}()
	time.Sleep(time.Until(feedStart))
	stopProgress := startProgress(progress, c.Progress, "feed", counters)
	feedErr := feed.run(ctx, feedStart, c.Warmup+c.Duration)
	stopProgress()
	<-samplesDone
	return feedErr
}

// sampleServers sums the samples of pids, or returns nil (after saying why)
// when there are none or one cannot be read.
func sampleServers(pids []int, progress io.Writer) *processSample {
	if len(pids) == 0 {
		return nil
	}
	sample, err := sampleProcesses(pids)
	if err != nil {
		fmt.Fprintln(progress, err)
		return nil
	}
	return &sample
}

// summarize derives the per-unit costs from the raw samples.
func (r *result) summarize(loadgenStart, loadgenEnd processSample) {
	if r.WindowSeconds == 0 { // a storm run sets the window it had
		r.WindowSeconds = r.Config.Duration.Seconds()
	}
	r.DeliveriesPerSec = float64(r.Fleet.WindowDeliveries) / r.WindowSeconds
	r.LoadgenCPUSeconds = loadgenEnd.CPUSeconds - loadgenStart.CPUSeconds
	if r.ServerWindowStart != nil && r.ServerWindowEnd != nil {
		cpu := r.ServerWindowEnd.CPUSeconds - r.ServerWindowStart.CPUSeconds
		r.ServerCPUPercent = 100 * cpu / r.WindowSeconds
		if r.Fleet.WindowDeliveries > 0 {
			r.ServerCPUPerMillion = cpu / float64(r.Fleet.WindowDeliveries) * 1e6
		}
	}
	if r.ServerBaseline != nil && r.ServerConnected != nil && r.Fleet.Connected > 0 {
		connections := float64(r.Fleet.Connected)
		r.ServerRSSPerConn = float64(r.ServerConnected.RSSBytes-r.ServerBaseline.RSSBytes) / connections
		r.ServerCPUPerConnectMS = 1000 * (r.ServerConnected.CPUSeconds - r.ServerBaseline.CPUSeconds) / connections
		r.NodeRSSPerConn = r.rssPerConnPerNode(r.ServerConnected)
		if r.ServerIdle != nil {
			r.IdleRSSPerConn = float64(r.ServerIdle.RSSBytes-r.ServerBaseline.RSSBytes) / connections
			r.NodeIdleRSSPerConn = r.rssPerConnPerNode(r.ServerIdle)
		}
	}
}

// rssPerConnPerNode returns each server's RSS growth over its baseline per
// client connected to it, when there are several.
func (r *result) rssPerConnPerNode(sample *processSample) []float64 {
	nodes := sample.NodeRSSBytes
	if len(nodes) < 2 || len(nodes) != len(r.Config.Targets) || len(nodes) != len(r.ServerBaseline.NodeRSSBytes) {
		return nil
	}
	var perNode []float64
	for node, target := range r.Config.Targets {
		if connected := r.Fleet.ConnectedByTarget[target]; connected > 0 {
			perNode = append(perNode, float64(nodes[node]-r.ServerBaseline.NodeRSSBytes[node])/float64(connected))
		}
	}
	return perNode
}

// startProgress prints a line every interval until the returned func runs.
func startProgress(out io.Writer, interval time.Duration, phase string, counters func() (int64, uint64)) func() {
	if interval <= 0 || out == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		start := time.Now()
		_, last := counters()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				connected, now := counters()
				fmt.Fprintf(out, "loadgen: %-7s %5.1fs connected %d deliveries %d (%.0f/s)\n",
					phase, time.Since(start).Seconds(), connected, now, float64(now-last)/interval.Seconds())
				last = now
			}
		}
	}()
	return func() { close(done); <-finished }
}
