package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soakFigures are the numbers a leak moves: what the soak compares before
// and after the storm. Heap in use is shown in the samples; the verdict
// judges the live heap, which a leak raises and which, unlike heap in use,
// does not depend on how long before the reading the last collection ran.
type soakFigures struct {
	RSSBytes   int64   `json:"rss_bytes"`   // VmRSS of /proc/<pid>/status
	HeapBytes  float64 `json:"heap_bytes"`  // go_memstats_heap_inuse_bytes
	LiveHeap   float64 `json:"live_heap"`   // go_gc_heap_live_bytes: what the last collection found reachable
	Goroutines float64 `json:"goroutines"`  // go_goroutines
	FDs        int     `json:"descriptors"` // entries of /proc/<pid>/fd
}

// soakSample is one reading of the gateway, taken every sample interval.
type soakSample struct {
	soakFigures
	At         time.Duration `json:"at"` // since the healthy clients connected
	Phase      string        `json:"phase"`
	CPUSeconds float64       `json:"cpu_seconds"` // user + system since the gateway started
	CPUCores   float64       `json:"cpu_cores"`   // since the previous sample
	Deliveries uint64        `json:"deliveries"`  // healthy clients, since they connected
	Note       string        `json:"note,omitempty"`
}

// gatewayProbe reads the gateway's cost from /proc and from its /metrics.
// It keeps one keep-alive connection for its scrapes, so that its own
// connection is the same one at every reading and never a new descriptor.
type gatewayProbe struct {
	pid        int
	metricsURL string
	client     *http.Client
	mu         sync.Mutex // one reading at a time: one scrape connection
}

func newGatewayProbe(pid int, address string) *gatewayProbe {
	return &gatewayProbe{
		pid:        pid,
		metricsURL: "http://" + address + "/metrics",
		client:     &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}},
	}
}

// gatewayReading is one reading of the gateway.
type gatewayReading struct {
	soakFigures
	CPUSeconds  float64 // user + system since it started
	Collections float64 // go_gc_duration_seconds_count: garbage collections so far
}

// read takes one reading.
func (p *gatewayProbe) read(ctx context.Context) (gatewayReading, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	process, err := readProcessSample(p.pid)
	if err != nil {
		return gatewayReading{}, fmt.Errorf("soak: gateway pid %d: %w", p.pid, err)
	}
	descriptors, err := countDescriptors(p.pid)
	if err != nil {
		return gatewayReading{}, err
	}
	metrics, err := p.scrape(ctx, "go_memstats_heap_inuse_bytes", "go_gc_heap_live_bytes", "go_goroutines", "go_gc_duration_seconds_count")
	if err != nil {
		return gatewayReading{}, err
	}
	return gatewayReading{
		soakFigures: soakFigures{
			RSSBytes:   process.RSSBytes,
			HeapBytes:  metrics["go_memstats_heap_inuse_bytes"],
			LiveHeap:   metrics["go_gc_heap_live_bytes"],
			Goroutines: metrics["go_goroutines"],
			FDs:        descriptors,
		},
		CPUSeconds:  process.CPUSeconds,
		Collections: metrics["go_gc_duration_seconds_count"],
	}, nil
}

// settledFigures is what readSettled found.
type settledFigures struct {
	soakFigures
	Readings  int  // how many readings the figures are the lowest of
	Collected bool // collectionsNeeded garbage collections completed in the window
}

// collectionsNeeded is how many garbage collections must complete in a
// window before its readings count. One is not enough: an object with a
// finalizer (a closed connection's file, say), and everything it
// references, outlives the first collection that finds it unreachable. In
// a short soak 430 MB of a 750 MB heap survived the first collection after
// the storm, and the second freed all but 28 MB of it.
const collectionsNeeded = 2

// defaultReadingsAfterCollection is how many readings readSettled takes
// once one shows the collections it needs done (-readings-after-gc): the collector frees memory by
// sweeping after a collection ends, concurrently, and the runtime returns
// the pages a lower heap goal no longer needs to the system in the
// background over the following seconds (about 20 s for 200 MiB here), so
// a reading just after the collection is too early for RSS.
const defaultReadingsAfterCollection = 30

// readSettled takes readings one second apart and keeps the lowest of each
// figure: at least count of them, and on until afterwards of
// them came after the gateway had completed collectionsNeeded garbage
// collections since it had completed since (at most maxReadings in all).
//
// Heap in use follows the collector's saw-tooth: between two collections it
// holds garbage too, up to twice the live heap, and a gateway that allocates
// little may not collect for minutes (Go forces one every two minutes). A
// reading taken just after collections is the floor of the saw-tooth, and
// a leak raises that floor; the lowest reading also drops the goroutine a
// write to a full socket briefly gets.
func (p *gatewayProbe) readSettled(ctx context.Context, count, maxReadings, afterwards int, since float64) (settledFigures, error) {
	return settle(count, maxReadings, afterwards, since,
		func() (gatewayReading, error) { return p.read(ctx) },
		func() error {
			if !sleepContext(ctx, time.Second) {
				return ctx.Err()
			}
			return nil
		})
}

// settle is readSettled's loop, apart from where the readings come from, how
// it waits between two and how many follow the collections (afterwards).
func settle(count, maxReadings, afterwards int, since float64, read func() (gatewayReading, error), wait func() error) (settledFigures, error) {
	var result settledFigures
	after := 0 // readings since the collections
	for result.Readings < maxReadings && (result.Readings < count || after < afterwards) {
		if result.Readings > 0 {
			if err := wait(); err != nil {
				return result, err
			}
		}
		reading, err := read()
		if err != nil {
			return result, err
		}
		if result.Readings == 0 {
			result.soakFigures = reading.soakFigures
		}
		result.Readings++
		if reading.Collections >= since+collectionsNeeded {
			result.Collected = true
			after++
		}
		result.soakFigures = lowerFigures(result.soakFigures, reading.soakFigures)
	}
	return result, nil
}

// lowerFigures keeps the lower of each figure.
func lowerFigures(a, b soakFigures) soakFigures {
	return soakFigures{
		RSSBytes:   min(a.RSSBytes, b.RSSBytes),
		HeapBytes:  min(a.HeapBytes, b.HeapBytes),
		LiveHeap:   min(a.LiveHeap, b.LiveHeap),
		Goroutines: min(a.Goroutines, b.Goroutines),
		FDs:        min(a.FDs, b.FDs),
	}
}

// cpuSeconds reads the gateway's CPU time alone, for the idle windows.
func (p *gatewayProbe) cpuSeconds() (float64, error) {
	process, err := readProcessSample(p.pid)
	return process.CPUSeconds, err
}

func (p *gatewayProbe) scrape(ctx context.Context, names ...string) (map[string]float64, error) {
	var values map[string]float64
	err := p.get(ctx, func(body io.Reader) (err error) {
		values, err = parseMetrics(body, names...)
		return err
	})
	return values, err
}

func (p *gatewayProbe) close() { p.client.CloseIdleConnections() }

// counters returns the non-zero samples of the gateway's metrics whose names
// start with one of prefixes, as exposed ("name{labels} value").
func (p *gatewayProbe) counters(ctx context.Context, prefixes ...string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var samples []string
	err := p.get(ctx, func(body io.Reader) (err error) {
		samples, err = nonZeroSamples(body, prefixes...)
		return err
	})
	return samples, err
}

// get fetches the metrics page and hands its body to read.
func (p *gatewayProbe) get(ctx context.Context, read func(body io.Reader) error) error {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return err
	}
	response, err := p.client.Do(request)
	if err != nil {
		return fmt.Errorf("soak: scrape: %w", err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("soak: scrape: %s", response.Status)
	}
	if err := read(response.Body); err != nil {
		return fmt.Errorf("soak: scrape: %w", err)
	}
	return nil
}

// nonZeroSamples returns the sample lines of a Prometheus text exposition
// whose names start with one of prefixes and whose value is not zero.
func nonZeroSamples(body io.Reader, prefixes ...string) ([]string, error) {
	var lines []string
	scanner := bufio.NewScanner(body)
	scanner.Buffer(make([]byte, 64*1024), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if line == "" || line[0] == '#' || !hasAnyPrefix(line, prefixes) {
			continue
		}
		at := strings.LastIndexByte(line, ' ')
		if value, err := strconv.ParseFloat(line[at+1:], 64); err == nil && value != 0 {
			lines = append(lines, line)
		}
	}
	return lines, scanner.Err()
}

func hasAnyPrefix(text string, prefixes []string) bool {
	for _, prefix := range prefixes {
		if strings.HasPrefix(text, prefix) {
			return true
		}
	}
	return false
}

// parseMetrics finds unlabelled samples in Prometheus text exposition: the
// Go collector's gauges have no labels. A name that is missing is an error,
// not a silent zero: a zero heap would pass every threshold.
func parseMetrics(body io.Reader, names ...string) (map[string]float64, error) {
	wanted := make(map[string]bool, len(names))
	for _, name := range names {
		wanted[name] = true
	}
	values := make(map[string]float64, len(names))
	scanner := bufio.NewScanner(body)
	scanner.Buffer(make([]byte, 64*1024), 1<<20)
	for scanner.Scan() {
		line := scanner.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, rest, ok := bytes.Cut(line, []byte(" "))
		if !ok || !wanted[string(name)] {
			continue
		}
		// "name value [timestamp]"
		fields := bytes.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		value, err := strconv.ParseFloat(string(fields[0]), 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		values[string(name)] = value
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	for _, name := range names {
		if _, ok := values[name]; !ok {
			return nil, fmt.Errorf("metric %s missing", name)
		}
	}
	return values, nil
}

// countDescriptors counts the open file descriptors of pid.
func countDescriptors(pid int) (int, error) {
	directory, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("soak: descriptors of pid %d: %w", pid, err)
	}
	defer directory.Close()
	count := 0
	for {
		names, err := directory.Readdirnames(1024)
		count += len(names)
		if err == io.EOF {
			return count, nil
		}
		if err != nil {
			return 0, fmt.Errorf("soak: descriptors of pid %d: %w", pid, err)
		}
	}
}

// soakSampler reads the gateway every interval, prints a line and keeps the
// samples for the report's table.
type soakSampler struct {
	probe   *gatewayProbe
	fleet   *fleet
	phase   atomic.Value // string
	storm   atomic.Pointer[storm]
	mu      sync.Mutex
	samples []soakSample // guarded by mu
	done    chan struct{}
	stopped chan struct{}
}

func startSoakSampler(probe *gatewayProbe, f *fleet, out io.Writer, interval time.Duration, origin time.Time) *soakSampler {
	s := &soakSampler{probe: probe, fleet: f, done: make(chan struct{}), stopped: make(chan struct{})}
	s.phase.Store("")
	go func() {
		defer close(s.stopped)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		lastCPU, _ := probe.cpuSeconds()
		lastTime, lastDeliveries := time.Now(), f.received()
		for {
			select {
			case <-s.done:
				return
			case <-ticker.C:
			}
			reading, err := probe.read(context.Background())
			now := time.Now()
			if err != nil {
				fmt.Fprintf(out, "soak: sample: %v\n", err)
				continue
			}
			elapsed := now.Sub(lastTime).Seconds()
			cpu := reading.CPUSeconds
			sample := soakSample{soakFigures: reading.soakFigures, At: now.Sub(origin), Phase: s.phase.Load().(string),
				CPUSeconds: cpu, CPUCores: (cpu - lastCPU) / elapsed, Deliveries: f.received()}
			var storm stormStats
			if attackers := s.storm.Load(); attackers != nil {
				storm = attackers.stats()
			}
			printSample(out, sample, float64(sample.Deliveries-lastDeliveries)/elapsed, storm)
			lastCPU, lastTime, lastDeliveries = cpu, now, sample.Deliveries
			s.mu.Lock()
			s.samples = append(s.samples, sample)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *soakSampler) setPhase(phase string) { s.phase.Store(phase) }

func (s *soakSampler) setStorm(attackers *storm) { s.storm.Store(attackers) }

// stop ends the sampling and returns the samples.
func (s *soakSampler) stop() []soakSample {
	close(s.done)
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}
