package engine

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// histogram counts durations into fixed buckets with atomic adds only, so
// that the fanout path can observe without a lock and without allocating;
// prometheus.Histogram would do the same work behind an interface call and
// hot/cold bookkeeping the engine does not need. A scrape reads the counts
// into a const histogram (writeTo).
//
// Each shard keeps its own histograms, so that workers never share the
// cache lines they add to; the collector sums them.
type histogram struct {
	// counts[i] counts observations at most bucketBounds[i]; the last one
	// counts those above every bound (+Inf).
	counts [len(bucketBounds) + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// bucketBounds are the upper bounds, in nanoseconds, shared by every
// engine histogram: from 50µs (a tick fanned out on an idle node) to 5s (a
// backlog an operator must hear about).
var bucketBounds = [...]int64{
	int64(50 * time.Microsecond), int64(100 * time.Microsecond), int64(250 * time.Microsecond),
	int64(500 * time.Microsecond), int64(time.Millisecond), int64(2500 * time.Microsecond),
	int64(5 * time.Millisecond), int64(10 * time.Millisecond), int64(25 * time.Millisecond),
	int64(50 * time.Millisecond), int64(100 * time.Millisecond), int64(250 * time.Millisecond),
	int64(500 * time.Millisecond), int64(time.Second), int64(2500 * time.Millisecond),
	int64(5 * time.Second),
}

// observe counts one duration in nanoseconds. A negative one (a clock
// cannot go back, but a stamp from another clock could be ahead) counts
// as zero.
func (h *histogram) observe(nanoseconds int64) {
	nanoseconds = max(nanoseconds, 0)
	bucket := len(bucketBounds)
	for i, bound := range bucketBounds {
		if nanoseconds <= bound {
			bucket = i
			break
		}
	}
	h.counts[bucket].Add(1)
	h.sum.Add(nanoseconds)
}

// histogramSnapshot is the sum of histograms at one scrape.
type histogramSnapshot struct {
	counts [len(bucketBounds) + 1]uint64
	sum    int64
}

func (s *histogramSnapshot) add(h *histogram) {
	for i := range h.counts {
		s.counts[i] += h.counts[i].Load()
	}
	s.sum += h.sum.Load()
}

// count is the number of observations, computed from the buckets so that
// the count and the +Inf bucket always agree even while observations land.
func (s *histogramSnapshot) count() uint64 {
	var total uint64
	for _, n := range s.counts {
		total += n
	}
	return total
}

// metric returns the snapshot as a Prometheus histogram in seconds.
func (s *histogramSnapshot) metric(desc *prometheus.Desc) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bucketBounds))
	var cumulative uint64
	for i, bound := range bucketBounds {
		cumulative += s.counts[i]
		buckets[time.Duration(bound).Seconds()] = cumulative
	}
	return prometheus.MustNewConstHistogram(desc, s.count(), time.Duration(s.sum).Seconds(), buckets)
}

// processStart anchors the engine's monotonic stamps: a wall-clock step
// (NTP) between a message's receipt and its write must not show as latency.
var processStart = time.Now()

// monotonicNow is nanoseconds since processStart on the monotonic clock.
func monotonicNow() int64 { return int64(time.Since(processStart)) }

// monotonicStamp turns a receive time into a stamp comparable with
// monotonicNow. Zero is kept for "no stamp", so a stamp is at least 1.
func monotonicStamp(received time.Time) int64 {
	return max(int64(received.Sub(processStart)), 1)
}
