package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestFigureLimit(t *testing.T) {
	for _, test := range []struct {
		baseline, growth, slack, want float64
	}{
		{baseline: 100, growth: 10, slack: 0, want: 110},
		{baseline: 30, growth: 10, slack: 16, want: 46},     // the slack is more than 10 %
		{baseline: 5000, growth: 10, slack: 16, want: 5500}, // 10 % is more than the slack
		{baseline: 0, growth: 10, slack: 0, want: 0},
	} {
		if got := figureLimit(test.baseline, test.growth, test.slack); got != test.want {
			t.Errorf("figureLimit(%v, %v, %v) = %v; want %v", test.baseline, test.growth, test.slack, got, test.want)
		}
	}
}

// healthyOutcome is a soak in which nothing grew and nothing was lost.
func healthyOutcome() *soakOutcome {
	figures := settledFigures{soakFigures: soakFigures{RSSBytes: 100 << 20, HeapBytes: 40 << 20, LiveHeap: 40 << 20, Goroutines: 30, FDs: 5020}}
	return &soakOutcome{
		Thresholds:      defaultSoakThresholds,
		Clients:         5000,
		Baseline:        figures,
		End:             figures,
		CalmCores:       0.20,
		QuietCores:      0.22,
		PublishedOrders: 1000,
		Fleet: fleetResult{
			Connected: 5000,
			Orders:    orderStats{Published: 1000, Delivered: 1000},
		},
	}
}

func failedChecks(checks []soakCheck) []string {
	var names []string
	for _, check := range checks {
		if !check.Pass {
			names = append(names, check.Name)
		}
	}
	return names
}

func TestEvaluate(t *testing.T) {
	for _, test := range []struct {
		name   string
		change func(o *soakOutcome)
		want   string // the failing checks, comma-separated
	}{
		{name: "healthy", change: func(*soakOutcome) {}, want: ""},
		{name: "RSS within 10 %", change: func(o *soakOutcome) { o.End.RSSBytes = 110 << 20 }, want: ""},
		{name: "RSS past 10 %", change: func(o *soakOutcome) { o.End.RSSBytes = 111 << 20 }, want: "RSS"},
		{name: "live heap past 10 %", change: func(o *soakOutcome) { o.End.LiveHeap = 45 << 20 }, want: "live heap"},
		{name: "live heap lower", change: func(o *soakOutcome) { o.End.LiveHeap = 20 << 20 }, want: ""},
		{name: "goroutines within the slack", change: func(o *soakOutcome) { o.End.Goroutines = 46 }, want: ""},
		{name: "goroutines past the slack", change: func(o *soakOutcome) { o.End.Goroutines = 47 }, want: "goroutines"},
		{name: "fds within 10 %", change: func(o *soakOutcome) { o.End.FDs = 5522 }, want: ""},
		{name: "fds past 10 %", change: func(o *soakOutcome) { o.End.FDs = 5523 }, want: "open fds"},
		{name: "idle CPU", change: func(o *soakOutcome) { o.QuietCores = 0.26 }, want: "idle CPU"},
		{name: "an order lost", change: func(o *soakOutcome) { o.Fleet.Orders.Lost = 1 }, want: "orders"},
		{name: "an order duplicated", change: func(o *soakOutcome) { o.Fleet.Orders.Duplicates = 1 }, want: "orders"},
		{name: "an order out of order", change: func(o *soakOutcome) { o.Fleet.Orders.OutOfOrder = 1 }, want: "orders"},
		{name: "no order checked", change: func(o *soakOutcome) { o.Fleet.Orders = orderStats{} }, want: "orders"},
		{name: "no order published", change: func(o *soakOutcome) { o.Fleet.Orders, o.PublishedOrders = orderStats{}, 0 }, want: ""},
		{name: "a healthy client cut", change: func(o *soakOutcome) { o.Fleet.Disconnected = 1 }, want: "healthy clients"},
		{name: "a problem", change: func(o *soakOutcome) { o.Problems = []string{"the gateway process is gone"} }, want: "run"},
	} {
		t.Run(test.name, func(t *testing.T) {
			outcome := healthyOutcome()
			test.change(outcome)
			checks := outcome.evaluate()
			if got := strings.Join(failedChecks(checks), ","); got != test.want {
				t.Fatalf("failed checks %q; want %q\n%+v", got, test.want, checks)
			}
			if passed(checks) != (test.want == "") {
				t.Fatalf("passed = %v with failures %q", passed(checks), test.want)
			}
		})
	}
}

func TestPercentChange(t *testing.T) {
	for _, test := range []struct {
		baseline, end float64
		want          string
	}{
		{100, 110, "+10.0 %"},
		{100, 95, "-5.0 %"},
		{0, 5, "n/a"},
	} {
		if got := percentChange(test.baseline, test.end); got != test.want {
			t.Errorf("percentChange(%v, %v) = %q; want %q", test.baseline, test.end, got, test.want)
		}
	}
}

func TestPrintSoakReportVerdict(t *testing.T) {
	outcome := healthyOutcome()
	outcome.Samples = []soakSample{{Phase: "calm", soakFigures: outcome.Baseline.soakFigures}}
	var out bytes.Buffer
	printSoakReport(&out, outcome, outcome.evaluate())
	if !strings.HasSuffix(out.String(), "soak: PASS\n") {
		t.Fatalf("report of a healthy soak ends:\n%s", out.String())
	}
	outcome.End.LiveHeap *= 2
	outcome.QuietCores = 1
	out.Reset()
	printSoakReport(&out, outcome, outcome.evaluate())
	for _, want := range []string{"FAIL live heap", "+100.0 %", "soak: FAIL (live heap, idle CPU)\n"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, out.String())
		}
	}
}
