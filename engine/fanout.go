package engine

import (
	"context"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// shard owns a slice of the connections (by user) with their subscription
// index, and one fanout worker. Publishers only append to its inbox; the
// worker marks subscribers and flushes each dirty connection once per burst,
// so nothing on the hot path takes a lock shared across shards.
type shard struct {
	engine *Engine
	index  int

	mu          sync.Mutex                    // guards subscribers and users; see LOCKING.md
	subscribers map[*symbolRing][]*clientConn // guarded by mu
	users       map[string][]*clientConn      // guarded by mu; connected sockets per user
	usersPeak   int                           // guarded by mu; see shrinkAfterDelete
	history     *history                      // guarded by mu; nil without recovery
	buckets     map[uint16]*throttleBucket    // guarded by mu; throttled subscriptions by throttleMs
	throttleDue atomic.Int64                  // written under mu; when the earliest bucket is due (monotonicNow), 0 = none

	inboxMu sync.Mutex
	inbox   []shardEvent // guarded by inboxMu
	wake    chan struct{}

	// Worker-owned.
	spare   []shardEvent
	dirty   []*clientConn
	closing []*clientConn
	tally   burstTally

	// lastTranslation is the msgpack translation of the last queued frame
	// a msgpack socket of this shard collected (msgpack.go), so that a frame
	// queued to many sockets is translated once per burst.
	lastTranslation atomic.Pointer[translationPair]

	deliveries [deliveryKinds]atomic.Uint64 // frames handed to sockets, by Frame.stream
	sentBytes  atomic.Uint64                // bytes the sockets took
	conflated  atomic.Uint64                // ticks skipped by conflation
	throttled  atomic.Int64                 // throttled subscriptions in buckets
	timerArmed atomic.Bool                  // the worker's throttle timer is running
	latency    histogram                    // delivery latency (latency.go)
	bursts     histogram                    // how long deliver takes, marking to the last flush
	_          [64]byte                     // keep hot counters of neighbouring shards apart
}

// shardEvent is one unit of fanout work: a symbol with new ticks, or one
// user message.
type shardEvent struct {
	ring   *symbolRing
	frame  *outboundFrame
	userID string
	stream Stream
	key    uint64
	// reached, when set, makes the event a barrier: it is closed once
	// every event posted before it has been queued to its sockets.
	reached chan struct{}
	// id is a recoverable user message's entry in its stream; record says
	// it goes into the shard's history.
	id     EntryID
	record bool
	// emit, when set, makes the event a room emission (emit.go).
	emit *emissionEvent
}

func newShard(engine *Engine, index int) *shard {
	s := &shard{
		engine:      engine,
		index:       index,
		subscribers: make(map[*symbolRing][]*clientConn),
		users:       make(map[string][]*clientConn),
		buckets:     make(map[uint16]*throttleBucket),
		wake:        make(chan struct{}, 1),
	}
	if config := engine.config; config.RecoveryWindow > 0 {
		s.history = newHistory(int64(config.RecoveryWindow), config.RecoveryMaxEvents, config.RecoveryMaxBytes/config.Shards)
	}
	return s
}

func (s *shard) post(event shardEvent) {
	s.inboxMu.Lock()
	s.inbox = append(s.inbox, event)
	s.inboxMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the shard's fanout worker.
func (s *shard) run(done <-chan struct{}) {
	coalesce := s.engine.config.WriteCoalesce
	timer := newThrottleTimer(&s.timerArmed)
	defer timer.set(0)
	for {
		select {
		case <-s.wake:
		case <-timer.timer.C:
			timer.fired()
		case <-done:
			return
		}
		if coalesce > 0 {
			time.Sleep(coalesce)
		}
		s.inboxMu.Lock()
		events := s.inbox
		s.inbox = s.spare[:0]
		s.inboxMu.Unlock()
		if len(events) > 0 {
			s.deliver(events)
		}
		clear(events)
		s.spare = events[:0]
		// Read without the lock: a burst costs one atomic load while
		// no throttle window has ended.
		due := s.throttleDue.Load()
		if now := monotonicNow(); due != 0 && now >= due {
			due = s.releaseThrottled(now)
		}
		timer.set(due)
	}
}

// deliver marks the subscribers of each event and then flushes every dirty
// connection once: a burst of ticks costs one write per connection.
func (s *shard) deliver(events []shardEvent) {
	s.mu.Lock()
	var barriers []chan struct{}
	start := time.Now()
	now := start.UnixNano()
	for i := range events {
		event := &events[i]
		if event.reached != nil {
			barriers = append(barriers, event.reached)
			continue
		}
		if event.emit != nil {
			s.emitLocked(event.emit)
			continue
		}
		if event.ring != nil {
			// Cleared before reading subscribers: a tick pushed from now on
			// queues the symbol again rather than being missed.
			event.ring.queued[s.index].Store(false)
			for _, c := range s.subscribers[event.ring] {
				s.markDirty(c)
			}
			continue
		}
		if event.record {
			s.history.record(event.userID, event.stream, event.id, event.frame, now)
		}
		// msgpack.go: the translation is built once for all the user's msgpack sockets.
		var translation *outboundFrame
		translated := false
		for _, c := range s.users[event.userID] {
			c.mu.Lock()
			wants, parser := c.wants(event.stream), c.parser
			c.mu.Unlock()
			if !wants {
				continue
			}
			frame := event.frame
			if parser == parserMsgpack {
				if !translated {
					translation, translated = s.engine.msgpackFrame(event.frame, true), true
				}
				if frame = translation; frame == nil {
					continue
				}
			}
			if !c.enqueueUser(frame, event.key) {
				s.closing = append(s.closing, c)
				continue
			}
			s.markDirty(c)
		}
	}
	s.mu.Unlock()
	s.flushDirty()
	s.bursts.observe(int64(time.Since(start)))
	for i, c := range s.closing {
		c.closeWith(reasonSlowConsumer)
		s.closing[i] = nil
	}
	s.closing = s.closing[:0]
	for _, reached := range barriers {
		close(reached)
	}
}

// flushDirty flushes every connection marked dirty, once each.
func (s *shard) flushDirty() {
	for i, c := range s.dirty {
		c.dirty.Store(false)
		c.flushCounting(&s.tally)
		s.dirty[i] = nil
	}
	s.dirty = s.dirty[:0]
	s.addTally(&s.tally)
}

// deliverPending waits until every shard has queued everything posted to
// it before the call, or until ctx ends or the workers have stopped.
func (e *Engine) deliverPending(ctx context.Context) {
	barriers := make([]chan struct{}, len(e.shards))
	for i, s := range e.shards {
		barriers[i] = make(chan struct{})
		s.post(shardEvent{reached: barriers[i]})
	}
	for _, reached := range barriers {
		select {
		case <-reached:
		case <-ctx.Done():
			return
		case <-e.done:
			return
		}
	}
}

func (s *shard) markDirty(c *clientConn) {
	if !c.dirty.Swap(true) {
		s.dirty = append(s.dirty, c)
	}
}

var userSeed = maphash.MakeSeed()

func (e *Engine) shardOf(userID string) *shard {
	return e.shards[maphash.String(userSeed, userID)%uint64(len(e.shards))]
}

// ring returns the symbol's ring, creating it when create is set and the
// table has room.
func (e *Engine) ring(symbol string, create bool) *symbolRing {
	e.symbolsMu.RLock()
	ring := e.symbols[symbol]
	e.symbolsMu.RUnlock()
	if ring != nil || !create {
		return ring
	}
	e.symbolsMu.Lock()
	defer e.symbolsMu.Unlock()
	if ring = e.symbols[symbol]; ring != nil {
		return ring
	}
	if len(e.symbols) >= e.config.MaxSymbols {
		return nil
	}
	ring = newSymbolRing(symbol, uint32(len(e.symbols)), len(e.shards))
	e.symbols[symbol] = ring
	return ring
}

// PublishTick implements Publisher.
func (e *Engine) PublishTick(symbol string, tick []byte) {
	e.publishTick(symbol, tick, false, 0)
}

// PublishTickReceived implements ReceivedPublisher.
func (e *Engine) PublishTickReceived(symbol string, tick []byte, received time.Time) {
	e.publishTick(symbol, tick, false, monotonicStamp(received))
}

// SeedTick implements Publisher.
func (e *Engine) SeedTick(symbol string, tick []byte) {
	e.publishTick(symbol, tick, true, 0)
}

// publishTick pushes tick into its ring; received is its monotonic
// receive stamp, 0 for now. A seed is a snapshot, never measured.
func (e *Engine) publishTick(symbol string, tick []byte, seedOnly bool, received int64) {
	ring := e.ring(symbol, true)
	if ring == nil {
		e.metrics.symbolTableFull.Add(1)
		return
	}
	frame := newEventFrame("market:data", tick)
	frame.stream = streamMarket
	if !seedOnly {
		frame.stamp(received)
	}
	if !ring.push(frame, seedOnly) {
		return
	}
	e.metrics.ticks.Add(1)
	mask := ring.shardMask.Load()
	for mask != 0 {
		index := bits.TrailingZeros64(mask)
		mask &^= 1 << index
		if !ring.queued[index].Swap(true) {
			e.shards[index].post(shardEvent{ring: ring})
		}
	}
}

// PublishUser implements Publisher.
func (e *Engine) PublishUser(stream Stream, userID string, message []byte) {
	e.publishUser(stream, userID, message, 0)
}

// PublishUserReceived implements ReceivedPublisher.
func (e *Engine) PublishUserReceived(stream Stream, userID string, message []byte, received time.Time) {
	e.publishUser(stream, userID, message, monotonicStamp(received))
}

func (e *Engine) publishUser(stream Stream, userID string, message []byte, received int64) {
	if e.recovery != nil {
		e.recovery.publish(stream, userID, message, EntryID{}, false, received)
		return
	}
	frame := newEventFrame(stream.EventName(), message)
	frame.stream = stream
	frame.stamp(received)
	e.metrics.userMessages[stream].Add(1)
	e.shardOf(userID).post(shardEvent{frame: frame, userID: userID, stream: stream})
}

// PublishUserEntry implements Publisher.
func (e *Engine) PublishUserEntry(stream Stream, userID string, message []byte, id EntryID) {
	e.publishUserEntry(stream, userID, message, id, 0)
}

// PublishUserEntryReceived implements ReceivedPublisher.
func (e *Engine) PublishUserEntryReceived(stream Stream, userID string, message []byte, id EntryID, received time.Time) {
	e.publishUserEntry(stream, userID, message, id, monotonicStamp(received))
}

func (e *Engine) publishUserEntry(stream Stream, userID string, message []byte, id EntryID, received int64) {
	if e.recovery != nil {
		e.recovery.publish(stream, userID, message, id, true, received)
		return
	}
	e.publishUser(stream, userID, message, received)
}

// HistoryFrom implements Publisher.
func (e *Engine) HistoryFrom(stream Stream, id EntryID) {
	if e.recovery != nil {
		e.recovery.historyFrom(stream, id)
	}
}

// ReleaseSession closes the socket holding pid's session on this node, if
// any: a SessionStore shared by several nodes calls it when another node
// took the session over.
func (e *Engine) ReleaseSession(pid string) {
	if e.recovery != nil {
		e.recovery.release(pid)
	}
}

// PublishPositionRefresh implements Publisher.
func (e *Engine) PublishPositionRefresh(userID, positionID string, message []byte) {
	frame := newEventFrame(StreamPositions.EventName(), message)
	frame.stream = StreamPositions
	frame.stamp(0)
	// The key only has to tell positions apart within one user's queue; a
	// zero hash is moved off zero, which means "no key".
	key := maphash.String(userSeed, positionID) | 1
	e.shardOf(userID).post(shardEvent{frame: frame, userID: userID, stream: StreamPositions, key: key})
}

// Subscribed implements Publisher.
func (e *Engine) Subscribed(stream Stream, userID string) bool {
	s := e.shardOf(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.users[userID] {
		c.mu.Lock()
		wants := c.wants(stream)
		c.mu.Unlock()
		if wants {
			return true
		}
	}
	return false
}

var _ ReceivedPublisher = (*Engine)(nil)
