package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/protrader5/ws-gateway/wire"
)

// maxFramePayload bounds what one client buffers for a frame; the servers'
// maxPayload is 1e6.
const maxFramePayload = 1 << 20

// client is one simulated Socket.IO user. Its fields are written only by its
// own goroutine until the fleet has waited for that goroutine to end, except
// conn, which fleet.close may close at any time (connMu).
type client struct {
	index   int    // global index; the user id is "u<index>"
	target  string // host:port it first connects to
	symbols []int  // symbol indices, in subscription slot order
	orders  bool
	stalled bool
	// msgpack: the client speaks socket.io-msgpack-parser's binary packets,
	// translated to and from the JSON text form at the socket (translated
	// holds the last translation).
	msgpack    bool
	translated []byte
	// throttleMs, when not zero, is the subscription's throttle: the
	// client gets at most one tick per symbol per interval, so its
	// deliveries are counted apart and not checked for every tick.
	throttleMs int
	// receiveBuffer, when not zero, is the socket's SO_RCVBUF, set before
	// connecting so the kernel never advertises a larger window: a client
	// that stops reading then backs the server up within a few frames.
	receiveBuffer int

	connMu sync.Mutex
	conn   net.Conn // guarded by connMu for writes and for fleet.close
	shut   bool     // guarded by connMu: the fleet closed; no new connection

	reader    *bufio.Reader
	buffer    []byte
	sequences sequenceChecker
	lastOrder int64
	connected bool // subscribed once: the client's deliveries are accounted
	closed    bool // the server ended a connection before the run did

	// Connection state recovery, as the stock client keeps it: the session
	// the server gave (pid, empty without recovery), the last offset of an
	// event, and where the client is connected now.
	sid, pid string
	offset   string
	current  string // host:port of the present connection
	recovery clientRecovery
}

// setupError tells why a client never became ready; reason is a short,
// bounded label for the failure table.
type setupError struct {
	reason string
	err    error
}

func (e *setupError) Error() string { return e.reason + ": " + e.err.Error() }

func failSetup(reason string, err error) error { return &setupError{reason: reason, err: err} }

// readFrame returns the next data frame's payload, answering WebSocket pings
// on the way. The payload aliases c.buffer until the next call.
func (c *client) readFrame() (ws.OpCode, []byte, error) {
	c.buffer = c.buffer[:0]
	var opcode ws.OpCode
	for {
		header, err := ws.ReadHeader(c.reader)
		if err != nil {
			return 0, nil, err
		}
		if header.Length > maxFramePayload || int64(len(c.buffer))+header.Length > maxFramePayload {
			return 0, nil, fmt.Errorf("loadgen: frame of %d bytes", header.Length)
		}
		if header.OpCode.IsControl() {
			payload := make([]byte, header.Length)
			if _, err := io.ReadFull(c.reader, payload); err != nil {
				return 0, nil, err
			}
			switch header.OpCode {
			case ws.OpClose:
				return ws.OpClose, nil, io.EOF
			case ws.OpPing:
				if err := wsutil.WriteClientMessage(c.conn, ws.OpPong, payload); err != nil {
					return 0, nil, err
				}
			}
			continue
		}
		if header.OpCode != ws.OpContinuation {
			opcode = header.OpCode
		}
		start := len(c.buffer)
		end := start + int(header.Length)
		if cap(c.buffer) < end {
			grown := make([]byte, end, max(end, 512))
			copy(grown, c.buffer)
			c.buffer = grown
		}
		c.buffer = c.buffer[:end]
		if _, err := io.ReadFull(c.reader, c.buffer[start:end]); err != nil {
			return 0, nil, err
		}
		if header.Masked {
			ws.Cipher(c.buffer[start:end], header.Mask, 0)
		}
		if header.Fin {
			return opcode, c.buffer, nil
		}
	}
}

// readMessage returns the next Socket.IO message, answering Engine.IO pings.
func (c *client) readMessage() (inboundMessage, error) {
	for {
		opcode, payload, err := c.readFrame()
		if err != nil {
			return inboundMessage{}, err
		}
		if opcode == ws.OpBinary && c.msgpack {
			text, err := wire.DecodeMsgpackSocketPacket(append(c.translated[:0], '4'), payload, 4*maxFramePayload)
			if err != nil {
				return inboundMessage{}, fmt.Errorf("loadgen: msgpack packet: %w", err)
			}
			c.translated = text
			opcode, payload = ws.OpText, text
		}
		if opcode != ws.OpText {
			continue
		}
		message, err := parseMessage(payload)
		if err != nil {
			return message, fmt.Errorf("%w: %.80q", err, payload)
		}
		if message.kind == messagePing {
			if err := c.send("3"); err != nil {
				return message, err
			}
			continue
		}
		return message, nil
	}
}

func (c *client) send(text string) error {
	if c.msgpack && len(text) > 1 && text[0] == '4' {
		packet, err := wire.AppendMsgpackSocketPacket(nil, []byte(text[1:]))
		if err != nil {
			return err
		}
		return wsutil.WriteClientBinary(c.conn, packet)
	}
	return wsutil.WriteClientText(c.conn, []byte(text))
}

// setConn installs a new connection, unless the fleet has closed meanwhile.
func (c *client) setConn(conn net.Conn) bool {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.shut {
		conn.Close()
		return false
	}
	c.conn = conn
	return true
}

// closeConn closes the present connection, if any; shut also refuses every
// later one (the fleet is closing).
func (c *client) closeConn(shut bool) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if shut {
		c.shut = true
	}
	if c.conn != nil {
		c.conn.Close()
	}
}

// setup dials target, authenticates and, unless the server recovered the
// client's session (then its subscriptions come back with it), subscribes.
// Events that arrive meanwhile go to handle: a recovering server replays
// what the client missed before it answers the CONNECT. It returns once
// every ack came back.
func (c *client) setup(settings *config, target, token string, handle func(inboundMessage)) (connectTime time.Duration, recovered bool, err error) {
	start := time.Now()
	dialer := ws.Dialer{Timeout: settings.ConnectTimeout, ReadBufferSize: 2048, WriteBufferSize: 1024}
	if c.receiveBuffer > 0 {
		dialer.NetDial = smallReceiveBufferDial(c.receiveBuffer)
	}
	conn, reader, _, err := dialer.Dial(context.Background(), "ws://"+target+settings.Path+"?EIO=4&transport=websocket")
	if err != nil {
		if errors.As(err, new(ws.StatusError)) {
			return 0, false, failSetup("handshake", err)
		}
		return 0, false, failSetup("dial", err)
	}
	if !c.setConn(conn) {
		return 0, false, failSetup("closed", errors.New("the run is over"))
	}
	c.current = target
	if reader == nil {
		reader = bufio.NewReaderSize(conn, 2048)
	}
	c.reader = reader
	conn.SetDeadline(start.Add(settings.ConnectTimeout))
	defer conn.SetDeadline(time.Time{})

	message, err := c.readMessage()
	if err != nil || message.kind != messageOpen {
		return 0, false, failSetup("open", fmt.Errorf("no open packet: %v", err))
	}
	if err := c.send(connectPayload(token, c.pid, c.offset)); err != nil {
		return 0, false, failSetup("connect", err)
	}
	for {
		message, err = c.readMessage()
		if err != nil {
			return 0, false, failSetup("connect", err)
		}
		if message.kind == messageConnect {
			break
		}
		switch message.kind {
		case messageConnectError:
			return 0, false, failSetup("auth", fmt.Errorf("%s", message.body))
		case messageEvent:
			handle(message) // replayed before the answer
		case messageDisconnect, messageClose:
			return 0, false, failSetup("connect", errors.New("disconnected"))
		}
	}
	answer := parseConnectAnswer(message.body)
	// The stock client's socket.recovered: the server kept the pid.
	recovered = c.pid != "" && answer.pid == c.pid
	c.sid, c.pid = answer.sid, answer.pid
	connectTime = time.Since(start)
	if recovered {
		return connectTime, true, nil
	}

	pending := 0
	if len(c.symbols) > 0 {
		var request strings.Builder
		request.WriteString(`421["subscribe:market",{"symbols":[`)
		for slot, symbol := range c.symbols {
			if slot > 0 {
				request.WriteByte(',')
			}
			request.WriteString(`"` + settings.SymbolPrefix + strconv.Itoa(symbol) + `"`)
		}
		request.WriteString(`]`)
		if c.throttleMs > 0 {
			request.WriteString(`,"throttleMs":` + strconv.Itoa(c.throttleMs))
		}
		request.WriteString(`}]`)
		if err := c.send(request.String()); err != nil {
			return 0, false, failSetup("subscribe", err)
		}
		pending++
	}
	if c.orders {
		if err := c.send(`422["subscribe:orders"]`); err != nil {
			return 0, false, failSetup("subscribe", err)
		}
		pending++
	}
	for pending > 0 {
		message, err = c.readMessage()
		if err != nil {
			return 0, false, failSetup("subscribe", err)
		}
		switch message.kind {
		case messageAck:
			if !bytes.Contains(message.body, []byte(`"ok":true`)) {
				return 0, false, failSetup("subscribe", fmt.Errorf("refused: %s", message.body))
			}
			pending--
		case messageEvent:
			handle(message)
		case messageDisconnect, messageClose:
			return 0, false, failSetup("subscribe", errors.New("disconnected"))
		}
	}
	return connectTime, false, nil
}

// readLoop consumes messages until the connection ends.
func (c *client) readLoop(handle func(inboundMessage)) {
	for {
		message, err := c.readMessage()
		if err != nil {
			return
		}
		switch message.kind {
		case messageEvent:
			handle(message)
		case messageDisconnect, messageClose:
			return
		}
	}
}

// smallReceiveBufferDial returns a dial function whose sockets get SO_RCVBUF
// bytes of receive buffer. It must be set before connect: the window scale
// is agreed in the SYN, after which shrinking the buffer does not shrink
// what the server may send.
func smallReceiveBufferDial(bytes int) func(ctx context.Context, network, address string) (net.Conn, error) {
	dialer := net.Dialer{Control: func(_, _ string, raw syscall.RawConn) error {
		var setErr error
		err := raw.Control(func(fd uintptr) {
			setErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, bytes)
		})
		if err != nil {
			return err
		}
		return setErr
	}}
	return dialer.DialContext
}
