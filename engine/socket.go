package engine

import (
	"encoding/json"
	"strconv"

	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/wire"
)

// handleMessage handles one Engine.IO message: a Socket.IO packet. It
// reports false when the connection must close for a protocol violation.
func (e *Engine) handleMessage(c *clientConn, data []byte) bool {
	if c.pendingAttachments > 0 {
		return false // text while binary attachments were announced
	}
	packet, err := wire.ParseSocketPacket(data)
	if err != nil {
		e.metrics.protocolErrors.Add(1)
		return false
	}
	switch packet.Type {
	case wire.SocketConnect:
		e.handleConnect(c, packet)
	case wire.SocketDisconnect:
		if packet.Namespace == "/" {
			if e.recovery != nil {
				e.recovery.left(c)
			}
			e.leave(c)
			c.mu.Lock()
			c.connectDeadline = timeNow() + int64(e.config.ConnectTimeout)
			c.scheduleNextLocked()
			c.mu.Unlock()
		}
	case wire.SocketEvent, wire.SocketBinaryEvent:
		return e.handleEvent(c, packet)
	case wire.SocketAck, wire.SocketBinaryAck:
		// The server never asks clients for acks; they still count
		// against the event rate.
		if packet.Type == wire.SocketBinaryAck {
			c.pendingAttachments = packet.Attachments
		}
		if _, flood := c.allowEvent(); flood {
			return e.closeEventFlood(c)
		}
	default:
		return false // CONNECT_ERROR is server-to-client only
	}
	return true
}

// handleBinary handles a binary Engine.IO message: an attachment of an
// announced binary packet, or a violation.
func (e *Engine) handleBinary(c *clientConn) bool {
	if c.pendingAttachments == 0 {
		return false
	}
	c.pendingAttachments--
	return true
}

var (
	invalidNamespacePayload = []byte(`{"message":"Invalid namespace"}`)
	authFailedPayloads      = map[auth.Code][]byte{
		auth.TokenMissing: []byte(`{"message":"Authentication failed","data":{"code":"TOKEN_MISSING"}}`),
		auth.TokenInvalid: []byte(`{"message":"Authentication failed","data":{"code":"TOKEN_INVALID"}}`),
		auth.TokenExpired: []byte(`{"message":"Authentication failed","data":{"code":"TOKEN_EXPIRED"}}`),
	}
)

// handleConnect authenticates a CONNECT on "/" (docs/protocol.md, authentication).
func (e *Engine) handleConnect(c *clientConn, packet wire.SocketPacket) {
	if packet.Namespace != "/" {
		c.send(newTextFrame(wire.AppendConnectError(nil, packet.Namespace, invalidNamespacePayload)))
		return
	}
	c.mu.Lock()
	connected := c.connected
	c.mu.Unlock()
	if connected {
		return // a repeated CONNECT changes nothing
	}
	token, code := c.headerToken, auth.Code("")
	var request connectRequest
	if len(packet.Data) > 0 {
		var credentials map[string]any
		if json.Unmarshal(packet.Data, &credentials) == nil {
			if value, present := credentials["token"]; present {
				text, isString := value.(string)
				if !isString {
					code = auth.TokenInvalid
				}
				token = text
			}
			// The stock client adds {pid, offset} to its auth when it
			// comes back; anything but strings is ignored.
			request.pid, _ = credentials["pid"].(string)
			request.offset, _ = credentials["offset"].(string)
		}
	}
	var identity auth.Identity
	if code == "" {
		if e.config.Auth == nil {
			code = auth.TokenInvalid
		} else {
			identity, code = e.config.Auth.Verify(token)
		}
	}
	if code != "" {
		e.metrics.authFailures(code)
		e.logAuthFailure(c, code)
		c.send(newTextFrame(wire.AppendConnectError(nil, "/", authFailedPayloads[code])))
		return
	}
	c.headerToken = ""
	if request.pid != "" && e.recovery == nil {
		e.metrics.recoveries(recoveryDisabled)
	}
	if request.pid != "" && e.recovery != nil && e.recoverSession(c, request, identity) {
		e.logConnected(c, true)
		return
	}
	socketID := newID()
	e.join(c, identity.UserID, socketID)
	c.mu.Lock()
	c.connectDeadline = 0
	c.tokenExpiry = identity.Expires.UnixNano()
	c.scheduleNextLocked()
	c.mu.Unlock()
	e.logConnected(c, false)
	if e.recovery == nil {
		c.send(newTextFrame(wire.AppendConnect(nil, "/", socketID)))
		return
	}
	pid := e.recovery.begin(c)
	c.send(newTextFrame(wire.AppendConnectRecoverable(nil, "/", socketID, pid)))
}

// recoverSession tries to give c back the session request names (the token
// was verified already); false means c gets a fresh session instead.
func (e *Engine) recoverSession(c *clientConn, request connectRequest, identity auth.Identity) bool {
	session, from, result := e.recovery.lookup(request, identity.UserID)
	if result == recoveryRecovered {
		// A socket of this node still holding the session (a half-open
		// connection) is closed before the replay is read.
		e.recovery.release(session.PID)
		if e.recovery.recover(c, session, from, identity.Expires.UnixNano()) {
			return true // counted by recover, before it wrote anything
		}
		result = recoveryOffsetTrimmed
	}
	e.metrics.recoveries(result)
	return false
}

// handleEvent runs one client event and answers it; false means the
// connection was closed. Every event counts against the socket's event
// rate, whatever its namespace or name, before anything else is done with
// it. A payload the reference parser refuses (not an array, no name, a
// reserved name) closes the connection as it does there; a numeric name,
// which it accepts, is ignored like any unknown event.
func (e *Engine) handleEvent(c *clientConn, packet wire.SocketPacket) bool {
	allowed, flood := c.allowEvent()
	if flood {
		return e.closeEventFlood(c)
	}
	event, err := wire.ParseEvent(packet.Data)
	switch {
	case err == wire.ErrInvalidEventName:
		e.metrics.unknownEvents.Add(1)
		return true
	case err != nil:
		e.metrics.protocolErrors.Add(1)
		return false
	}
	if packet.Type == wire.SocketBinaryEvent {
		// Binary arguments are not part of this API: the attachments are
		// read and dropped, the event itself ignored.
		c.pendingAttachments = packet.Attachments
		e.metrics.unknownEvents.Add(1)
		return true
	}
	c.mu.Lock()
	connected := c.connected && packet.Namespace == "/"
	c.mu.Unlock()
	if !connected {
		return true // events for a namespace the socket has not joined are ignored
	}
	if !allowed {
		e.reply(c, packet.ID, event.Name, nil, &refusal{code: "RATE_LIMITED", message: "too many events"})
		return true
	}
	var argument []byte
	if len(event.Args) > 0 {
		argument = event.Args[0]
	}
	var (
		result  any
		failure *refusal
	)
	switch event.Name {
	case "subscribe:market", "unsubscribe:market":
		result, failure = e.marketEvent(c, event.Name == "subscribe:market", argument)
	case "subscribe:orders", "unsubscribe:orders":
		result, failure = e.streamEvent(c, StreamOrders, event.Name[0] == 's')
	case "subscribe:positions", "unsubscribe:positions":
		result, failure = e.streamEvent(c, StreamPositions, event.Name[0] == 's')
	case "subscribe:notifications", "unsubscribe:notifications":
		result, failure = e.streamEvent(c, StreamNotifications, event.Name[0] == 's')
	default:
		e.metrics.unknownEvents.Add(1)
		return true
	}
	e.reply(c, packet.ID, event.Name, result, failure)
	if failure == nil && e.recovery != nil {
		e.recovery.changed(c)
	}
	if failure == nil && event.Name == "subscribe:positions" {
		e.sendPositions(c)
	}
	return true
}

type marketPayload struct {
	Symbols []string `json:"symbols"`
	// ThrottleMs is kept raw: a value that is not a plain integer in range
	// is refused, not rounded (parseThrottle).
	ThrottleMs json.RawMessage `json:"throttleMs,omitempty"`
}

type symbolsAnswer struct {
	OK      bool     `json:"ok"`
	Symbols []string `json:"symbols"`
	// ThrottleMs echoes a subscribe:market that gave one.
	ThrottleMs *uint16 `json:"throttleMs,omitempty"`
}

var (
	invalidMarketPayload = &refusal{code: "INVALID_PAYLOAD", message: "expected {symbols: [string, ...]}"}
	invalidThrottle      = &refusal{code: "INVALID_PAYLOAD", message: "throttleMs must be 0 or an integer from " +
		strconv.Itoa(int(MinThrottle.Milliseconds())) + " to " + strconv.Itoa(int(MaxThrottle.Milliseconds()))}
)

type okAnswer struct {
	OK bool `json:"ok"`
}

func (e *Engine) marketEvent(c *clientConn, subscribe bool, argument []byte) (any, *refusal) {
	var payload marketPayload
	if len(argument) == 0 || argument[0] != '{' || json.Unmarshal(argument, &payload) != nil || payload.Symbols == nil {
		return nil, invalidMarketPayload
	}
	var throttle uint16
	if subscribe && payload.ThrottleMs != nil {
		var valid bool
		if throttle, valid = parseThrottle(payload.ThrottleMs); !valid {
			return nil, invalidThrottle
		}
	}
	if len(payload.Symbols) > e.config.MaxSymbolsPerSocket {
		return nil, &refusal{code: "TOO_MANY_SYMBOLS", message: "at most " + strconv.Itoa(e.config.MaxSymbolsPerSocket) + " symbols per socket"}
	}
	symbols, failure := normalizeSymbols(payload.Symbols)
	if failure != nil {
		return nil, failure
	}
	if !subscribe {
		return symbolsAnswer{OK: true, Symbols: e.unsubscribeMarket(c, symbols)}, nil
	}
	now, unknown, failure := e.subscribeMarketThrottled(c, symbols, throttle)
	if failure != nil {
		return nil, failure
	}
	if len(unknown) > 0 && e.config.Snapshots != nil {
		e.fetchLastTicks(unknown)
	}
	answer := symbolsAnswer{OK: true, Symbols: now}
	if payload.ThrottleMs != nil {
		answer.ThrottleMs = &throttle
	}
	return answer, nil
}

func (e *Engine) streamEvent(c *clientConn, stream Stream, on bool) (any, *refusal) {
	if !e.setStream(c, stream, on) {
		return nil, &refusal{code: "NOT_CONNECTED", message: "socket is not connected"}
	}
	return okAnswer{OK: true}, nil
}

type errorObject struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Symbols []string `json:"symbols,omitempty"`
	Event   string   `json:"event,omitempty"`
}

type refusalAnswer struct {
	OK    bool        `json:"ok"`
	Error errorObject `json:"error"`
}

// reply answers an event: through its ack when it asked for one, else a
// refusal goes out as an "error" event and a success needs no answer.
func (e *Engine) reply(c *clientConn, ackID int64, eventName string, result any, failure *refusal) {
	if failure != nil {
		e.metrics.refusals(failure.code)
	}
	if ackID == wire.NoAckID {
		if failure == nil {
			c.flush() // ticks of a new subscription may be waiting
			return
		}
		// encoding/json escapes whatever the client sent (invalid UTF-8
		// included) before it goes back out.
		body, _ := json.Marshal(errorObject{Code: failure.code, Message: failure.message, Symbols: failure.symbols, Event: eventName})
		c.send(newTextFrame(wire.AppendEvent(nil, "/", "error", body)))
		return
	}
	if failure != nil {
		result = refusalAnswer{Error: errorObject{Code: failure.code, Message: failure.message, Symbols: failure.symbols}}
	}
	body, _ := json.Marshal(result)
	c.send(newTextFrame(wire.AppendAck(nil, "/", ackID, body)))
}

// allowEvent takes one token from the socket's event bucket. flood reports
// a socket that kept sending after more refusals than a burst: it must be
// closed. Only the reader calls it.
func (c *clientConn) allowEvent() (allowed, flood bool) {
	rate := c.engine.config.EventRate
	if rate <= 0 {
		return true, false
	}
	burst := 2 * rate
	now := timeNow()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eventRefill == 0 {
		c.eventTokens = burst
	} else {
		c.eventTokens = min(burst, c.eventTokens+float64(now-c.eventRefill)/1e9*rate)
	}
	c.eventRefill = now
	if c.eventTokens >= 1 {
		c.eventTokens--
		return true, false
	}
	c.eventRefusals++
	return false, c.eventRefusals > int(burst)
}

// closeEventFlood closes a socket that flooded events, and returns false for
// the caller to stop reading.
func (e *Engine) closeEventFlood(c *clientConn) bool {
	return e.closeProtocol(c, wire.ClosePolicyViolation, reasonEventFlood)
}
