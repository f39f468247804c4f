package engine

import (
	"time"

	"github.com/protrader5/ws-gateway/wire"
)

// upgradeTimeout is how long a probe WebSocket may take to finish an
// upgrade, the reference server's upgradeTimeout.
const upgradeTimeout = 10 * time.Second

// upgradeWaitLimit bounds how long the upgrade waits for a POST still being
// read, or for the probe's own last write, before it gives up.
const upgradeWaitLimit = time.Second

// The upgrade of a polling session to WebSocket (Engine.IO v4 §upgrade):
//
//  1. the client opens a WebSocket with the session's sid: the probe. It has
//     a clientConn of its own (probing = the session) that answers only the probe;
//  2. "2probe" -> "3probe", and the session's waiting GET answers noop so
//     that the client can pause polling;
//  3. "5": the session's pollingSink starts writing to the probe's socket,
//     the probe clientConn forwards every later read to the session and is
//     forgotten. The session keeps its id, user, subscriptions and timers.
//
// Later polling requests for the sid get 400 "Bad request"; another
// WebSocket for it is closed.

// startProbe makes c, a WebSocket just upgraded with session's sid, the
// session's probe, or closes it when the session is not in a state to be
// upgraded (already upgrading or upgraded, as the reference does).
func (e *Engine) startProbe(c *clientConn, response []byte, session *clientConn) {
	s := session.polling
	session.mu.Lock()
	refused := session.state != stateOpen || s.upgrading || s.upgraded
	if !refused {
		s.upgrading = true
	}
	session.mu.Unlock()
	c.mu.Lock()
	c.state = stateOpen
	c.sid = session.sid
	c.handshakeDeadline, c.graced = 0, false
	c.enqueueLocked(rawFrame(response), false, 0)
	if refused {
		c.enqueueLocked(rawFrame(wire.AppendClose(nil, wire.CloseNormal, "")), false, 0)
	} else {
		c.probing = session
		c.connectDeadline = timeNow() + int64(upgradeTimeout)
		c.scheduleNextLocked()
	}
	c.mu.Unlock()
	c.flush()
	if refused {
		c.closeWith(reasonTransportReplaced)
	}
}

// handleProbe handles a message on a probe WebSocket; false means the probe
// was closed.
func (e *Engine) handleProbe(c *clientConn, opCode wire.OpCode, message []byte) bool {
	session := c.probing
	switch {
	case opCode == wire.OpText && string(message) == "2probe":
		c.send(newTextFrame([]byte("3probe")))
		session.mu.Lock()
		if session.polling.waiter != nil {
			session.enqueueLocked(noopFrame, false, 0)
		}
		session.mu.Unlock()
		session.flush()
		return true
	case opCode == wire.OpText && string(message) == string(wire.PacketUpgrade):
		return e.completeUpgrade(c, session)
	case opCode == wire.OpText && string(message) == string(wire.PacketNoop):
		return true
	}
	// Anything else ends the probe, not the session.
	return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
}

// completeUpgrade moves session onto the probe's socket.
//
// Lock order: the session's mu, then the probe's. This is the only place
// that holds two clientConn locks, and the probe's lock is never held while
// taking a session's.
func (e *Engine) completeUpgrade(probe, session *clientConn) bool {
	s := session.polling
	deadline := time.Now().Add(upgradeWaitLimit)
	// From now on only this socket's reader may use the session's read
	// side: wait for a POST still being handled, and for the probe's own
	// writes (3probe), so that the socket has one writer.
	for {
		session.mu.Lock()
		probe.mu.Lock()
		busy := s.posting || probe.writing
		if !busy || time.Now().After(deadline) {
			break
		}
		probe.mu.Unlock()
		session.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	if session.state != stateOpen || s.upgraded || s.posting || probe.writing || probe.state != stateOpen {
		probe.mu.Unlock()
		session.mu.Unlock()
		return e.closeProtocol(probe, wire.CloseProtocolError, reasonProtocolError)
	}
	probe.state = stateClosed
	probe.probing = nil
	probe.forward = session
	probe.releaseQueueLocked()
	probe.mu.Unlock()
	waiter := s.waiter
	s.waiter = nil
	s.upgrading = false
	s.upgraded = true
	s.websocket.Store(&upgradedSink{probe.sink})
	session.parked = false
	session.mu.Unlock()
	if waiter != nil {
		waiter <- []byte{byte(wire.PacketNoop)}
	}
	// The probe's clientConn is done; its socket now belongs to the session.
	e.retire(probe)
	session.flush()
	return true
}

// probeEnded runs when a probe's socket closed before the upgrade finished:
// the session may be probed again.
func (e *Engine) probeEnded(session *clientConn) {
	session.mu.Lock()
	session.polling.upgrading = false
	session.mu.Unlock()
}
