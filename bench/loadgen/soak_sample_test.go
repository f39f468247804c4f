package main

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

const exposition = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_gc_duration_seconds{quantile="0.5"} 0.0002
go_gc_duration_seconds_count 7
go_memstats_heap_inuse_bytes 7.897088e+06
protrader5_disconnects_total{reason="client_closed"} 12
protrader5_disconnects_total{reason="ping_timeout"} 0
protrader5_disconnects_total{reason="slow_consumer"} 3
protrader5_handshake_refusals_total{reason="timeout"} 500
`

func TestParseMetrics(t *testing.T) {
	values, err := parseMetrics(strings.NewReader(exposition), "go_goroutines", "go_memstats_heap_inuse_bytes", "go_gc_duration_seconds_count")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"go_goroutines": 42, "go_memstats_heap_inuse_bytes": 7897088, "go_gc_duration_seconds_count": 7}
	if !reflect.DeepEqual(values, want) {
		t.Fatalf("parseMetrics = %v; want %v", values, want)
	}
	// A missing metric is an error: a zero would pass every threshold.
	if _, err := parseMetrics(strings.NewReader(exposition), "go_threads"); err == nil {
		t.Fatal("parseMetrics found go_threads in an exposition without it")
	}
}

func TestNonZeroSamples(t *testing.T) {
	lines, err := nonZeroSamples(strings.NewReader(exposition), "protrader5_disconnects_total", "protrader5_handshake_refusals_total")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`protrader5_disconnects_total{reason="client_closed"} 12`,
		`protrader5_disconnects_total{reason="slow_consumer"} 3`,
		`protrader5_handshake_refusals_total{reason="timeout"} 500`,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("nonZeroSamples = %q; want %q", lines, want)
	}
}

func TestCountDescriptorsSelf(t *testing.T) {
	before, err := countDescriptors(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	after, err := countDescriptors(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Fatalf("descriptors %d, then %d after opening one", before, after)
	}
}

// readingsOf serves heap figures in turn, each with its count of completed
// garbage collections.
func readingsOf(heaps []float64, collections []float64) func() (gatewayReading, error) {
	next := 0
	return func() (gatewayReading, error) {
		if next >= len(heaps) {
			return gatewayReading{}, errors.New("no more readings")
		}
		reading := gatewayReading{soakFigures: soakFigures{HeapBytes: heaps[next], RSSBytes: 1, Goroutines: 1, FDs: 1}, Collections: collections[next]}
		next++
		return reading, nil
	}
}

func TestSettle(t *testing.T) {
	noWait := func() error { return nil }
	// Two collections since the window began (at 5) by the second reading:
	// three readings from there on.
	settled, err := settle(3, 10, 3, 5, readingsOf([]float64{50, 20, 30, 99, 1}, []float64{6, 7, 7, 7, 8}), noWait)
	if err != nil || settled.Readings != 4 || !settled.Collected || settled.HeapBytes != 20 {
		t.Fatalf("settle = %+v, %v; want the lowest of 4 readings, 20, with the collections", settled, err)
	}
	// Both collections done before the readings: count readings are enough.
	settled, err = settle(3, 10, 3, 5, readingsOf([]float64{50, 20, 30, 99}, []float64{7, 7, 7, 7}), noWait)
	if err != nil || settled.Readings != 3 || !settled.Collected || settled.HeapBytes != 20 {
		t.Fatalf("settle = %+v, %v; want the lowest of 3 readings, 20, with the collections", settled, err)
	}
	// One collection is not enough: it reads on until the second, and three more.
	settled, err = settle(2, 10, 3, 5, readingsOf([]float64{50, 60, 70, 15, 10, 12, 1}, []float64{6, 6, 6, 7, 7, 7, 7}), noWait)
	if err != nil || settled.Readings != 6 || !settled.Collected || settled.HeapBytes != 10 {
		t.Fatalf("settle = %+v, %v; want 6 readings, the lowest 10, with the collections", settled, err)
	}
	// Never the collections: it stops at the most it may take.
	settled, err = settle(1, 3, 3, 5, readingsOf([]float64{50, 40, 45, 1}, []float64{5, 6, 6, 6}), noWait)
	if err != nil || settled.Readings != 3 || settled.Collected || settled.HeapBytes != 40 {
		t.Fatalf("settle = %+v, %v; want 3 readings without the collections, 40", settled, err)
	}
}

func TestLowerFigures(t *testing.T) {
	a := soakFigures{RSSBytes: 10, HeapBytes: 5, Goroutines: 30, FDs: 100}
	b := soakFigures{RSSBytes: 12, HeapBytes: 4, Goroutines: 31, FDs: 99}
	if got, want := lowerFigures(a, b), (soakFigures{RSSBytes: 10, HeapBytes: 4, Goroutines: 30, FDs: 99}); got != want {
		t.Fatalf("lowerFigures = %+v; want %+v", got, want)
	}
}
