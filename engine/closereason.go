package engine

// CloseReason says why the server ended a connection. It is logged with key
// "reason" and counted in the metric protrader5_disconnects_total.
type CloseReason uint8

const (
	// ReasonClientClosed: the peer closed the TCP connection or sent a close.
	ReasonClientClosed CloseReason = iota
	// ReasonProtocolError: a malformed frame or packet.
	ReasonProtocolError
	// ReasonMessageTooBig: a message over MaxPayload.
	ReasonMessageTooBig
	// ReasonPingTimeout: no pong within PingTimeout of a ping.
	ReasonPingTimeout
	// ReasonConnectTimeout: no namespace joined within ConnectTimeout.
	ReasonConnectTimeout
	// ReasonHandshakeTimeout: the HTTP request head took longer than HandshakeTimeout.
	ReasonHandshakeTimeout
	// ReasonSlowConsumer: pending user data passed MaxPendingBytes.
	ReasonSlowConsumer
	// ReasonWriteTimeout: the socket accepted no bytes for WriteTimeout.
	ReasonWriteTimeout
	// ReasonWriteError: the socket failed on write.
	ReasonWriteError
	// ReasonShutdown: the server is draining.
	ReasonShutdown
	// ReasonTransportReplaced: the session moved to another transport.
	ReasonTransportReplaced
	// ReasonEventFlood: the socket sent events faster than allowed.
	ReasonEventFlood
	// ReasonInputFlood: the connection sent more before authenticating
	// than Config.PreAuthFrames/PreAuthBytes allow, or faster than it is
	// served (its unhandled input passed the bound).
	ReasonInputFlood
	// ReasonSessionTakenOver: a new connection recovered the socket's
	// session (the client gave up on this one).
	ReasonSessionTakenOver
	closeReasonCount
)

var closeReasonNames = [closeReasonCount]string{
	ReasonClientClosed:      "client_closed",
	ReasonProtocolError:     "protocol_error",
	ReasonMessageTooBig:     "message_too_big",
	ReasonPingTimeout:       "ping_timeout",
	ReasonConnectTimeout:    "connect_timeout",
	ReasonHandshakeTimeout:  "handshake_timeout",
	ReasonSlowConsumer:      "slow_consumer",
	ReasonWriteTimeout:      "write_timeout",
	ReasonWriteError:        "write_error",
	ReasonShutdown:          "shutdown",
	ReasonTransportReplaced: "transport_replaced",
	ReasonEventFlood:        "event_flood",
	ReasonInputFlood:        "input_flood",
	ReasonSessionTakenOver:  "session_taken_over",
}

// String returns the reason as logged and used as a metric label.
func (r CloseReason) String() string {
	if r < closeReasonCount {
		return closeReasonNames[r]
	}
	return "unknown"
}
