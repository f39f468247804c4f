package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// soakThresholds are the PASS criteria of a soak (bench/README.md).
type soakThresholds struct {
	// GrowthPercent is how far above its baseline each figure may end.
	GrowthPercent float64 `json:"growth_percent"`
	// CountSlack lets goroutines and descriptors end this many above their
	// baseline when that is more than GrowthPercent allows: a gateway at
	// rest has a few dozen goroutines, and a single one more is not 10 %.
	CountSlack float64 `json:"count_slack"`
	// IdleCPUCores is how much more CPU the gateway may use in the quiet
	// window after the storm than in the calm window before it, in cores.
	// Both windows carry the same healthy clients and the same feed, so the
	// difference is what the storm left behind.
	IdleCPUCores float64 `json:"idle_cpu_cores"`
}

var defaultSoakThresholds = soakThresholds{GrowthPercent: 10, CountSlack: 16, IdleCPUCores: 0.05}

// soakOutcome is everything a soak measured, the input of its verdict.
type soakOutcome struct {
	Thresholds      soakThresholds `json:"thresholds"`
	Clients         int            `json:"clients"`
	Samples         []soakSample   `json:"samples"`
	Baseline        settledFigures `json:"baseline"`        // end of the calm window
	End             settledFigures `json:"end"`             // end of the quiet window
	CalmCores       float64        `json:"calm_cpu_cores"`  // gateway CPU, second half of the calm window
	QuietCores      float64        `json:"quiet_cpu_cores"` // the same, second half of the quiet window
	CalmSeconds     float64        `json:"calm_seconds"`    // the span CalmCores covers
	QuietSeconds    float64        `json:"quiet_seconds"`
	StormSeconds    float64        `json:"storm_seconds"`
	PublishedTicks  uint64         `json:"published_ticks"`
	PublishedOrders uint64         `json:"published_orders"`
	Fleet           fleetResult    `json:"fleet"`
	Storm           stormStats     `json:"storm"`
	// GatewayCounters are the gateway's non-zero disconnect and refusal
	// counters at the end, as exposed: why it closed what it closed.
	GatewayCounters []string `json:"gateway_counters"`
	// Problems are failures that need no threshold: the gateway died, a
	// reading failed, the memory safety valve stopped the flood.
	Problems []string `json:"problems"`
}

// soakCheck is one line of the verdict.
type soakCheck struct {
	Name   string `json:"name"`
	Detail string `json:"detail"`
	Pass   bool   `json:"pass"`
}

// figureLimit is the highest value a figure may end at: GrowthPercent above
// its baseline, or slack above it when that is more.
func figureLimit(baseline, growthPercent, slack float64) float64 {
	return baseline + max(baseline*growthPercent/100, slack)
}

// percentChange is how much end differs from baseline, in percent of it.
func percentChange(baseline, end float64) string {
	if baseline == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f %%", 100*(end-baseline)/baseline)
}

// figureRow is one compared figure, in display units.
type figureRow struct {
	name            string
	baseline, end   float64
	slack           float64
	format, unitFor string
}

func (o *soakOutcome) figureRows() []figureRow {
	const mebibyte = 1 << 20
	return []figureRow{
		{name: "RSS", baseline: float64(o.Baseline.RSSBytes) / mebibyte, end: float64(o.End.RSSBytes) / mebibyte, format: "%.1f", unitFor: "MiB"},
		{name: "live heap", baseline: o.Baseline.LiveHeap / mebibyte, end: o.End.LiveHeap / mebibyte, format: "%.1f", unitFor: "MiB"},
		{name: "goroutines", baseline: o.Baseline.Goroutines, end: o.End.Goroutines, slack: o.Thresholds.CountSlack, format: "%.0f"},
		{name: "open fds", baseline: float64(o.Baseline.FDs), end: float64(o.End.FDs), slack: o.Thresholds.CountSlack, format: "%.0f"},
	}
}

// evaluate turns the measurements into checks; the soak passes when every
// check does.
func (o *soakOutcome) evaluate() []soakCheck {
	var checks []soakCheck
	for _, problem := range o.Problems {
		checks = append(checks, soakCheck{Name: "run", Detail: problem})
	}
	for _, row := range o.figureRows() {
		limit := figureLimit(row.baseline, o.Thresholds.GrowthPercent, row.slack)
		unit := ""
		if row.unitFor != "" {
			unit = " " + row.unitFor
		}
		checks = append(checks, soakCheck{
			Name: row.name,
			Detail: fmt.Sprintf("baseline "+row.format+", end "+row.format+" (%s), limit "+row.format+"%s",
				row.baseline, row.end, percentChange(row.baseline, row.end), limit, unit),
			Pass: row.end <= limit,
		})
	}
	excess := o.QuietCores - o.CalmCores
	checks = append(checks, soakCheck{
		Name: "idle CPU",
		Detail: fmt.Sprintf("%.3f cores late in the quiet window, %.3f late in the calm one (same clients, same feed): %+.3f, limit +%.3f",
			o.QuietCores, o.CalmCores, excess, o.Thresholds.IdleCPUCores),
		Pass: excess <= o.Thresholds.IdleCPUCores,
	})
	fleet := o.Fleet
	checks = append(checks, soakCheck{
		Name: "healthy clients",
		Detail: fmt.Sprintf("%d of %d connected, %d failed, %d disconnected by the server",
			fleet.Connected, o.Clients, fleet.Failed, fleet.Disconnected),
		Pass: fleet.Connected == o.Clients && fleet.Disconnected == 0,
	})
	orders := fleet.Orders
	bad := orders.Lost + orders.Duplicates + orders.OutOfOrder + orders.Misrouted
	checks = append(checks, soakCheck{
		Name: "orders",
		Detail: fmt.Sprintf("%d published to them: %d lost, %d duplicated, %d out of order, %d misrouted",
			orders.Published, orders.Lost, orders.Duplicates, orders.OutOfOrder, orders.Misrouted),
		Pass: bad == 0 && (orders.Published > 0 || o.PublishedOrders == 0),
	})
	return checks
}

// passed reports whether every check passed.
func passed(checks []soakCheck) bool {
	for _, check := range checks {
		if !check.Pass {
			return false
		}
	}
	return true
}

// printSample writes the progress line of one sample.
func printSample(out io.Writer, sample soakSample, deliveriesPerSecond float64, storm stormStats) {
	fmt.Fprintf(out, "soak: %6s %-5s RSS %7.1f MiB  heap %6.1f MiB  goroutines %5.0f  fds %6d  CPU %.2f cores  ticks+orders %6.0f/s",
		formatAt(sample.At), sample.Phase, float64(sample.RSSBytes)/(1<<20), sample.HeapBytes/(1<<20),
		sample.Goroutines, sample.FDs, sample.CPUCores, deliveriesPerSecond)
	if sample.Phase == "storm" {
		fmt.Fprintf(out, "  | %s", storm.short())
	}
	if sample.Note != "" {
		fmt.Fprintf(out, "  (%s)", sample.Note)
	}
	fmt.Fprintln(out)
}

func formatAt(at time.Duration) string {
	return fmt.Sprintf("%ds", int(at.Round(time.Second).Seconds()))
}

// printSoakReport writes the samples, the comparison and the verdict.
func printSoakReport(out io.Writer, o *soakOutcome, checks []soakCheck) {
	fmt.Fprintln(out, "\n== soak samples (gateway process)")
	table := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(table, "time\tphase\tRSS MiB\theap MiB\tgoroutines\tfds\tCPU cores\t")
	for _, sample := range o.Samples {
		fmt.Fprintf(table, "%s\t%s\t%.1f\t%.1f\t%.0f\t%d\t%.2f\t\n", formatAt(sample.At), sample.Phase,
			float64(sample.RSSBytes)/(1<<20), sample.HeapBytes/(1<<20), sample.Goroutines, sample.FDs, sample.CPUCores)
	}
	table.Flush()

	fmt.Fprintln(out, "\n== baseline (end of the calm window before the storm) vs end (end of the quiet window after it)")
	fmt.Fprintf(out, "   each the lowest of the readings taken one second apart at the end of its window (%d and %d of them)\n",
		o.Baseline.Readings, o.End.Readings)
	table = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(table, "figure\tbaseline\tend\tchange\tlimit\t")
	for _, row := range o.figureRows() {
		limit := figureLimit(row.baseline, o.Thresholds.GrowthPercent, row.slack)
		name := row.name
		if row.unitFor != "" {
			name += " " + row.unitFor
		}
		fmt.Fprintf(table, "%s\t"+row.format+"\t"+row.format+"\t%s\t"+row.format+"\t\n",
			name, row.baseline, row.end, percentChange(row.baseline, row.end), limit)
	}
	table.Flush()

	fleet := o.Fleet
	fmt.Fprintf(out, "\n== healthy clients (%d): published %d ticks, %d orders\n", o.Clients, o.PublishedTicks, o.PublishedOrders)
	if fleet.TickLatency != nil && fleet.TickLatency.Count() > 0 {
		fmt.Fprintf(out, "tick latency: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%d ticks, calm + storm + quiet)\n",
			milliseconds(fleet.TickLatency.Quantile(0.5)), milliseconds(fleet.TickLatency.Quantile(0.99)),
			milliseconds(fleet.TickLatency.Quantile(0.999)), milliseconds(fleet.TickLatency.Max()), fleet.TickLatency.Count())
	}
	ticks := fleet.Ticks
	fmt.Fprintf(out, "ticks: %d received, %d in order of %d expected, %d skipped (conflated), %d duplicated, %d out of order, %d foreign\n",
		ticks.Received, ticks.InOrder, ticks.Expected, ticks.Skipped, ticks.Duplicates, ticks.OutOfOrder, fleet.ForeignMessages)
	if fleet.OrderLatency != nil && fleet.OrderLatency.Count() > 0 {
		fmt.Fprintf(out, "order latency: p99 %.2f ms, max %.2f ms\n",
			milliseconds(fleet.OrderLatency.Quantile(0.99)), milliseconds(fleet.OrderLatency.Max()))
	}
	fmt.Fprintf(out, "\n== storm (%.0fs)\n%s", o.StormSeconds, o.Storm.long())

	if len(o.GatewayCounters) > 0 {
		fmt.Fprintf(out, "\n== gateway counters at the end (non-zero)\n%s\n", strings.Join(o.GatewayCounters, "\n"))
	}
	fmt.Fprintln(out, "\n== verdict")
	for _, check := range checks {
		mark := "ok  "
		if !check.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(out, "%s %-16s %s\n", mark, check.Name, check.Detail)
	}
	if passed(checks) {
		fmt.Fprintln(out, "soak: PASS")
		return
	}
	var failed []string
	for _, check := range checks {
		if !check.Pass {
			failed = append(failed, check.Name)
		}
	}
	fmt.Fprintf(out, "soak: FAIL (%s)\n", strings.Join(failed, ", "))
}
