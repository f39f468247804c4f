package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
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
	{"latency p50 ms", latency(0.5), "%.2f"},
	{"latency p90 ms", latency(0.9), "%.2f"},
	{"latency p99 ms", latency(0.99), "%.2f"},
	{"latency p99.9 ms", latency(0.999), "%.2f"},
	{"latency max ms", latency(1), "%.2f"},
	{"server CPU-s / M deliveries", server(func(r *result) float64 { return r.ServerCPUPerMillion }), "%.2f"},
	{"server CPU % (1 core)", server(func(r *result) float64 { return r.ServerCPUPercent }), "%.1f"},
	{"server RSS MiB (end)", server(func(r *result) float64 { return float64(r.ServerWindowEnd.RSSBytes) / (1 << 20) }), "%.1f"},
	{"server RSS KiB / conn", server(func(r *result) float64 { return r.ServerRSSPerConn / 1024 }), "%.1f"},
	{"server CPU ms / connect", server(func(r *result) float64 { return r.ServerCPUPerConnectMS }), "%.3f"},
	{"loadgen CPU-s (window)", func(r *result) (float64, bool) { return r.LoadgenCPUSeconds, true }, "%.2f"},
}

// describe is a one-line summary of what a run did.
func describe(r *result) string {
	c := r.Config
	text := fmt.Sprintf("%d clients (%d stalled), %d of %d symbols at %g/s, %s window",
		r.Fleet.Clients, r.Fleet.Stalled, c.PerClient, c.Symbols, c.Rate, c.Duration)
	if c.OrdersRate > 0 {
		text += fmt.Sprintf(", %g orders/s", c.OrdersRate)
	}
	if c.Procs > 1 {
		text += fmt.Sprintf(", %d loadgen procs", c.Procs)
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
	for _, m := range metrics {
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
		for _, m := range metrics {
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

func contains(list []string, value string) bool {
	for _, item := range list {
		if item == value {
			return true
		}
	}
	return false
}
