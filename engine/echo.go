package engine

import (
	"time"

	"github.com/protrader5/ws-gateway/wire"
)

// ConformanceRawPath is where Config.Conformance serves raw Engine.IO: every
// message a client sends comes straight back, as the engine.io-protocol test
// suite expects of its server.
const ConformanceRawPath = "/engine.io/"

// conformanceNamespace is the extra namespace the socket.io-protocol test
// suite connects to.
const conformanceNamespace = "/custom"

// echoWriteGap separates the conformance application's back-to-back writes.
const echoWriteGap = 5 * time.Millisecond

// echoState is the read-side state of a connection served by the
// conformance application (Config.Conformance) instead of the product's.
// It is used only by whoever reads the connection (one reader at a time).
type echoState struct {
	raw bool // raw Engine.IO echo, no Socket.IO

	joined map[string]bool // Socket.IO namespaces joined
	// binary is an announced BINARY_EVENT waiting for its attachments: the
	// packet's text is copied, since reads alias the transport's buffer.
	binary      []byte
	expected    int
	attachments [][]byte
}

// newBinaryFrame frames data as one WebSocket binary message (a binary
// Engine.IO message; polling sends it as 'b' + base64).
func newBinaryFrame(data []byte) *Frame {
	frame := allocateFrame(wire.ServerFrameSize(len(data)))
	buffer := wire.AppendFrameHeader(frame.WebSocket()[:0], wire.OpBinary, len(data))
	frame.headerLen = uint8(len(buffer))
	_ = append(buffer, data...)
	return frame
}

// echoMessage handles one Engine.IO message for the conformance
// application; false means a protocol violation.
func (e *Engine) echoMessage(c *Conn, packet wire.Packet) bool {
	state := c.echo
	if state.raw {
		if packet.Binary {
			c.send(newBinaryFrame(packet.Data))
		} else {
			c.send(newTextFrame(wire.AppendPacket(nil, packet)))
		}
		return true
	}
	if packet.Binary {
		if state.binary == nil {
			return false
		}
		state.attachments = append(state.attachments, append([]byte(nil), packet.Data...))
		if len(state.attachments) == state.expected {
			text, attachments := state.binary, state.attachments
			state.binary, state.attachments, state.expected = nil, nil, 0
			parsed, err := wire.ParseSocketPacket(text)
			if err != nil {
				return false
			}
			return e.echoEvent(c, parsed, attachments)
		}
		return true
	}
	if state.binary != nil {
		return false // text while attachments were announced
	}
	parsed, err := wire.ParseSocketPacket(packet.Data)
	if err != nil {
		return false
	}
	switch parsed.Type {
	case wire.SocketConnect:
		e.echoConnect(c, parsed)
	case wire.SocketDisconnect:
		delete(state.joined, parsed.Namespace)
	case wire.SocketEvent, wire.SocketBinaryEvent:
		if parsed.Attachments > 0 {
			state.binary = append([]byte(nil), packet.Data...)
			state.expected = parsed.Attachments
			return true
		}
		return e.echoEvent(c, parsed, nil)
	case wire.SocketAck, wire.SocketBinaryAck:
	default:
		return false
	}
	return true
}

// echoConnect joins "/" or "/custom" without authentication and emits the
// CONNECT payload back as an "auth" event, as the suite's server does.
func (e *Engine) echoConnect(c *Conn, packet wire.SocketPacket) {
	if packet.Namespace != "/" && packet.Namespace != conformanceNamespace {
		c.send(newTextFrame(wire.AppendConnectError(nil, packet.Namespace, invalidNamespacePayload)))
		return
	}
	if c.echo.joined == nil {
		c.echo.joined = make(map[string]bool)
	}
	c.echo.joined[packet.Namespace] = true
	c.mu.Lock()
	c.connectDeadline = 0
	c.mu.Unlock()
	auth := packet.Data
	if len(auth) == 0 {
		auth = []byte("{}")
	}
	// The suite's client takes one message per wait and misses the second
	// of two that arrive in one read. The reference server's second write
	// waits for the first to drain; a short pause gives the same separation.
	c.send(newTextFrame(wire.AppendConnect(nil, packet.Namespace, newID())))
	authFrame := newTextFrame(wire.AppendEvent(nil, packet.Namespace, "auth", auth))
	time.AfterFunc(echoWriteGap, func() { c.send(authFrame) })
}

// echoEvent answers "message" with "message-back" and the same arguments,
// and "message-with-ack" with an ack of its arguments; attachments go back
// after the packet that announces them.
func (e *Engine) echoEvent(c *Conn, packet wire.SocketPacket, attachments [][]byte) bool {
	if !c.echo.joined[packet.Namespace] {
		return true
	}
	event, err := wire.ParseEvent(packet.Data)
	if err != nil {
		return false
	}
	var arguments []byte
	for i, argument := range event.Args {
		if i > 0 {
			arguments = append(arguments, ',')
		}
		arguments = append(arguments, argument...)
	}
	answer := wire.SocketPacket{Namespace: packet.Namespace, ID: wire.NoAckID, Attachments: len(attachments)}
	switch {
	case event.Name == "message":
		answer.Type = wire.SocketEvent
		answer.Data = []byte(`["message-back"`)
		if len(arguments) > 0 {
			answer.Data = append(append(answer.Data, ','), arguments...)
		}
		answer.Data = append(answer.Data, ']')
	case event.Name == "message-with-ack" && packet.ID != wire.NoAckID:
		answer.Type = wire.SocketAck
		answer.ID = packet.ID
		answer.Data = append(append([]byte{'['}, arguments...), ']')
	default:
		return true
	}
	if len(attachments) > 0 {
		answer.Type += wire.SocketBinaryEvent - wire.SocketEvent // EVENT->BINARY_EVENT, ACK->BINARY_ACK
	}
	text := wire.AppendSocketPacket([]byte{byte(wire.PacketMessage)}, answer)
	c.mu.Lock()
	c.enqueueLocked(newTextFrame(text), false, 0)
	for _, attachment := range attachments {
		c.enqueueLocked(newBinaryFrame(attachment), false, 0)
	}
	c.mu.Unlock()
	c.flush()
	return true
}
