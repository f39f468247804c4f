package main

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// histogramSubBits sets the precision of Histogram: every power-of-two range
// is split into 2^histogramSubBits linear buckets, so a recorded value is
// known within 1/128 (0.8 %) of itself, like an HDR histogram with two
// significant decimal digits, in a fixed 59 KiB whatever the sample count.
const histogramSubBits = 7

const (
	histogramSubCount    = 1 << histogramSubBits
	histogramBucketCount = (64-histogramSubBits)*histogramSubCount + histogramSubCount
)

// Histogram counts non-negative int64 samples (nanoseconds here) in
// log-linear buckets. Record is safe for concurrent use (atomic adds); every
// other method must only run once recording has stopped (after a
// sync.WaitGroup or a channel receive that orders it after the writers).
type Histogram struct {
	counts [histogramBucketCount]uint64
	total  uint64
	sum    uint64
	max    int64
	min    int64 // stored as value+1 so the zero Histogram means "no sample"
}

// bucketIndex maps v >= 0 to its bucket. Values below 2^(subBits+1) have a
// bucket each; above, the top subBits+1 significant bits select the bucket.
func bucketIndex(v int64) int {
	u := uint64(v)
	length := bits.Len64(u)
	if length <= histogramSubBits+1 {
		return int(u)
	}
	shift := length - histogramSubBits - 1
	return shift*histogramSubCount + int(u>>shift)
}

// bucketBounds returns the smallest and largest value that map to index.
func bucketBounds(index int) (low, high int64) {
	if index < 2*histogramSubCount {
		return int64(index), int64(index)
	}
	shift := index/histogramSubCount - 1
	top := uint64(index - shift*histogramSubCount)
	low64 := top << shift
	return int64(low64), int64(low64 + (1 << shift) - 1)
}

// Record adds one sample; negative values count as 0 (clock steps).
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	atomic.AddUint64(&h.counts[bucketIndex(v)], 1)
	atomic.AddUint64(&h.total, 1)
	atomic.AddUint64(&h.sum, uint64(v))
	for {
		old := atomic.LoadInt64(&h.max)
		if v <= old || atomic.CompareAndSwapInt64(&h.max, old, v) {
			break
		}
	}
	for {
		old := atomic.LoadInt64(&h.min)
		if (old != 0 && v+1 >= old) || atomic.CompareAndSwapInt64(&h.min, old, v+1) {
			break
		}
	}
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest sample exactly, or 0 when empty.
func (h *Histogram) Max() int64 { return h.max }

// Min returns the smallest sample exactly, or 0 when empty.
func (h *Histogram) Min() int64 {
	if h.min == 0 {
		return 0
	}
	return h.min - 1
}

// Mean returns the arithmetic mean, or 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.total)
}

// Quantile returns the value at quantile q (0..1): the highest value of the
// bucket holding the ceil(q*count)-th sample, clamped to the exact min and
// max, so it over-states by at most one bucket width (0.8 %).
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for index := range h.counts {
		seen += h.counts[index]
		if seen >= rank {
			_, high := bucketBounds(index)
			return max(min(high, h.max), h.Min())
		}
	}
	return h.max
}

// Merge adds other's samples to h; the result is exactly what recording both
// sample sets into one histogram would give.
func (h *Histogram) Merge(other *Histogram) {
	if other.total == 0 {
		return
	}
	for index, count := range other.counts {
		h.counts[index] += count
	}
	if h.total == 0 || other.Min() < h.Min() {
		h.min = other.min
	}
	h.total += other.total
	h.sum += other.sum
	h.max = max(h.max, other.max)
}

// histogramJSON is the sparse wire form used between loadgen processes.
type histogramJSON struct {
	Buckets [][2]uint64 `json:"buckets"` // [index, count], only non-zero
	Sum     uint64      `json:"sum"`
	Max     int64       `json:"max"`
	Min     int64       `json:"min"`
}

func (h *Histogram) toJSON() histogramJSON {
	out := histogramJSON{Sum: h.sum, Max: h.max, Min: h.min, Buckets: [][2]uint64{}}
	for index, count := range h.counts {
		if count != 0 {
			out.Buckets = append(out.Buckets, [2]uint64{uint64(index), count})
		}
	}
	return out
}

func histogramFromJSON(in histogramJSON) *Histogram {
	h := &Histogram{sum: in.Sum, max: in.Max, min: in.Min}
	for _, bucket := range in.Buckets {
		if bucket[0] < histogramBucketCount {
			h.counts[bucket[0]] += bucket[1]
			h.total += bucket[1]
		}
	}
	return h
}

// MarshalJSON and UnmarshalJSON let results carry histograms so that
// -procs children merge exactly in the parent.
func (h *Histogram) MarshalJSON() ([]byte, error) { return jsonMarshal(h.toJSON()) }

// UnmarshalJSON replaces h with the decoded histogram.
func (h *Histogram) UnmarshalJSON(data []byte) error {
	var in histogramJSON
	if err := jsonUnmarshal(data, &in); err != nil {
		return err
	}
	*h = *histogramFromJSON(in)
	return nil
}
