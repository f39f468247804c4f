package engine

import "sync/atomic"

// A Go map keeps the table of the most entries it ever held: deleting
// entries frees neither its buckets nor what they point at being scanned.
// After a burst of connections has closed, the engine's per-connection maps
// (live connections, users per shard, addresses counted against the
// per-address limit, recoverable sessions by pid) would hold tables sized
// for the burst for the life of the process: about 200 B per former
// connection on the 100,000-socket scale run (bench/RESULTS.md). Their
// owners track each map's peak as they insert, and as they delete they
// copy the remaining entries into a map of their size once it holds under a
// quarter of its peak. The copy costs the entries that remain, at most a
// quarter of the peak, after at least three quarters of it were deleted:
// amortized, a constant per deletion, and no timer is needed.

// peakMapShrinkAbove is the peak below which a map is never copied: a
// small table is not worth the copy.
const peakMapShrinkAbove = 1024

// peakMapShrinkAboveForTests, when not zero, replaces peakMapShrinkAbove:
// tests lower it rather than open thousands of sockets. Atomic, because
// the connections of earlier tests may still be closing when it changes.
var peakMapShrinkAboveForTests atomic.Int64

// notePeak records len(m) in *peak after an insertion.
func notePeak[K comparable, V any](m map[K]V, peak *int) {
	*peak = max(*peak, len(m))
}

// shrinkAfterDelete returns m, or, when m holds under a quarter of its
// peak, a copy of m sized for what it holds (and records that size as the
// new peak). The caller replaces its map with the result.
func shrinkAfterDelete[K comparable, V any](m map[K]V, peak *int) map[K]V {
	threshold := peakMapShrinkAbove
	if lowered := peakMapShrinkAboveForTests.Load(); lowered != 0 {
		threshold = int(lowered)
	}
	if *peak <= threshold || len(m) >= *peak/4 {
		return m
	}
	// Copied one by one: maps.Clone would keep the large table.
	rebuilt := make(map[K]V, len(m))
	for key, value := range m {
		rebuilt[key] = value
	}
	*peak = len(rebuilt)
	return rebuilt
}
