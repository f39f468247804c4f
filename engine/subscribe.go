package engine

import (
	"slices"
	"strings"

	"github.com/protrader5/ws-gateway/wire"
)

// Locking for subscriptions (see LOCKING.md): clientConn.subs and clientConn.streams
// change only with both the shard's mu and the conn's mu held, so either lock
// is enough to read them. A subscription's slot is used only under shard.mu.

// join makes c a connected socket of userID in that user's shard.
func (e *Engine) join(c *clientConn, userID, socketID string) {
	s := e.shardOf(userID)
	s.mu.Lock()
	c.mu.Lock()
	// A socket that re-joins (DISCONNECT, then CONNECT again, possibly with
	// another user's token) left its old shard in leave; at worst that
	// shard's worker flushes it once more, which is harmless.
	c.userID = userID
	c.shard = s
	c.socketID = socketID
	c.connected = true
	c.mu.Unlock()
	s.users[userID] = append(s.users[userID], c)
	notePeak(s.users, &s.usersPeak)
	s.mu.Unlock()
	e.metrics.sockets.Add(1)
}

// leave undoes join: every subscription and stream of c goes.
func (e *Engine) leave(c *clientConn) {
	c.mu.Lock()
	s, userID, connected := c.shard, c.userID, c.connected
	c.mu.Unlock()
	if s == nil || !connected {
		return
	}
	s.mu.Lock()
	c.mu.Lock()
	if !c.connected {
		c.mu.Unlock()
		s.mu.Unlock()
		return
	}
	// Removed while c.subs still holds them: taking a throttled one out
	// of its bucket may move another of c's into its slot, and that one's
	// slot is updated in c.subs.
	removed := len(c.subs)
	for i := range c.subs {
		s.unsubscribeLocked(c, &c.subs[i])
	}
	c.subs = nil
	c.streams = 0
	c.connected = false
	c.mu.Unlock()
	sockets := s.users[userID]
	for i, other := range sockets {
		if other == c {
			last := len(sockets) - 1
			sockets[i] = sockets[last]
			sockets[last] = nil
			sockets = sockets[:last]
			break
		}
	}
	if len(sockets) == 0 {
		delete(s.users, userID)
		s.users = shrinkAfterDelete(s.users, &s.usersPeak)
	} else {
		s.users[userID] = sockets
	}
	s.mu.Unlock()
	e.metrics.sockets.Add(-1)
	e.metrics.subscriptions.Add(-int64(removed))
}

// removeSubscriberLocked removes the subscriber at slot of ring's list by
// moving the last one into its place.
func (s *shard) removeSubscriberLocked(ring *symbolRing, slot int) {
	list := s.subscribers[ring]
	last := len(list) - 1
	if slot < last {
		moved := list[last]
		list[slot] = moved
		for i := range moved.subs {
			if moved.subs[i].ring == ring {
				moved.subs[i].slot = int32(slot)
				break
			}
		}
	}
	list[last] = nil
	list = list[:last]
	if len(list) == 0 {
		delete(s.subscribers, ring)
		ring.shardMask.And(^(uint64(1) << s.index))
	} else {
		s.subscribers[ring] = list
	}
}

// refusal is an error answered to a client event (docs/protocol.md, refusal codes).
type refusal struct {
	code    string
	message string
	symbols []string // the offending symbols, for INVALID_SYMBOL
}

// normalizeSymbols upper-cases and validates symbols, dropping duplicates.
func normalizeSymbols(symbols []string) ([]string, *refusal) {
	normalized := make([]string, 0, len(symbols))
	var invalid []string
	seen := make(map[string]struct{}, len(symbols))
	for _, symbol := range symbols {
		upper := strings.ToUpper(symbol)
		if !wire.ValidSymbol(upper) {
			invalid = append(invalid, symbol)
			continue
		}
		if _, dup := seen[upper]; dup {
			continue
		}
		seen[upper] = struct{}{}
		normalized = append(normalized, upper)
	}
	if len(invalid) > 0 {
		return nil, &refusal{code: "INVALID_SYMBOL", message: "invalid symbols", symbols: invalid}
	}
	return normalized, nil
}

// subscribeMarket adds symbols to c's subscriptions, every tick, and
// returns all of them. See subscribeMarketThrottled.
func (e *Engine) subscribeMarket(c *clientConn, symbols []string) (now []string, unknown []string, failure *refusal) {
	return e.subscribeMarketThrottled(c, symbols, 0)
}

// subscribeMarketThrottled adds symbols to c's subscriptions with throttle
// (milliseconds, 0 = every tick) and returns all of them. The newest known
// tick of each new symbol goes out with the next flush; the symbols with
// none yet are returned as unknown for a snapshot read. A symbol already
// subscribed takes throttle as its new interval.
func (e *Engine) subscribeMarketThrottled(c *clientConn, symbols []string, throttle uint16) (now []string, unknown []string, failure *refusal) {
	c.mu.Lock()
	s := c.shard
	c.mu.Unlock()
	if s == nil {
		return nil, nil, &refusal{code: "NOT_CONNECTED", message: "socket is not connected"}
	}
	rings := make([]*symbolRing, 0, len(symbols))
	for _, symbol := range symbols {
		ring := e.ring(symbol, true)
		if ring == nil {
			e.metrics.symbolTableFull.Add(1)
			return nil, nil, &refusal{code: "TOO_MANY_SYMBOLS", message: "the server's symbol table is full"}
		}
		rings = append(rings, ring)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.connected {
		return nil, nil, &refusal{code: "NOT_CONNECTED", message: "socket is not connected"}
	}
	added := rings[:0]
	for _, ring := range rings {
		if c.subscriptionLocked(ring) == nil {
			added = append(added, ring)
		}
	}
	if len(c.subs)+len(added) > e.config.MaxSymbolsPerSocket {
		return nil, nil, &refusal{code: "TOO_MANY_SYMBOLS", message: "at most " + itoa(e.config.MaxSymbolsPerSocket) + " symbols per socket"}
	}
	for _, symbol := range symbols {
		for i := range c.subs {
			if c.subs[i].ring.name == symbol {
				s.rethrottleLocked(c, &c.subs[i], throttle)
			}
		}
	}
	// Grown once to what it holds: appended one by one, five
	// subscriptions took a slice of eight (64 B more per socket).
	c.subs = slices.Grow(c.subs, len(added))
	for _, ring := range added {
		seq := ring.seq.Load()
		lastSeq := uint64(0)
		if seq > 0 {
			lastSeq = seq - 1 // the newest tick goes out at once
			// as a snapshot: however old it is, that is not latency
			forgetLatency(ring.latest())
		} else {
			unknown = append(unknown, ring.name)
		}
		sub := subscription{ring: ring, lastSeq: lastSeq, throttle: throttle}
		s.indexLocked(c, &sub, seq)
		c.subs = append(c.subs, sub)
	}
	e.metrics.subscriptions.Add(int64(len(added)))
	return c.symbolsLocked(), unknown, nil
}

// indexLocked enters sub, of c, in the shard's index: the subscribers of
// its ring, or its throttle's bucket, where seq is the ring sequence it has
// been given (the newest tick, if any, goes out with the next flush). The
// caller holds s.mu and c.mu.
func (s *shard) indexLocked(c *clientConn, sub *subscription, seq uint64) {
	if sub.throttle != 0 {
		c.throttled++
		sub.slot = s.addThrottledLocked(c, sub.ring, sub.throttle, seq)
		sub.due = sub.lastSeq < seq
		return
	}
	list := s.subscribers[sub.ring]
	sub.slot = int32(len(list))
	s.subscribers[sub.ring] = append(list, c)
	sub.ring.shardMask.Or(uint64(1) << s.index)
}

// rethrottleLocked gives an existing subscription a new throttle. Its
// windows start again from now: a tick it has not been given goes out with
// the next flush (the one answering the event), the newest only. The
// caller holds s.mu and c.mu.
func (s *shard) rethrottleLocked(c *clientConn, sub *subscription, throttle uint16) {
	if sub.throttle == throttle {
		return
	}
	s.unsubscribeLocked(c, sub)
	sub.throttle, sub.due = throttle, false
	seq := sub.ring.seq.Load()
	if seq > 0 {
		// Whatever was skipped while throttled is superseded: only the
		// newest tick may follow.
		sub.lastSeq = max(sub.lastSeq, seq-1)
	}
	s.indexLocked(c, sub, seq)
}

// unsubscribeMarket removes symbols and returns those still subscribed.
func (e *Engine) unsubscribeMarket(c *clientConn, symbols []string) []string {
	c.mu.Lock()
	s := c.shard
	c.mu.Unlock()
	if s == nil {
		return []string{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	removed := 0
	for _, symbol := range symbols {
		for i := range c.subs {
			if c.subs[i].ring.name != symbol {
				continue
			}
			s.unsubscribeLocked(c, &c.subs[i])
			last := len(c.subs) - 1
			c.subs[i] = c.subs[last]
			c.subs[last] = subscription{}
			c.subs = c.subs[:last]
			removed++
			break
		}
	}
	e.metrics.subscriptions.Add(-int64(removed))
	return c.symbolsLocked()
}

// subscriptionLocked returns c's subscription to ring, or nil.
func (c *clientConn) subscriptionLocked(ring *symbolRing) *subscription {
	for i := range c.subs {
		if c.subs[i].ring == ring {
			return &c.subs[i]
		}
	}
	return nil
}

func (c *clientConn) symbolsLocked() []string {
	symbols := make([]string, len(c.subs))
	for i := range c.subs {
		symbols[i] = c.subs[i].ring.name
	}
	return symbols
}

// throttlesLocked returns the throttle of each throttled subscription of
// c, nil when none is.
func (c *clientConn) throttlesLocked() map[string]uint16 {
	var throttles map[string]uint16
	for i := range c.subs {
		if c.subs[i].throttle != 0 {
			if throttles == nil {
				throttles = make(map[string]uint16)
			}
			throttles[c.subs[i].ring.name] = c.subs[i].throttle
		}
	}
	return throttles
}

// setStream turns one of c's user streams on or off.
func (e *Engine) setStream(c *clientConn, stream Stream, on bool) bool {
	c.mu.Lock()
	s := c.shard
	c.mu.Unlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.connected {
		return false
	}
	if on {
		c.streams |= 1 << stream
	} else {
		c.streams &^= 1 << stream
	}
	return true
}
