package engine

// A connection's life in the engine, the same for the three ways in (a
// netpoll socket, a TLS socket, a long-polling session):
//
//	accept / track   it is counted live and, for sockets, has until
//	                 HandshakeTimeout to send its request head;
//	handOff          a socket whose request is plain HTTP leaves the engine
//	                 for net/http: retired at once, its socket lives on there;
//	closeWith        everything else ends once, for a reason, and is retired.
//
// retire is the single place that lets go of what the engine holds for a
// connection: its timer wheel entry, its shard membership and
// subscriptions, its per-address limit count and its place in the live set.
// After retire nothing in the engine refers to the clientConn, so a test can count
// the wheel and the live set down to zero.

// accept starts the life of a socket accepted on the listener: it is live
// and must send a complete request head within HandshakeTimeout.
func (e *Engine) accept(c *clientConn) {
	c.mu.Lock()
	c.state = stateHandshake
	c.handshakeDeadline = timeNow() + int64(e.config.HandshakeTimeout)
	c.scheduleNextLocked()
	c.mu.Unlock()
	e.track(c)
	e.metrics.accepted.Add(1)
}

// track adds c to the live set that Shutdown closes and the connections
// gauge counts.
func (e *Engine) track(c *clientConn) {
	e.connsMu.Lock()
	e.conns[c] = struct{}{}
	notePeak(e.conns, &e.connsPeak)
	e.connsMu.Unlock()
	e.metrics.connections.Add(1)
}

// handOff takes c, whose request is plain HTTP, off the engine before its
// socket is given to net/http (which owns it from then on, under its own
// timeouts). It reports false when c was already closed.
func (e *Engine) handOff(c *clientConn) bool {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return false
	}
	c.state = stateHandoff
	c.handshakeDeadline = 0
	c.mu.Unlock()
	e.retire(c)
	return true
}

// retire lets go of everything the engine holds for c. It is idempotent.
func (e *Engine) retire(c *clientConn) {
	c.mu.Lock()
	e.wheel.cancelLocked(c)
	c.mu.Unlock()
	e.leave(c)
	e.limits.closed(c)
	e.connsMu.Lock()
	_, known := e.conns[c]
	delete(e.conns, c)
	e.conns = shrinkAfterDelete(e.conns, &e.connsPeak)
	e.connsMu.Unlock()
	if known {
		e.metrics.connections.Add(-1)
	}
}
