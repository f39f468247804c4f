package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketBoundsContainValue(t *testing.T) {
	values := []int64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 123456789, math.MaxInt64}
	for range 10000 {
		values = append(values, rand.Int64N(1<<40))
	}
	for _, value := range values {
		index := bucketIndex(value)
		low, high := bucketBounds(index)
		if value < low || value > high {
			t.Fatalf("bucketIndex(%d) = %d with bounds [%d,%d]", value, index, low, high)
		}
		if width := high - low; float64(width) > float64(value)/histogramSubCount {
			t.Fatalf("bucket of %d is %d wide, more than 1/%d", value, width, histogramSubCount)
		}
	}
}

func TestQuantileAgainstSortedReference(t *testing.T) {
	cases := []struct {
		name   string
		sample func() int64
	}{
		{"uniform", func() int64 { return rand.Int64N(10_000_000) }},
		{"lognormal", func() int64 { return int64(math.Exp(rand.NormFloat64()*2 + 13)) }},
		{"small", func() int64 { return rand.Int64N(300) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			reference := make([]int64, 50000)
			for index := range reference {
				reference[index] = tc.sample()
				h.Record(reference[index])
			}
			slices.Sort(reference)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				want := reference[int(math.Ceil(q*float64(len(reference))))-1]
				got := h.Quantile(q)
				if got < want || float64(got-want) > float64(want)/histogramSubCount+1 {
					t.Errorf("Quantile(%v) = %d; want %d within 1/%d", q, got, want, histogramSubCount)
				}
			}
			if h.Max() != reference[len(reference)-1] || h.Min() != reference[0] {
				t.Errorf("Max, Min = %d, %d; want %d, %d", h.Max(), h.Min(), reference[len(reference)-1], reference[0])
			}
		})
	}
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	var first, second, together Histogram
	for index := range 20000 {
		value := rand.Int64N(1 << 30)
		if index%3 == 0 {
			first.Record(value)
		} else {
			second.Record(value)
		}
		together.Record(value)
	}
	// Through JSON, as -procs children deliver them.
	encoded, err := json.Marshal(&second)
	if err != nil {
		t.Fatal(err)
	}
	var decoded Histogram
	if err := json.Unmarshal(encoded, &decoded); err != nil {
		t.Fatal(err)
	}
	first.Merge(&decoded)
	if first != together {
		t.Fatalf("merged histogram differs: count %d vs %d", first.Count(), together.Count())
	}
	var empty Histogram
	empty.Merge(&together)
	if empty != together {
		t.Fatal("merge into empty histogram differs")
	}
}

func TestEmptyHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram reports samples")
	}
}
