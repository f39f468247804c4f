package engine

import (
	"time"

	"github.com/protrader5/ws-gateway/wire"
)

// onTimer is called by the wheel for an entry scheduled at at. It acts on
// every deadline that is due and schedules the next one.
func (c *clientConn) onTimer(at, now int64) {
	c.mu.Lock()
	if c.timerAt != at || c.state == stateClosed || c.state == stateHandoff {
		c.mu.Unlock() // stale entry, or a connection the engine let go of
		return
	}
	c.timerAt = 0
	var (
		reason     = closeReasonCount // none
		sendPing   bool
		tokenEnded bool
	)
	switch c.state {
	case stateHandshake:
		if c.handshakeDeadline != 0 && now >= c.handshakeDeadline &&
			!c.graceLocked(now, &c.handshakeDeadline, c.engine.config.HandshakeTimeout) {
			reason = reasonHandshakeTimeout
		}
	case stateOpen:
		switch {
		case c.pongDeadline != 0 && now >= c.pongDeadline:
			if !c.graceLocked(now, &c.pongDeadline, c.engine.config.PingTimeout) {
				reason = reasonPingTimeout
			}
		case c.pongDeadline == 0 && c.nextPing != 0 && now >= c.nextPing:
			sendPing = true
			// The pong timer runs from when the ping was due, not from
			// when the wheel got to it, so that a session's lifetime does
			// not depend on the wheel's resolution.
			c.pongDeadline = c.nextPing + int64(c.engine.config.PingTimeout)
			c.nextPing = 0
		}
		if !c.connected && c.connectDeadline != 0 && now >= c.connectDeadline {
			reason = reasonConnectTimeout
		}
		if c.connected && c.tokenExpiry != 0 && now >= c.tokenExpiry {
			tokenEnded = true
			c.tokenExpiry = 0
			// The engine connection goes too unless the client joins again.
			c.connectDeadline = now + int64(c.engine.config.ConnectTimeout)
		}
	}
	if reason == closeReasonCount {
		c.scheduleNextLocked()
	}
	c.mu.Unlock()

	switch {
	case reason != closeReasonCount:
		c.closeWith(reason)
		return
	case tokenEnded:
		if c.engine.recovery != nil {
			// The session stays recoverable with a fresh token.
			c.engine.recovery.suspend(c)
		}
		c.engine.leave(c)
		c.engine.metrics.tokenExpiries.Add(1)
		c.send(newTextFrame(wire.AppendDisconnect(nil, "/")))
	}
	if sendPing {
		c.send(pingFrame)
	}
}

// graceLocked moves a deadline that passed, a request head's or a pong's,
// one period on when the client's bytes are already buffered and unread:
// a node working through a backlog of its own (a burst of connects on a
// saturated machine) may not have read, in time, a head or a pong its
// client sent in time. Closing such a client for the gateway's delay
// makes it connect again into the same backlog; the 100,000-socket scale
// run lost 7 % of its connects that way (bench/RESULTS.md). Once until the
// deadline is met, so that bytes kept pending stretch it by one period at
// most. The caller holds c.mu.
func (c *clientConn) graceLocked(now int64, deadline *int64, period time.Duration) bool {
	if c.graced || !c.inputPending() {
		return false
	}
	c.graced = true
	*deadline = now + int64(period)
	return true
}

// inputPending reports whether the transport holds bytes from the client
// that the engine has not read yet.
func (c *clientConn) inputPending() bool {
	pending, ok := c.sink.(interface{ inputPending() bool })
	return ok && pending.inputPending()
}

// scheduleNextLocked asks the wheel to come back at the earliest deadline.
func (c *clientConn) scheduleNextLocked() {
	next := int64(0)
	for _, deadline := range [...]int64{c.handshakeDeadline, c.nextPing, c.pongDeadline, c.connectDeadline, c.tokenExpiry} {
		if deadline != 0 && (next == 0 || deadline < next) {
			next = deadline
		}
	}
	if next != 0 {
		c.engine.wheel.scheduleLocked(c, next)
	}
}

// pongOverdueLocked reports whether the pong deadline has passed, even if
// the wheel has not visited yet: a request arriving after the deadline must
// find the session ended, whatever the wheel's resolution.
func (c *clientConn) pongOverdueLocked(now int64) bool {
	return c.pongDeadline != 0 && now >= c.pongDeadline
}

// pongReceived restarts the heartbeat: the next ping goes PingInterval after
// the pong, as the reference server does.
func (c *clientConn) pongReceived() {
	c.mu.Lock()
	if c.pongDeadline != 0 {
		c.pongDeadline, c.graced = 0, false
		c.nextPing = timeNow() + int64(c.engine.config.PingInterval)
		c.scheduleNextLocked()
	}
	c.mu.Unlock()
}
