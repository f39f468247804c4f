package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// metric is one row of the tables: how to read it from a result.
type metric struct {
	name   string
	value  func(r *result) (float64, bool) // false: not applicable
	format string
}

func milliseconds(nanoseconds int64) float64 { return float64(nanoseconds) / 1e6 }

func tickRatio(r *result) (float64, bool) {
	if r.Fleet.Ticks.Expected == 0 {
		return 0, false
	}
	return float64(r.Fleet.Ticks.InOrder) / float64(r.Fleet.Ticks.Expected), true
}

func latency(q float64) func(r *result) (float64, bool) {
	return func(r *result) (float64, bool) {
		h := r.Fleet.TickLatency
		if h == nil || h.Count() == 0 {
			h = r.Fleet.OrderLatency
		}
		if h == nil || h.Count() == 0 {
			return 0, false
		}
		if q >= 1 {
			return milliseconds(h.Max()), true
		}
		return milliseconds(h.Quantile(q)), true
	}
}

func server(value func(r *result) float64) func(r *result) (float64, bool) {
	return func(r *result) (float64, bool) {
		if r.ServerWindowEnd == nil {
			return 0, false
		}
		return value(r), true
	}
}

// maxNodeKiB reads the largest of a per-node figure, in KiB.
func maxNodeKiB(perNode func(r *result) []float64) func(r *result) (float64, bool) {
	return func(r *result) (float64, bool) {
		if nodes := perNode(r); len(nodes) > 0 {
			return slices.Max(nodes) / 1024, true
		}
		return 0, false
	}
}

func orders(value func(s orderStats) uint64) func(r *result) (float64, bool) {
	return func(r *result) (float64, bool) {
		if r.PublishedOrders == 0 {
			return 0, false
		}
		return float64(value(r.Fleet.Orders)), true
	}
}

var metrics = []metric{
	{"connected", func(r *result) (float64, bool) { return float64(r.Fleet.Connected), true }, "%.0f"},
	{"failed", func(r *result) (float64, bool) { return float64(r.Fleet.Failed), true }, "%.0f"},
	{"disconnected early", func(r *result) (float64, bool) { return float64(r.Fleet.Disconnected), true }, "%.0f"},
	{"connect p50 ms", func(r *result) (float64, bool) {
		return milliseconds(r.Fleet.ConnectTime.Quantile(0.5)), r.Fleet.ConnectTime.Count() > 0
	}, "%.2f"},
	{"connect p99 ms", func(r *result) (float64, bool) {
		return milliseconds(r.Fleet.ConnectTime.Quantile(0.99)), r.Fleet.ConnectTime.Count() > 0
	}, "%.2f"},
	{"tick ratio", tickRatio, "%.4f"},
	{"tick min client ratio", func(r *result) (float64, bool) { return r.Fleet.ClientRatioMin, r.Fleet.Ticks.Expected > 0 }, "%.4f"},
	{"tick duplicates", func(r *result) (float64, bool) { return float64(r.Fleet.Ticks.Duplicates), true }, "%.0f"},
	{"tick out of order", func(r *result) (float64, bool) { return float64(r.Fleet.Ticks.OutOfOrder), true }, "%.0f"},
	{"tick skipped (conflated)", func(r *result) (float64, bool) { return float64(r.Fleet.Ticks.Skipped), true }, "%.0f"},
	{"foreign messages", func(r *result) (float64, bool) { return float64(r.Fleet.ForeignMessages), true }, "%.0f"},
	{"orders lost", orders(func(s orderStats) uint64 { return s.Lost }), "%.0f"},
	{"orders duplicated", orders(func(s orderStats) uint64 { return s.Duplicates }), "%.0f"},
	{"orders misrouted", orders(func(s orderStats) uint64 { return s.Misrouted }), "%.0f"},
	{"orders out of order", orders(func(s orderStats) uint64 { return s.OutOfOrder }), "%.0f"},
	{"deliveries/s", func(r *result) (float64, bool) { return r.DeliveriesPerSec, true }, "%.0f"},
	{"order latency p99 ms", func(r *result) (float64, bool) { return quantileMS(r.Fleet.OrderLatency, 0.99) }, "%.2f"},
	{"throttled clients", func(r *result) (float64, bool) { return float64(r.Fleet.Throttled), r.Fleet.Throttled > 0 }, "%.0f"},
	{"throttled deliveries/s", func(r *result) (float64, bool) {
		return float64(r.Fleet.ThrottledDeliveries) / r.WindowSeconds, r.Fleet.Throttled > 0 && r.WindowSeconds > 0
	}, "%.0f"},
	{"throttled latency p99 ms", func(r *result) (float64, bool) {
		h := r.Fleet.ThrottledLatency
		if r.Fleet.Throttled == 0 || h == nil || h.Count() == 0 {
			return 0, false
		}
		return milliseconds(h.Quantile(0.99)), true
	}, "%.2f"},
	{"latency p50 ms", latency(0.5), "%.2f"},
	{"latency p90 ms", latency(0.9), "%.2f"},
	{"latency p99 ms", latency(0.99), "%.2f"},
	{"latency p99.9 ms", latency(0.999), "%.2f"},
	{"latency max ms", latency(1), "%.2f"},
	{"server CPU-s / M deliveries", server(func(r *result) float64 { return r.ServerCPUPerMillion }), "%.2f"},
	{"server CPU % (1 core)", server(func(r *result) float64 { return r.ServerCPUPercent }), "%.1f"},
	{"server RSS MiB (end)", server(func(r *result) float64 { return float64(r.ServerWindowEnd.RSSBytes) / (1 << 20) }), "%.1f"},
	{"server RSS KiB / conn", server(func(r *result) float64 { return r.ServerRSSPerConn / 1024 }), "%.1f"},
	{"server RSS KiB / conn, max node", maxNodeKiB(func(r *result) []float64 { return r.NodeRSSPerConn }), "%.1f"},
	{"server RSS KiB / conn, idle", func(r *result) (float64, bool) { return r.IdleRSSPerConn / 1024, r.ServerIdle != nil }, "%.1f"},
	{"server RSS KiB / conn, idle, max node", maxNodeKiB(func(r *result) []float64 { return r.NodeIdleRSSPerConn }), "%.1f"},
	{"server RSS MiB (baseline)", func(r *result) (float64, bool) { return mebibytes(r.ServerBaseline) }, "%.1f"},
	{"server RSS MiB after close", func(r *result) (float64, bool) { return mebibytes(r.ServerAfterClose) }, "%.1f"},
	{"server CPU ms / connect", server(func(r *result) float64 { return r.ServerCPUPerConnectMS }), "%.3f"},
	{"loadgen CPU-s (window)", func(r *result) (float64, bool) { return r.LoadgenCPUSeconds, true }, "%.2f"},
}

// allMetrics is every row: metrics, then stormMetrics.
func allMetrics() []metric {
	return append(metrics[:len(metrics):len(metrics)], stormMetrics...)
}

// stormValue reads a storm figure; not applicable to other runs.
func stormValue(value func(r *result, s *stormOutcome) (float64, bool)) func(r *result) (float64, bool) {
	return func(r *result) (float64, bool) {
		if r.Storm == nil {
			return 0, false
		}
		return value(r, r.Storm)
	}
}

func seconds(from, to int64) (float64, bool) {
	if from == 0 || to == 0 {
		return 0, false
	}
	return float64(to-from) / 1e9, true
}

func quantileMS(h *Histogram, q float64) (float64, bool) {
	if h == nil || h.Count() == 0 {
		return 0, false
	}
	if q >= 1 {
		return milliseconds(h.Max()), true
	}
	return milliseconds(h.Quantile(q)), true
}

func mebibytes(sample *processSample) (float64, bool) {
	if sample == nil {
		return 0, false
	}
	return float64(sample.RSSBytes) / (1 << 20), true
}

// stormMetrics are the rows of a recovery storm (recoverystorm.go), left out
// of a comparison where no target has them.
var stormMetrics = []metric{
	{"storm: connections lost", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return float64(r.Fleet.Reconnects.Lost), true
	}), "%.0f"},
	{"storm: back recovered (same pid)", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return float64(r.Fleet.Reconnects.Recovered), true
	}), "%.0f"},
	{"storm: back as a fresh session", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return float64(r.Fleet.Reconnects.Fresh), true
	}), "%.0f"},
	{"storm: never back", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return float64(r.Fleet.Reconnects.NeverBack), true
	}), "%.0f"},
	{"storm: connection attempts", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return float64(r.Fleet.Reconnects.Attempts), true
	}), "%.0f"},
	{"storm: first attempt -> last back s", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return seconds(r.Fleet.Reconnects.FirstAttempt, r.Fleet.Reconnects.LastBack)
	}), "%.2f"},
	{"storm: kill -> last back s", stormValue(func(r *result, s *stormOutcome) (float64, bool) {
		return seconds(s.KilledAt, r.Fleet.Reconnects.LastBack)
	}), "%.2f"},
	{"storm: downtime p50 ms", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return quantileMS(r.Fleet.Reconnects.Downtime, 0.5)
	}), "%.0f"},
	{"storm: downtime p99 ms", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return quantileMS(r.Fleet.Reconnects.Downtime, 0.99)
	}), "%.0f"},
	{"storm: orders lost unrecovered", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return float64(r.Fleet.Orders.Unrecovered), true
	}), "%.0f"},
	{"storm: order latency p99 ms", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return quantileMS(r.Fleet.OrderLatency, 0.99)
	}), "%.2f"},
	{"storm: order latency max ms", stormValue(func(r *result, _ *stormOutcome) (float64, bool) {
		return quantileMS(r.Fleet.OrderLatency, 1)
	}), "%.2f"},
	{"storm: others' tick p99 before ms", stormValue(func(_ *result, s *stormOutcome) (float64, bool) {
		return quantileMS(s.TickBefore, 0.99)
	}), "%.2f"},
	{"storm: others' tick p99 during ms", stormValue(func(_ *result, s *stormOutcome) (float64, bool) {
		return quantileMS(s.TickStorm, 0.99)
	}), "%.2f"},
	{"storm: others' tick max during ms", stormValue(func(_ *result, s *stormOutcome) (float64, bool) {
		return quantileMS(s.TickStorm, 1)
	}), "%.2f"},
	{"storm: survivors CPU % before", stormValue(func(_ *result, s *stormOutcome) (float64, bool) {
		return cpuPercent(s.SurvivorsStart, s.SurvivorsKill, float64(s.KilledAt-s.WindowStart)/1e9)
	}), "%.1f"},
	{"storm: survivors CPU % during", stormValue(func(r *result, s *stormOutcome) (float64, bool) {
		// Sampled when every client was back, else when the wait ended.
		until := s.BackAt
		if until == 0 {
			until = s.KilledAt + int64(r.Config.StormTimeout)
		}
		return cpuPercent(s.SurvivorsKill, s.SurvivorsBack, float64(until-s.KilledAt)/1e9)
	}), "%.1f"},
	{"storm: survivors CPU-s during", stormValue(func(_ *result, s *stormOutcome) (float64, bool) {
		if s.SurvivorsKill == nil || s.SurvivorsBack == nil {
			return 0, false
		}
		return s.SurvivorsBack.CPUSeconds - s.SurvivorsKill.CPUSeconds, true
	}), "%.2f"},
	{"storm: survivors RSS MiB before", stormValue(func(_ *result, s *stormOutcome) (float64, bool) {
		return mebibytes(s.SurvivorsKill)
	}), "%.1f"},
	{"storm: survivors RSS MiB end", stormValue(func(_ *result, s *stormOutcome) (float64, bool) {
		return mebibytes(s.SurvivorsEnd)
	}), "%.1f"},
	{"storm: killed server RSS MiB", stormValue(func(_ *result, s *stormOutcome) (float64, bool) {
		return mebibytes(s.Victim)
	}), "%.1f"},
}

// describe is a one-line summary of what a run did.
func describe(r *result) string {
	c := r.Config
	window := c.Duration.String()
	if c.KillAfter > 0 {
		window = fmt.Sprintf("%.1fs", r.WindowSeconds)
	}
	text := fmt.Sprintf("%d clients (%d stalled), %d of %d symbols at %g/s, %s window",
		r.Fleet.Clients, r.Fleet.Stalled, c.PerClient, c.Symbols, c.Rate, window)
	if r.Fleet.Throttled > 0 {
		text += fmt.Sprintf(", %d throttled to %d ms (latency rows: the others)", r.Fleet.Throttled, c.ThrottleMs)
	}
	if c.OrdersRate > 0 {
		text += fmt.Sprintf(", %g orders/s", c.OrdersRate)
	}
	if c.Procs > 1 {
		text += fmt.Sprintf(", %d loadgen procs", c.Procs)
	}
	if c.KillAfter > 0 {
		text += fmt.Sprintf("; %d order clients on the first of %d servers, killed (-9) after %s", c.StormClients, len(c.Targets), c.KillAfter)
	}
	return text
}

// printResult writes one run as a two-column table.
func printResult(out io.Writer, r *result) {
	fmt.Fprintf(out, "%s\n%s; published %d ticks, %d orders; ramp %.1fs\n",
		r.Config.Label, describe(r), r.PublishedTicks, r.PublishedOrders, r.RampSeconds)
	if len(r.Fleet.FailReasons) > 0 {
		fmt.Fprintf(out, "failures: %v\n", r.Fleet.FailReasons)
	}
	table := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, m := range allMetrics() {
		if value, ok := m.value(r); ok {
			fmt.Fprintf(table, "%s\t"+m.format+"\t\n", m.name, value)
		}
	}
	table.Flush()
}

// compareMain prints results side by side: one block per scenario, one
// column per target. Labels are "<scenario>/<target>".
func compareMain(arguments []string, out io.Writer) error {
	flags := flag.NewFlagSet("loadgen compare", flag.ContinueOnError)
	baseline := flags.String("baseline", "node", "target the ratio column divides by")
	flags.Usage = func() {
		fmt.Fprintln(flags.Output(), "usage: loadgen compare [-baseline target] result.json...")
		flags.PrintDefaults()
	}
	if err := flags.Parse(arguments); err != nil {
		return err
	}
	var all []*result
	for _, path := range flags.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r := &result{}
		if err := json.Unmarshal(data, r); err != nil {
			return fmt.Errorf("loadgen compare: %s: %w", path, err)
		}
		all = append(all, r)
	}
	// Scenarios in the order they ran, not the order file names sort in.
	sort.SliceStable(all, func(a, b int) bool { return all[a].Started.Before(all[b].Started) })
	var scenarios, targets []string
	byLabel := map[string]*result{}
	for _, r := range all {
		scenario, target, ok := strings.Cut(r.Config.Label, "/")
		if !ok {
			scenario, target = r.Config.Label, "run"
		}
		if !contains(scenarios, scenario) {
			scenarios = append(scenarios, scenario)
		}
		if !contains(targets, target) {
			targets = append(targets, target)
		}
		byLabel[scenario+"/"+target] = r
	}
	sort.SliceStable(targets, func(a, b int) bool { return targets[a] != *baseline && targets[b] == *baseline })
	for _, scenario := range scenarios {
		var first *result
		for _, target := range targets {
			if r := byLabel[scenario+"/"+target]; r != nil && first == nil {
				first = r
			}
		}
		fmt.Fprintf(out, "\n== %s: %s\n", scenario, describe(first))
		table := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		header := "metric\t"
		for _, target := range targets {
			header += target + "\t"
		}
		for _, target := range targets {
			if target != *baseline {
				header += target + "/" + *baseline + "\t"
			}
		}
		fmt.Fprintln(table, header)
		for position, m := range allMetrics() {
			if position >= len(metrics) && !applicable(m, byLabel, scenario, targets) {
				continue
			}
			row := m.name + "\t"
			values := map[string]float64{}
			for _, target := range targets {
				r := byLabel[scenario+"/"+target]
				value, ok := 0.0, false
				if r != nil {
					value, ok = m.value(r)
				}
				if !ok {
					row += "-\t"
					continue
				}
				values[target] = value
				row += fmt.Sprintf(m.format, value) + "\t"
			}
			base, hasBase := values[*baseline]
			for _, target := range targets {
				if target == *baseline {
					continue
				}
				value, ok := values[target]
				if ok && hasBase && base != 0 {
					row += fmt.Sprintf("%.2fx", value/base) + "\t"
				} else {
					row += "-\t"
				}
			}
			fmt.Fprintln(table, row)
		}
		table.Flush()
	}
	fmt.Fprintf(out, "\n(%d results, compared %s)\n", len(byLabel), time.Now().Format(time.RFC3339))
	return nil
}

// applicable tells whether any target of scenario has a value for m.
func applicable(m metric, byLabel map[string]*result, scenario string, targets []string) bool {
	for _, target := range targets {
		if r := byLabel[scenario+"/"+target]; r != nil {
			if _, ok := m.value(r); ok {
				return true
			}
		}
	}
	return false
}

func contains(list []string, value string) bool {
	for _, item := range list {
		if item == value {
			return true
		}
	}
	return false
}
