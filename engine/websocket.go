package engine

import (
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/protrader5/ws-gateway/wire"
)

// maxFramesPerRead bounds the frames one call of readFrames handles before
// it returns to netpoll, which calls again while bytes remain.
const maxFramesPerRead = 256

// readFrames consumes the complete WebSocket frames netpoll has buffered.
// Each frame's bytes are released as soon as it is handled, and a
// connection whose unhandled input passes its limit (inputLimit) is closed:
// a client that sends faster than it is served cannot make netpoll buffer
// without bound. A partly received frame is waited for (netpoll's read
// timeout bounds the wait): returning with it buffered would make netpoll
// call again at once.
func (e *Engine) readFrames(c *clientConn, reader frameReader) {
	for frames := 0; reader.Len() > 0 && frames < maxFramesPerRead; frames++ {
		authenticated := c.authenticated()
		head, err := reader.Peek(2)
		if err != nil {
			c.closeWith(reasonClientClosed)
			return
		}
		size := wire.HeaderSize(head)
		if head, err = reader.Peek(size); err != nil {
			c.closeWith(reasonClientClosed)
			return
		}
		header, _, err := wire.ParseFrameHeader(head)
		maxFrame := e.maxFrame(authenticated)
		switch {
		case err != nil, !header.Masked, header.Rsv != 0:
			// RFC 6455 §5.1: client frames are masked; §5.2: no extension
			// was negotiated, so RSV bits must be zero.
			e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
			return
		case header.Length > maxFrame || int64(len(c.fragment))+header.Length > maxFrame:
			e.closeProtocol(c, wire.CloseMessageTooBig, reasonMessageTooBig)
			return
		case reader.Len() > e.inputLimit(c, authenticated):
			e.closeProtocol(c, wire.ClosePolicyViolation, reasonInputFlood)
			return
		case !authenticated && !e.chargePreAuth(c, int(header.Length)):
			e.closeProtocol(c, wire.ClosePolicyViolation, reasonInputFlood)
			return
		}
		total := size + int(header.Length)
		frame, err := reader.Peek(total)
		if err != nil {
			c.closeWith(reasonClientClosed)
			return
		}
		payload := frame[size:]
		ws.Cipher(payload, header.Mask, 0)
		ok := e.handleFrame(c, header, payload)
		// The payload aliases netpoll's buffer: nothing may keep it past here.
		if err := reader.Skip(total); err != nil || !ok {
			_ = reader.Release()
			return
		}
		_ = reader.Release()
		if c.forward != nil {
			// The probe just completed an upgrade: what follows belongs
			// to the session. forward is written only by this reader.
			c = c.forward
		}
	}
}

// handleFrame handles one frame; false means the connection was closed.
func (e *Engine) handleFrame(c *clientConn, header wire.FrameHeader, payload []byte) bool {
	switch header.OpCode {
	case wire.OpText, wire.OpBinary:
		if c.fragment != nil {
			// §5.4: a new data frame before the fragmented one ended.
			return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
		}
		if !header.Fin {
			c.fragment = append(make([]byte, 0, len(payload)*2), payload...)
			c.fragmentOp = header.OpCode
			return true
		}
		return e.handleData(c, header.OpCode, payload)
	case wire.OpContinuation:
		if c.fragment == nil {
			return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
		}
		c.fragment = append(c.fragment, payload...)
		if !header.Fin {
			return true
		}
		message, opCode := c.fragment, c.fragmentOp
		c.fragment = nil
		return e.handleData(c, opCode, message)
	case wire.OpPing:
		// RFC 6455 §5.5.3 lets a pong answer only the latest ping: keyed,
		// a flood of pings from a client that does not read replaces one
		// queued pong instead of growing the queue.
		c.sendKeyed(rawFrame(wire.AppendFrame(nil, wire.OpPong, payload)), webSocketPongKey)
		return true
	case wire.OpPong:
		return true
	case wire.OpClose:
		// RFC 6455 §7.4.1: an invalid close body (one byte, a code no peer
		// may send such as 1005, a reason that is not UTF-8) is a protocol
		// error, answered 1002 or 1007; a valid one is echoed.
		code, _, err := wire.ParseClosePayload(payload)
		switch {
		case err == wire.ErrCloseReasonNotUTF8:
			return e.closeProtocol(c, wire.CloseInvalidPayload, reasonProtocolError)
		case err != nil:
			return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
		case code == wire.CloseNoStatus:
			code = wire.CloseNormal
		}
		c.mu.Lock()
		open := c.state == stateOpen
		c.mu.Unlock()
		if open {
			c.send(rawFrame(wire.AppendClose(nil, code, "")))
		}
		c.closeWith(reasonClientClosed)
		return false
	default:
		return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
	}
}

// handleData handles one complete WebSocket message: one Engine.IO packet.
func (e *Engine) handleData(c *clientConn, opCode wire.OpCode, message []byte) bool {
	if c.probing != nil {
		// probing is written only by this reader.
		return e.handleProbe(c, opCode, message)
	}
	if opCode == wire.OpBinary {
		// A binary frame is a message packet without its type byte.
		return e.handlePacket(c, wire.Packet{Type: wire.PacketMessage, Data: message, Binary: true})
	}
	if !utf8.Valid(message) {
		return e.closeProtocol(c, wire.CloseInvalidPayload, reasonProtocolError)
	}
	packet, err := wire.ParsePacket(message)
	if err != nil {
		return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
	}
	return e.handlePacket(c, packet)
}

// handlePacket handles one Engine.IO packet from either transport; false
// means the connection was closed. On polling the WebSocket close frames
// that closeProtocol queues are dropped by the polling sink.
func (e *Engine) handlePacket(c *clientConn, packet wire.Packet) bool {
	switch packet.Type {
	case wire.PacketPong:
		c.pongReceived()
	case wire.PacketPing:
		// Engine.IO v4 clients only ping to probe an upgrade; a flood of
		// them is answered like WebSocket pings, latest only.
		c.sendKeyed(newTextFrame(wire.AppendPacket(nil, wire.Packet{Type: wire.PacketPong, Data: packet.Data})), engineIOPongKey)
	case wire.PacketMessage:
		if c.application != nil {
			if !c.application.handler.HandleMessage(Message{Data: packet.Data, Binary: packet.Binary}) {
				return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
			}
			return true
		}
		if packet.Binary && c.parser != parserJSON && c.pendingAttachments == 0 {
			// msgpack.go: a binary first packet means the msgpack parser.
			if !e.handleMsgpackMessage(c, packet.Data) {
				return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
			}
			return true
		}
		if packet.Binary {
			if !e.handleBinary(c) {
				return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
			}
			return true
		}
		switch c.parser {
		case parserUnknown:
			c.setParser(parserJSON)
		case parserMsgpack:
			// That parser sends every packet as binary.
			return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
		}
		if !e.handleMessage(c, packet.Data) {
			return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
		}
	case wire.PacketClose:
		if c.polling != nil {
			c.polling.markClientClosed()
		}
		c.closeWith(reasonClientClosed)
		return false
	case wire.PacketUpgrade, wire.PacketNoop:
	default:
		return e.closeProtocol(c, wire.CloseProtocolError, reasonProtocolError)
	}
	return true
}

// Queue keys of pong answers. Position refresh keys are odd (see
// PublishPositionRefresh), so these even ones never collide with them.
const (
	webSocketPongKey uint64 = 2
	engineIOPongKey  uint64 = 4
)

// sendKeyed queues a control answer that replaces a queued one with the
// same key, and writes it out.
func (c *clientConn) sendKeyed(frame *outboundFrame, key uint64) {
	c.mu.Lock()
	c.enqueueLocked(frame, false, key)
	c.mu.Unlock()
	c.flush()
}

// closeProtocol closes c for a violation with a WebSocket close frame, and
// returns false for the caller to stop reading.
func (e *Engine) closeProtocol(c *clientConn, code wire.StatusCode, reason closeReason) bool {
	c.send(rawFrame(wire.AppendClose(nil, code, reason.String())))
	c.closeWith(reason)
	return false
}
