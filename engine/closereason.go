package engine

// closeReason says why the server ended a connection. It is logged with key
// "reason" and counted in the metric protrader5_disconnects_total.
type closeReason uint8

const (
	// reasonClientClosed: the peer closed the TCP connection or sent a close.
	reasonClientClosed closeReason = iota
	// reasonProtocolError: a malformed frame or packet.
	reasonProtocolError
	// reasonMessageTooBig: a message over MaxPayload.
	reasonMessageTooBig
	// reasonPingTimeout: no pong within PingTimeout of a ping.
	reasonPingTimeout
	// reasonConnectTimeout: no namespace joined within ConnectTimeout.
	reasonConnectTimeout
	// reasonHandshakeTimeout: the HTTP request head took longer than HandshakeTimeout.
	reasonHandshakeTimeout
	// reasonSlowConsumer: pending user data passed MaxPendingBytes.
	reasonSlowConsumer
	// reasonWriteTimeout: the socket accepted no bytes for WriteTimeout.
	reasonWriteTimeout
	// reasonWriteError: the socket failed on write.
	reasonWriteError
	// reasonShutdown: the server is draining.
	reasonShutdown
	// reasonTransportReplaced: the session moved to another transport.
	reasonTransportReplaced
	// reasonEventFlood: the socket sent events faster than allowed.
	reasonEventFlood
	// reasonInputFlood: the connection sent more before authenticating
	// than Config.PreAuthFrames/PreAuthBytes allow, or faster than it is
	// served (its unhandled input passed the bound).
	reasonInputFlood
	// reasonSessionTakenOver: a new connection recovered the socket's
	// session (the client gave up on this one).
	reasonSessionTakenOver
	// reasonServerDisconnect: a backend asked for the socket to be
	// disconnected (the emitter's disconnectSockets(true)).
	reasonServerDisconnect
	closeReasonCount
)

var closeReasonNames = [closeReasonCount]string{
	reasonClientClosed:      "client_closed",
	reasonProtocolError:     "protocol_error",
	reasonMessageTooBig:     "message_too_big",
	reasonPingTimeout:       "ping_timeout",
	reasonConnectTimeout:    "connect_timeout",
	reasonHandshakeTimeout:  "handshake_timeout",
	reasonSlowConsumer:      "slow_consumer",
	reasonWriteTimeout:      "write_timeout",
	reasonWriteError:        "write_error",
	reasonShutdown:          "shutdown",
	reasonTransportReplaced: "transport_replaced",
	reasonEventFlood:        "event_flood",
	reasonInputFlood:        "input_flood",
	reasonSessionTakenOver:  "session_taken_over",
	reasonServerDisconnect:  "server_disconnect",
}

// String returns the reason as logged and used as a metric label.
func (r closeReason) String() string {
	if r < closeReasonCount {
		return closeReasonNames[r]
	}
	return "unknown"
}
