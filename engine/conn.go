package engine

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/protrader5/ws-gateway/wire"
)

// sink is where a connection's bytes go: a netpoll socket in production,
// memory in tests and benchmarks.
type sink interface {
	// writeNow writes what it can without waiting and returns how many
	// bytes went out; errWouldBlock means the rest must wait.
	writeNow(buffers [][]byte, iovecs []syscall.Iovec) (int, error)
	// writeWait writes all of buffers, waiting up to the write timeout.
	writeWait(buffers [][]byte) error
	// close ends the transport; it may call back into clientConn.closeWith.
	close()
}

type connState uint8

const (
	stateHandshake connState = iota // waiting for the HTTP request head
	stateOpen                       // Engine.IO open, WebSocket transport
	stateHandoff                    // handed to net/http
	stateClosed
)

// queued is one pending frame. key is non-zero for P&L refreshes, which a
// newer refresh of the same position replaces while still queued.
type queued struct {
	frame *outboundFrame
	key   uint64
	user  bool // counts against MaxPendingBytes
}

// subscription is one market symbol a socket follows.
type subscription struct {
	ring    *symbolRing
	lastSeq uint64 // newest tick delivered (or given up on)
	// slot is the index in shard.subscribers[ring], or in the members of
	// the shard's bucket of throttle when throttled (throttle.go).
	slot     int32
	throttle uint16 // milliseconds between ticks; 0 = every tick
	due      bool   // throttled: the next flush sends the newest tick
}

// clientConn is one client connection. Its fields are small on purpose: an idle
// connection has no goroutine and no queue.
//
// Read-side fields are used only by the goroutine netpoll runs OnRequest on
// (one at a time per connection). Everything under mu is shared with fanout
// workers, timers and the writer.
type clientConn struct {
	engine   *Engine
	id       uint64
	sid      string
	remoteIP string // the client's address (X-Forwarded-For from a trusted proxy), for per-IP limits
	sink     sink

	// polling is the long-polling transport of a session opened over HTTP
	// (nil for a WebSocket handshake); set before the clientConn is shared.
	polling *pollingSink
	// application is set when an Application serves this session instead
	// of the gateway's Socket.IO application (application.go). It is set
	// before the first message is read and used only by the reader.
	application *applicationConn

	// Read side.
	fragment           []byte
	fragmentOp         wire.OpCode
	pendingAttachments int
	headerToken        string // from Authorization: Bearer, until CONNECT
	partialHead        []byte // the request head's first bytes while the rest is awaited
	preAuthFrames      int    // frames (polling: packets) received before CONNECT succeeded
	preAuthBytes       int    // their payload bytes

	// dirty is set while the conn waits in its shard worker's flush list.
	dirty atomic.Bool

	mu           sync.Mutex
	state        connState      // guarded by mu
	writing      bool           // guarded by mu; one writer at a time
	parked       bool           // guarded by mu; the transport cannot take bytes now (a polling session with no GET waiting)
	closing      bool           // guarded by mu; the goodbye is queued: nothing more is queued or collected after it
	queue        *queueBuffer   // guarded by mu; nil while empty
	pendingBytes int            // guarded by mu; user bytes queued or in flight
	subs         []subscription // guarded by mu (and shard.mu to change)
	streams      uint8          // guarded by mu (and shard.mu to change); bit per Stream
	parser       clientParser   // guarded by mu; set by the reader at the first Socket.IO packet (msgpack.go)
	connected    bool           // guarded by mu; joined namespace "/"
	throttled    uint16         // guarded by mu (and shard.mu to change); how many of subs have a throttle
	socketID     string         // guarded by mu
	userID       string         // guarded by mu; set at CONNECT
	shard        *shard         // guarded by mu; set with userID
	pid          string         // guarded by mu; the recoverable session's private id, with recovery on
	sessionStart string         // guarded by mu; the offset the session began at

	// Upgrade (polling -> WebSocket), guarded by mu. probing is set on the
	// probe WebSocket's own clientConn: the session it wants to take over. forward
	// is set on it once the upgrade is done: the session whose frames this
	// socket now carries.
	probing *clientConn
	forward *clientConn

	// Deadlines in Unix nanoseconds, zero when unset; guarded by mu.
	nextPing          int64
	pongDeadline      int64
	connectDeadline   int64
	tokenExpiry       int64
	handshakeDeadline int64
	timerAt           int64  // when the wheel visits next; 0 = not scheduled
	timerSlot         uint16 // the wheel slot of the entry for timerAt
	graced            bool   // the pending deadline was moved once already (graceLocked)

	// Event rate limiting (token bucket), guarded by mu.
	eventTokens   float64
	eventRefill   int64
	eventRefusals int
}

func (c *clientConn) wants(stream Stream) bool { return c.streams&(1<<stream) != 0 }

// enqueueLocked appends frame to the queue. User frames count against
// MaxPendingBytes: when frame would pass it, nothing is queued and it
// reports false (the caller may flush and try once more).
func (c *clientConn) enqueueLocked(frame *outboundFrame, user bool, key uint64) bool {
	if c.state == stateClosed || c.closing {
		return true
	}
	if key != 0 && c.queue != nil {
		for i := range c.queue.items {
			if entry := &c.queue.items[i]; entry.key == key {
				if entry.user {
					c.addPendingLocked(frame.Len() - entry.frame.Len())
				}
				entry.frame = frame
				return true
			}
		}
	}
	if user {
		if c.pendingBytes+frame.Len() > c.engine.config.MaxPendingBytes {
			return false
		}
		c.addPendingLocked(frame.Len())
	}
	if c.queue == nil {
		c.queue = queuePool.Get().(*queueBuffer)
	}
	c.queue.items = append(c.queue.items, queued{frame: frame, key: key, user: user})
	return true
}

// enqueueUser queues a user frame. When the limit is reached it first
// writes out what it can (without waiting) and tries again; a connection
// that still cannot take it is a slow consumer and the caller closes it.
func (c *clientConn) enqueueUser(frame *outboundFrame, key uint64) bool {
	c.mu.Lock()
	ok := c.enqueueLocked(frame, true, key)
	c.mu.Unlock()
	if ok {
		return true
	}
	c.flush()
	c.mu.Lock()
	ok = c.enqueueLocked(frame, true, key)
	c.mu.Unlock()
	return ok
}

// send queues a frame that is not user data (acks, pings, control) and
// writes it out.
func (c *clientConn) send(frame *outboundFrame) {
	c.mu.Lock()
	c.enqueueLocked(frame, false, 0)
	c.mu.Unlock()
	c.flush()
}

// queueBuffer holds a connection's pending frames. Connections take one from
// queuePool when something is queued and give it back once it is written, so
// idle connections hold none.
type queueBuffer struct{ items []queued }

var queuePool = sync.Pool{New: func() any { return &queueBuffer{items: make([]queued, 0, 8)} }}

// releaseQueueLocked returns the queue buffer to the pool.
func (c *clientConn) releaseQueueLocked() {
	if c.queue == nil {
		return
	}
	clear(c.queue.items)
	c.queue.items = c.queue.items[:0]
	queuePool.Put(c.queue)
	c.queue = nil
}

// flushScratch is the per-flush working memory, pooled so that a flush
// allocates nothing.
type flushScratch struct {
	frames  []*outboundFrame
	buffers [][]byte
	iovecs  []syscall.Iovec
}

// release drops the frame references (so the pool keeps no frame alive)
// and returns scratch to the pool.
func (s *flushScratch) release() {
	clear(s.frames)
	clear(s.buffers)
	scratchPool.Put(s)
}

var scratchPool = sync.Pool{New: func() any {
	return &flushScratch{
		frames:  make([]*outboundFrame, 0, 64),
		buffers: make([][]byte, 0, 64),
		iovecs:  make([]syscall.Iovec, 0, maxIovecs),
	}
}}

// collectLocked moves everything pending into scratch: queued frames in
// order, then market frames newer than each subscription's last delivery.
// It returns the user bytes taken, which stay in pendingBytes until written.
func (c *clientConn) collectLocked(scratch *flushScratch) (userBytes int) {
	scratch.frames = scratch.frames[:0]
	if c.queue != nil {
		for _, entry := range c.queue.items {
			if entry.user {
				userBytes += entry.frame.Len()
			}
			if frame := c.forParserLocked(entry.frame); frame != nil {
				scratch.frames = append(scratch.frames, frame)
			}
		}
		c.releaseQueueLocked()
	}
	if !c.closing { // nothing may follow the goodbye
		c.collectTicksLocked(scratch)
	}
	scratch.buffers = scratch.buffers[:0]
	for _, frame := range scratch.frames {
		scratch.buffers = append(scratch.buffers, frame.WebSocket())
	}
	return userBytes
}

// collectTicksLocked appends the market frames newer than each
// subscription's last delivery; for a throttled one, only the newest, and
// only when its window has ended.
func (c *clientConn) collectTicksLocked(scratch *flushScratch) {
	if c.throttled != 0 {
		c.collectMixedLocked(scratch) // throttle.go
		return
	}
	// appendSinceLocked's body, written out: this loop runs for every
	// subscription of every flush, and a call (it is not inlined) is
	// measurable there.
	var skipped uint64
	for i := range c.subs {
		sub := &c.subs[i]
		var lost uint64
		if c.parser == parserMsgpack {
			scratch.frames, sub.lastSeq, lost = sub.ring.appendMsgpackSince(c.engine, scratch.frames, sub.lastSeq)
		} else {
			scratch.frames, sub.lastSeq, lost = sub.ring.appendSince(scratch.frames, sub.lastSeq)
		}
		skipped += lost
	}
	if skipped > 0 && c.shard != nil {
		c.shard.conflated.Add(skipped)
	}
}

// flush writes out what is pending. Only one goroutine writes to a
// connection at a time (writing); a caller that finds a writer busy leaves
// its frames to it. The write never blocks the caller: when the socket's
// buffer fills, the rest goes to a goroutine that waits for the socket and
// exists only until the queue is empty.
func (c *clientConn) flush() { c.flushCounting(nil) }

// flushCounting is flush that adds what it wrote to tally, when not nil,
// instead of to the shard's counters: the shard worker sums a whole burst
// and adds it once (burstTally).
func (c *clientConn) flushCounting(tally *burstTally) {
	c.mu.Lock()
	if c.writing || c.parked || c.state == stateClosed || c.state == stateHandoff {
		c.mu.Unlock()
		return
	}
	c.writing = true
	scratch := scratchPool.Get().(*flushScratch)
	defer scratch.release()
	for {
		if c.parked {
			// A polling GET took the last batch; the rest waits for the
			// next GET, still conflated in the rings.
			c.writing = false
			c.mu.Unlock()
			return
		}
		userBytes := c.collectLocked(scratch)
		if len(scratch.buffers) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		shard := c.shard
		c.mu.Unlock()
		written, err := c.sink.writeNow(scratch.buffers, scratch.iovecs)
		if shard != nil {
			shard.wrote(tally, scratch.frames, written)
		}
		if err == errWouldBlock {
			rest := remainingAfter(scratch.buffers, written)
			c.engine.metrics.writers.Add(1)
			go c.writeSlowly(rest, userBytes)
			return
		}
		if err != nil {
			c.closeWith(reasonWriteError)
			return
		}
		c.mu.Lock()
		c.addPendingLocked(-userBytes)
	}
}

// writeSlowly finishes a write the socket could not take at once, then keeps
// writing until the queue is empty, waiting for the socket each time.
// It is one of the writer goroutines that protrader5_writers counts; flush
// counted it before starting it.
func (c *clientConn) writeSlowly(buffers [][]byte, userBytes int) {
	defer c.engine.metrics.writers.Add(-1)
	scratch := scratchPool.Get().(*flushScratch)
	defer scratch.release()
	// frames are the frames of buffers, once they come from scratch: the
	// first buffers are the rest of a partial write, whose frames the
	// flush that started it has counted.
	var frames []*outboundFrame
	shard := c.currentShard()
	for {
		if err := c.sink.writeWait(buffers); err != nil {
			if err == errWriteTimeout {
				c.closeWith(reasonWriteTimeout)
			} else {
				c.closeWith(reasonWriteError)
			}
			return
		}
		if shard != nil {
			shard.sent(nil, frames, bufferBytes(buffers))
		}
		c.mu.Lock()
		c.addPendingLocked(-userBytes)
		if c.state == stateClosed || c.parked {
			c.writing = false
			c.mu.Unlock()
			return
		}
		userBytes = c.collectLocked(scratch)
		if len(scratch.buffers) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		shard = c.shard
		c.mu.Unlock()
		if shard != nil {
			shard.delivered(nil, scratch.frames)
		}
		buffers, frames = scratch.buffers, scratch.frames
	}
}

// currentShard returns c's shard, nil before CONNECT.
func (c *clientConn) currentShard() *shard {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shard
}

// bufferBytes is the total length of buffers.
func bufferBytes(buffers [][]byte) int {
	total := 0
	for _, buffer := range buffers {
		total += len(buffer)
	}
	return total
}

// addPendingLocked changes the user bytes queued or in flight, here and in
// the node's total (protrader5_pending_bytes). A closed connection's bytes
// left the total when it closed: a write finishing after that changes only
// its own count.
func (c *clientConn) addPendingLocked(delta int) {
	c.pendingBytes += delta
	if delta != 0 && c.state != stateClosed {
		c.engine.metrics.pendingBytes.Add(int64(delta))
	}
}

// closeWith ends the connection once, for reason. Every close is counted
// by reason (a slowloris closed by the handshake timeout too); only sessions
// that were open are logged (a client's own close at debug only).
func (c *clientConn) closeWith(reason closeReason) {
	c.mu.Lock()
	if c.state == stateClosed || c.state == stateHandoff {
		c.mu.Unlock()
		return
	}
	wasOpen := c.state == stateOpen
	c.addPendingLocked(-c.pendingBytes)
	c.state = stateClosed
	c.releaseQueueLocked()
	c.mu.Unlock()
	// Counted before the socket closes, so that whoever sees it close also
	// sees the count.
	c.engine.metrics.closed(reason)
	if wasOpen {
		c.engine.logCloseReason(c, reason)
	}
	if c.engine.recovery != nil {
		c.engine.recovery.closing(c, reason)
	}
	c.engine.retire(c)
	c.sink.close()
}

// timeNow is the engine's clock in Unix nanoseconds.
func timeNow() int64 { return time.Now().UnixNano() }
