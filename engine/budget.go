package engine

// What a connection may make the engine hold or do before it has
// authenticated, and how much unhandled input any connection may leave
// buffered. Nobody has been identified before CONNECT succeeds, so a
// socket gets a small allowance of frames and bytes (Config.PreAuthFrames,
// PreAuthBytes) that a stock client's handshake uses a fraction of; past
// it, the socket is closed with reason input_flood. After CONNECT the
// event rate limit (Config.EventRate) applies, and the input bound below.

// inputSlack is the unhandled input an authenticated connection may have
// buffered beyond one largest message, before it counts as a flood.
const inputSlack = 64 << 10

// maxFrameOverhead is the largest WebSocket frame header plus the Engine.IO
// type byte and some slack.
const maxFrameOverhead = 16

// authenticated reports whether c has joined the main namespace, or is
// served by an Application: the engine does not authenticate those, so its
// pre-authentication allowance does not apply to them.
func (c *clientConn) authenticated() bool {
	if c.application != nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// maxFrame is the largest WebSocket frame payload c may send now.
func (e *Engine) maxFrame(authenticated bool) int64 {
	largest := e.config.MaxPayload + maxFrameOverhead
	if !authenticated {
		largest = min(largest, e.config.PreAuthBytes)
	}
	return int64(largest)
}

// inputLimit is how many bytes of c's input may wait unhandled in netpoll's
// buffer: one largest frame and, once authenticated, inputSlack more.
// netpoll reads eagerly, so the buffer may pass it by one socket read
// before the next check.
func (e *Engine) inputLimit(c *clientConn, authenticated bool) int {
	if !authenticated {
		return int(e.maxFrame(false)) + maxFrameOverhead
	}
	return int(e.maxFrame(true)) + inputSlack
}

// chargePreAuth takes one frame (or polling packet) of size bytes from c's
// pre-authentication allowance and reports whether it was within it. It is
// called only by c's reader, before c has authenticated.
func (e *Engine) chargePreAuth(c *clientConn, size int) bool {
	c.preAuthFrames++
	c.preAuthBytes += size
	if c.preAuthFrames > e.config.PreAuthFrames || c.preAuthBytes > e.config.PreAuthBytes {
		return false
	}
	return true
}
