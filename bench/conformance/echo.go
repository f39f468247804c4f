package main

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/wire"
)

// The paths and namespace the suites use.
const (
	// rawPath serves raw Engine.IO (the engine.io-protocol suite): every
	// message comes straight back.
	rawPath = "/engine.io/"
	// socketIOPath serves the Socket.IO echo (the socket.io-protocol suite).
	socketIOPath = "/socket.io/"
	// customNamespace is the namespace the socket.io-protocol suite joins
	// besides "/".
	customNamespace = "/custom"
)

// writeGap separates the Socket.IO echo's back-to-back writes (see
// socketIOEcho.connect).
const writeGap = 5 * time.Millisecond

var invalidNamespace = []byte(`{"message":"Invalid namespace"}`)

// echoApplication is the server application the suites expect: raw
// Engine.IO echo at rawPath, and at socketIOPath a CONNECT to "/" or
// "/custom" without authentication, "message" echoed as "message-back"
// (attachments included), "message-with-ack" acked with its arguments.
type echoApplication struct{}

func (echoApplication) Paths() []string { return []string{rawPath, socketIOPath} }

func (echoApplication) Open(path string, session engine.ApplicationSession) engine.Handler {
	if path == rawPath {
		// Raw Engine.IO has no CONNECT to wait for.
		session.Connected()
		return rawEcho{session}
	}
	return &socketIOEcho{session: session}
}

// rawEcho sends every message back as it came, text or binary.
type rawEcho struct{ session engine.ApplicationSession }

func (echo rawEcho) HandleMessage(message engine.Message) bool {
	echo.session.Send(message)
	return true
}

// socketIOEcho is one Socket.IO session's state. The engine calls
// HandleMessage from one goroutine at a time.
type socketIOEcho struct {
	session engine.ApplicationSession
	joined  map[string]bool // namespaces joined
	// binary is an announced BINARY_EVENT waiting for its attachments: the
	// packet's text is copied, since message data is valid only during
	// HandleMessage.
	binary      []byte
	expected    int
	attachments [][]byte
}

func (echo *socketIOEcho) HandleMessage(message engine.Message) bool {
	if message.Binary {
		return echo.attachment(message.Data)
	}
	if echo.binary != nil {
		return false // text while attachments were announced
	}
	packet, err := wire.ParseSocketPacket(message.Data)
	if err != nil {
		return false
	}
	switch packet.Type {
	case wire.SocketConnect:
		echo.connect(packet)
	case wire.SocketDisconnect:
		delete(echo.joined, packet.Namespace)
	case wire.SocketEvent, wire.SocketBinaryEvent:
		if packet.Attachments > 0 {
			echo.binary = append([]byte(nil), message.Data...)
			echo.expected = packet.Attachments
			return true
		}
		return echo.event(packet, nil)
	case wire.SocketAck, wire.SocketBinaryAck:
	default:
		return false
	}
	return true
}

// attachment takes one binary attachment of the announced packet, and
// handles the packet once all of them have come.
func (echo *socketIOEcho) attachment(data []byte) bool {
	if echo.binary == nil {
		return false // an attachment nobody announced
	}
	echo.attachments = append(echo.attachments, append([]byte(nil), data...))
	if len(echo.attachments) < echo.expected {
		return true
	}
	text, attachments := echo.binary, echo.attachments
	echo.binary, echo.attachments, echo.expected = nil, nil, 0
	packet, err := wire.ParseSocketPacket(text)
	if err != nil {
		return false
	}
	return echo.event(packet, attachments)
}

// connect joins "/" or "/custom" without authentication and emits the
// CONNECT payload back as an "auth" event, as the suite's server does.
func (echo *socketIOEcho) connect(packet wire.SocketPacket) {
	if packet.Namespace != "/" && packet.Namespace != customNamespace {
		echo.session.Send(socketIOMessage(wire.AppendConnectError(nil, packet.Namespace, invalidNamespace)))
		return
	}
	if echo.joined == nil {
		echo.joined = make(map[string]bool)
	}
	echo.joined[packet.Namespace] = true
	echo.session.Connected()
	auth := packet.Data
	if len(auth) == 0 {
		auth = []byte("{}")
	}
	// The suite's client takes one message per wait and misses the second
	// of two that arrive in one read. The reference server's second write
	// waits for the first to drain; a short pause gives the same separation.
	echo.session.Send(socketIOMessage(wire.AppendConnect(nil, packet.Namespace, newSocketID())))
	authEvent := socketIOMessage(wire.AppendEvent(nil, packet.Namespace, "auth", auth))
	time.AfterFunc(writeGap, func() { echo.session.Send(authEvent) })
}

// event answers "message" with "message-back" and the same arguments, and
// "message-with-ack" with an ack of its arguments; attachments go back
// after the packet that announces them.
func (echo *socketIOEcho) event(packet wire.SocketPacket, attachments [][]byte) bool {
	if !echo.joined[packet.Namespace] {
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
	messages := []engine.Message{{Data: wire.AppendSocketPacket(nil, answer)}}
	for _, attachment := range attachments {
		messages = append(messages, engine.Message{Data: attachment, Binary: true})
	}
	echo.session.Send(messages...)
	return true
}

// socketIOMessage turns the output of wire's Socket.IO encoders, which
// start with the Engine.IO message type, into a Message: Send adds the
// type itself.
func socketIOMessage(packet []byte) engine.Message {
	return engine.Message{Data: packet[1:]}
}

// newSocketID returns a random Socket.IO socket id, 20 URL-safe characters.
func newSocketID() string {
	var random [15]byte
	_, _ = rand.Read(random[:])
	return base64.RawURLEncoding.EncodeToString(random[:])
}
