package engine

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/protrader5/ws-gateway/wire"
)

// Room is one Socket.IO room of the gateway's model, as a backend that
// emits to rooms names it (docs/ingest.md, the emitter input). Exactly one
// of UserID and Symbol is set.
type Room struct {
	// UserID makes it a user room: that user's connected sockets.
	UserID string
	// Stream narrows a user room to the user's sockets subscribed to that
	// stream; zero means all of them, whatever they subscribed to.
	Stream Stream
	// Symbol makes it a market room: the symbol's subscribers.
	Symbol string
}

// Emission is one event for a set of rooms, delivered as given: the engine
// frames Event once and queues the same bytes to every socket in the
// audience. Unlike PublishUser, an emission has no recovery offset and is
// not kept for replay.
type Emission struct {
	// Event is the Socket.IO EVENT packet's data, a JSON array whose first
	// element is the event name: `["news",{"id":1}]`. The engine owns it
	// after the call and never re-encodes it.
	Event []byte
	// Rooms is the audience: every socket in at least one of them, each
	// once. Empty means every connected socket.
	Rooms []Room
	// Except removes every socket that is in any of these rooms.
	Except []Room
	// Volatile drops the event for a socket that cannot take it at once
	// (something is still queued or being written for it, or a polling
	// session has no GET waiting), as Socket.IO's volatile flag does.
	Volatile bool
}

// RoomPublisher is what package ingest hands room emissions to. The engine
// implements it; every method is safe for concurrent use.
type RoomPublisher interface {
	// Emit delivers emission, received from its source at received (the
	// zero time: now). It never blocks on a client socket; the sockets of
	// one user get emissions and user messages in publish order.
	Emit(emission Emission, received time.Time)
	// DisconnectSockets ends the namespace session of every socket in rooms
	// (every socket when rooms is empty) and in none of except, once what
	// was published before the call has been queued to them. With
	// closeTransport the connection is closed too (the client reconnects
	// by itself); without, the socket is sent a DISCONNECT packet, which
	// stock clients do not reconnect after. Neither session is recoverable.
	// It returns how many sockets it disconnected.
	DisconnectSockets(ctx context.Context, rooms, except []Room, closeTransport bool) int
}

var _ RoomPublisher = (*Engine)(nil)

// EmitStats counts what Emit and DisconnectSockets did on this node.
type EmitStats struct {
	// Emissions counts Emit calls.
	Emissions uint64
	// Queued counts sockets an emission was queued to.
	Queued uint64
	// VolatileDropped counts sockets a volatile emission skipped because
	// they could not take it at once.
	VolatileDropped uint64
	// Disconnected counts sockets DisconnectSockets ended.
	Disconnected uint64
}

// emitCounters are the atomics behind EmitStats.
type emitCounters struct {
	emissions, queued, volatileDropped, disconnected atomic.Uint64
}

// EmitStats returns the emission counters.
func (e *Engine) EmitStats() EmitStats {
	return EmitStats{
		Emissions:       e.emitted.emissions.Load(),
		Queued:          e.emitted.queued.Load(),
		VolatileDropped: e.emitted.volatileDropped.Load(),
		Disconnected:    e.emitted.disconnected.Load(),
	}
}

// audience is a set of rooms and the rooms excluded from it, with each
// market room's ring looked up once (nil when this node has never seen the
// symbol: nobody here is subscribed to it).
type audience struct {
	everyone    bool
	rooms       []Room
	rings       []*symbolRing
	except      []Room
	exceptRings []*symbolRing
}

func (e *Engine) resolveAudience(rooms, except []Room) audience {
	a := audience{everyone: len(rooms) == 0, rooms: rooms, except: except}
	a.rings = e.roomRings(rooms)
	a.exceptRings = e.roomRings(except)
	return a
}

func (e *Engine) roomRings(rooms []Room) []*symbolRing {
	rings := make([]*symbolRing, len(rooms))
	for i, room := range rooms {
		if room.Symbol != "" {
			rings[i] = e.ring(room.Symbol, false)
		}
	}
	return rings
}

// shards returns the shards that may hold a socket of the audience: a user
// room lives in its user's shard, market rooms and everyone in any shard.
func (e *Engine) audienceShards(a *audience) []*shard {
	if a.everyone {
		return e.shards
	}
	var picked []*shard
	for _, room := range a.rooms {
		if room.Symbol != "" {
			return e.shards
		}
		s := e.shardOf(room.UserID)
		if !containsShard(picked, s) {
			picked = append(picked, s)
		}
	}
	return picked
}

func containsShard(shards []*shard, s *shard) bool {
	for _, other := range shards {
		if other == s {
			return true
		}
	}
	return false
}

// Emit implements RoomPublisher.
func (e *Engine) Emit(emission Emission, received time.Time) {
	e.emitted.emissions.Add(1)
	packet := make([]byte, 0, 2+len(emission.Event))
	packet = append(packet, byte(wire.PacketMessage), '2')
	packet = append(packet, emission.Event...)
	frame := newTextFrame(packet)
	var stamp int64
	if !received.IsZero() {
		stamp = monotonicStamp(received)
	}
	frame.stamp(stamp)
	resolved := &emissionEvent{emission: emission, frame: frame}
	resolved.audience = e.resolveAudience(emission.Rooms, emission.Except)
	for _, s := range e.audienceShards(&resolved.audience) {
		s.post(shardEvent{emit: resolved})
	}
}

// emissionEvent is the shard event of one Emit.
type emissionEvent struct {
	emission Emission
	frame    *outboundFrame
	audience audience
}

// emitLocked queues the emission to this shard's sockets in its audience.
// The shard worker calls it with s.mu held, in order with the user
// messages of the same burst.
func (s *shard) emitLocked(event *emissionEvent) {
	counters := &s.engine.emitted
	s.forAudienceLocked(&event.audience, func(c *clientConn) {
		if event.emission.Volatile && !c.writableNow() {
			counters.volatileDropped.Add(1)
			return
		}
		if !c.enqueueUser(event.frame, 0) {
			s.closing = append(s.closing, c)
			return
		}
		counters.queued.Add(1)
		s.markDirty(c)
	})
}

// forAudienceLocked calls visit once for each of the shard's connected
// sockets in the audience. s.mu must be held; visit must not take it.
func (s *shard) forAudienceLocked(a *audience, visit func(c *clientConn)) {
	if a.everyone {
		for _, sockets := range s.users {
			for _, c := range sockets {
				if !s.excludedLocked(c, a) {
					visit(c)
				}
			}
		}
		return
	}
	// A socket in several rooms gets the event once; only then is the set
	// needed, and emissions to several rooms are rare.
	var seen map[*clientConn]struct{}
	if len(a.rooms) > 1 {
		seen = make(map[*clientConn]struct{})
	}
	consider := func(c *clientConn) {
		if seen != nil {
			if _, done := seen[c]; done {
				return
			}
			seen[c] = struct{}{}
		}
		if !s.excludedLocked(c, a) {
			visit(c)
		}
	}
	for i, room := range a.rooms {
		if room.Symbol != "" {
			if ring := a.rings[i]; ring != nil {
				for _, c := range s.subscribers[ring] {
					consider(c)
				}
			}
			continue
		}
		for _, c := range s.users[room.UserID] {
			// streams changes only with s.mu held too, so it can be read here.
			if room.Stream != 0 && !c.wants(room.Stream) {
				continue
			}
			consider(c)
		}
	}
}

// excludedLocked reports whether c is in one of the audience's except
// rooms. s.mu must be held (subs and streams are read under it).
func (s *shard) excludedLocked(c *clientConn, a *audience) bool {
	if len(a.except) == 0 {
		return false
	}
	c.mu.Lock()
	userID := c.userID
	c.mu.Unlock()
	for i, room := range a.except {
		if room.Symbol != "" {
			ring := a.exceptRings[i]
			if ring == nil {
				continue
			}
			for _, sub := range c.subs {
				if sub.ring == ring {
					return true
				}
			}
			continue
		}
		if room.UserID == userID && (room.Stream == 0 || c.wants(room.Stream)) {
			return true
		}
	}
	return false
}

// writableNow reports whether a frame queued now would go out at once:
// nothing is waiting or being written, and a polling session has a GET to
// answer with it.
func (c *clientConn) writableNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateOpen && c.queue == nil && !c.writing && !c.parked && !c.closing
}

// DisconnectSockets implements RoomPublisher.
func (e *Engine) DisconnectSockets(ctx context.Context, rooms, except []Room, closeTransport bool) int {
	// What was emitted before the request reaches the sockets first, as
	// it would on a Socket.IO server handling the two in order.
	e.deliverPending(ctx)
	a := e.resolveAudience(rooms, except)
	var targets []*clientConn
	for _, s := range e.audienceShards(&a) {
		s.mu.Lock()
		s.forAudienceLocked(&a, func(c *clientConn) { targets = append(targets, c) })
		s.mu.Unlock()
	}
	for _, c := range targets {
		if e.recovery != nil {
			// A server-side disconnect ends the session for good.
			e.recovery.left(c)
		}
		if closeTransport {
			c.closeWith(reasonServerDisconnect)
			continue
		}
		e.leave(c)
		c.mu.Lock()
		// The engine connection goes too unless the client joins again,
		// as after a token expiry.
		c.connectDeadline = timeNow() + int64(e.config.ConnectTimeout)
		c.scheduleNextLocked()
		c.mu.Unlock()
		c.send(newTextFrame(wire.AppendDisconnect(nil, "/")))
	}
	e.emitted.disconnected.Add(uint64(len(targets)))
	return len(targets)
}
