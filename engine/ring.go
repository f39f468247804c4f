package engine

import (
	"sync"
	"sync/atomic"
)

// ringSize is how many recent frames a symbol keeps. A connection whose last
// delivered tick is older than that gets only the newest one (conflation).
// It bounds what one connection can have pending per symbol.
const ringSize = 16

// symbolRing is the per-symbol ring of preserialized market:data frames.
// One writer at a time (writeMu); readers load seq and slots without locks
// and never block the writer.
type symbolRing struct {
	name  string
	index uint32

	seq   atomic.Uint64 // sequence of the newest frame; 0 = no tick yet
	slots [ringSize]atomic.Pointer[outboundFrame]
	// msgpack holds the msgpack translations of slots, built on first use
	// (msgpackAt); each carries the seq of the frame it translates.
	msgpack [ringSize]atomic.Pointer[outboundFrame]

	writeMu sync.Mutex // serializes writers only

	// shardMask has bit s set while shard s has subscribers of this symbol;
	// publishers notify only those shards.
	shardMask atomic.Uint64
	// queued[s] is set while the symbol waits in shard s's inbox, so a burst
	// of ticks queues the symbol once.
	queued []atomic.Bool
}

func newSymbolRing(name string, index uint32, shards int) *symbolRing {
	return &symbolRing{name: name, index: index, queued: make([]atomic.Bool, shards)}
}

// push makes frame the newest tick. seedOnly pushes only into an empty ring.
func (r *symbolRing) push(frame *outboundFrame, seedOnly bool) bool {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	seq := r.seq.Load()
	if seedOnly && seq != 0 {
		return false
	}
	seq++
	frame.seq = seq
	r.slots[seq%ringSize].Store(frame)
	r.seq.Store(seq)
	return true
}

// latest returns the newest frame, or nil.
func (r *symbolRing) latest() *outboundFrame {
	seq := r.seq.Load()
	if seq == 0 {
		return nil
	}
	frame := r.slots[seq%ringSize].Load()
	if frame == nil || frame.seq != seq {
		return nil
	}
	return frame
}

// appendSince appends to frames the frames after lastSeq up to the newest, in
// order, and returns them with the new lastSeq and how many ticks were
// skipped. A reader that fell behind the ring gets the newest frame only.
// A slot overwritten while being read is skipped: a newer frame follows it.
func (r *symbolRing) appendSince(frames []*outboundFrame, lastSeq uint64) ([]*outboundFrame, uint64, uint64) {
	seq := r.seq.Load()
	if seq <= lastSeq {
		return frames, lastSeq, 0
	}
	from := lastSeq + 1
	var skipped uint64
	if seq-lastSeq > ringSize {
		skipped = seq - from
		from = seq
	}
	for s := from; s <= seq; s++ {
		frame := r.slots[s%ringSize].Load()
		if frame == nil || frame.seq != s {
			skipped++
			continue
		}
		frames = append(frames, frame)
	}
	return frames, seq, skipped
}

// appendLatest appends the newest frame when it is newer than lastSeq, and
// returns the new lastSeq. The ticks in between are superseded: a throttled
// subscription never gets them. Not inlined: it would swell the loop of
// collectTicksLocked that every unthrottled delivery runs.
//
//go:noinline
func (r *symbolRing) appendLatest(frames []*outboundFrame, lastSeq uint64) ([]*outboundFrame, uint64) {
	for {
		seq := r.seq.Load()
		if seq <= lastSeq {
			return frames, lastSeq
		}
		// The slot is stored before seq: it holds seq's frame, or a newer
		// one pushed meanwhile, and then the next load finds that one.
		if frame := r.slots[seq%ringSize].Load(); frame != nil && frame.seq == seq {
			return append(frames, frame), seq
		}
	}
}
