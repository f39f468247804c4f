package engine

// What the write path counts: deliveries by stream, bytes sent, and the
// delivery latency of ticks and user messages. All of it is per shard:
// atomic counters read at scrape time (metrics.go), which the shard worker
// adds to once per burst (burstTally) and other writers once per write.
//
// Delivery latency runs from a message's receipt (its source's stamp, or
// its arrival in the engine when the source has none) to the first write
// that carries its frame to any socket. Measuring only the first write is
// the sampling that keeps the hot path at one atomic load per frame
// written: a frame's stamp is claimed once, with one clock read per write
// that claims any. What the other sockets of the same burst wait on top of
// it is the fanout burst duration (protrader5_fanout_burst_seconds).

// streamMarket marks market:data frames in outboundFrame.stream, beside the
// Streams; 0 is every frame that is not a message (acks, pings, ...).
const streamMarket Stream = streamCount

// deliveryKinds sizes the per-shard delivery counters: 0, the three
// Streams and streamMarket.
const deliveryKinds = streamCount + 1

// deliveryKindNames are the stream label values of
// protrader5_stream_deliveries_total, by outboundFrame.stream; 0 is not exported
// by stream (it is in protrader5_deliveries_total only).
var deliveryKindNames = [deliveryKinds]string{
	StreamOrders:        StreamOrders.String(),
	StreamPositions:     StreamPositions.String(),
	StreamNotifications: StreamNotifications.String(),
	streamMarket:        "market",
}

// stamp marks frame as received at monotonic time received (0: now).
func (f *outboundFrame) stamp(received int64) {
	if received == 0 {
		received = monotonicNow()
	}
	f.received.Store(received)
}

// forgetLatency clears the stamps of frames that go out as snapshots or
// replays: their age is not delivery latency, and a later live write of the
// same frame is not the first one either.
func forgetLatency(frames ...*outboundFrame) {
	for _, frame := range frames {
		if frame != nil && frame.received.Load() != 0 {
			frame.received.Store(0)
		}
	}
}

// burstTally is what a shard worker's flushes wrote during one burst,
// counted without atomics and added to the shard's counters once: a burst
// to 10,000 sockets then costs a handful of atomic adds, not 20,000.
type burstTally struct {
	deliveries [deliveryKinds]uint64
	bytes      uint64
}

// addTally adds tally to the shard's counters and clears it.
func (s *shard) addTally(tally *burstTally) {
	for kind, count := range tally.deliveries {
		if count > 0 {
			s.deliveries[kind].Add(count)
		}
	}
	if tally.bytes > 0 {
		s.sentBytes.Add(tally.bytes)
	}
	*tally = burstTally{}
}

// wrote counts a write of frames that took written bytes, into tally when
// not nil.
func (s *shard) wrote(tally *burstTally, frames []*outboundFrame, written int) {
	s.delivered(tally, frames)
	s.sent(tally, frames, written)
}

// delivered counts frames handed to the socket.
func (s *shard) delivered(tally *burstTally, frames []*outboundFrame) {
	if tally != nil {
		for _, frame := range frames {
			tally.deliveries[frame.stream]++
		}
		return
	}
	var counts [deliveryKinds]uint64
	for _, frame := range frames {
		counts[frame.stream]++
	}
	for kind, count := range counts {
		if count > 0 {
			s.deliveries[kind].Add(count)
		}
	}
}

// sent counts the bytes a write took, the first written of frames', and
// claims the latency of each frame they cover in full.
func (s *shard) sent(tally *burstTally, frames []*outboundFrame, written int) {
	if written <= 0 {
		return
	}
	if tally != nil {
		tally.bytes += uint64(written)
	} else {
		s.sentBytes.Add(uint64(written))
	}
	var now int64
	for _, frame := range frames {
		if written < frame.Len() {
			return // the rest goes out with the slow writer
		}
		written -= frame.Len()
		received := frame.received.Load()
		if received == 0 || !frame.received.CompareAndSwap(received, 0) {
			continue
		}
		if now == 0 {
			now = monotonicNow()
		}
		s.latency.observe(now - received)
	}
}
