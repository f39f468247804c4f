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
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// maxFramePayload bounds what one client buffers for a frame; the servers'
// maxPayload is 1e6.
const maxFramePayload = 1 << 20

// client is one simulated Socket.IO user. Its fields are written only by its
// own goroutine until the fleet has waited for that goroutine to end.
type client struct {
	index   int    // global index; the user id is "u<index>"
	target  string // host:port
	symbols []int  // symbol indices, in subscription slot order
	orders  bool
	stalled bool
	// receiveBuffer, when not zero, is the socket's SO_RCVBUF, set before
	// connecting so the kernel never advertises a larger window: a client
	// that stops reading then backs the server up within a few frames.
	receiveBuffer int

	conn      net.Conn
	reader    *bufio.Reader
	buffer    []byte
	sequences sequenceChecker
	lastOrder int64
	connected bool
	closed    bool // the server ended the connection before the run did
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
	return wsutil.WriteClientText(c.conn, []byte(text))
}

// setup dials, authenticates and subscribes; it returns once every ack came
// back, handing events that arrive meanwhile to handle.
func (c *client) setup(settings *config, token string, handle func(inboundMessage)) (connectTime time.Duration, err error) {
	start := time.Now()
	dialer := ws.Dialer{Timeout: settings.ConnectTimeout, ReadBufferSize: 2048, WriteBufferSize: 1024}
	if c.receiveBuffer > 0 {
		dialer.NetDial = smallReceiveBufferDial(c.receiveBuffer)
	}
	conn, reader, _, err := dialer.Dial(context.Background(), "ws://"+c.target+settings.Path+"?EIO=4&transport=websocket")
	if err != nil {
		if errors.As(err, new(ws.StatusError)) {
			return 0, failSetup("handshake", err)
		}
		return 0, failSetup("dial", err)
	}
	c.conn = conn
	if reader == nil {
		reader = bufio.NewReaderSize(conn, 2048)
	}
	c.reader = reader
	conn.SetDeadline(start.Add(settings.ConnectTimeout))
	defer conn.SetDeadline(time.Time{})

	message, err := c.readMessage()
	if err != nil || message.kind != messageOpen {
		return 0, failSetup("open", fmt.Errorf("no open packet: %v", err))
	}
	if err := c.send(`40{"token":"` + token + `"}`); err != nil {
		return 0, failSetup("connect", err)
	}
	for {
		message, err = c.readMessage()
		if err != nil {
			return 0, failSetup("connect", err)
		}
		if message.kind == messageConnectError {
			return 0, failSetup("auth", fmt.Errorf("%s", message.body))
		}
		if message.kind == messageConnect {
			break
		}
	}
	connectTime = time.Since(start)

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
		request.WriteString(`]}]`)
		if err := c.send(request.String()); err != nil {
			return 0, failSetup("subscribe", err)
		}
		pending++
	}
	if c.orders {
		if err := c.send(`422["subscribe:orders"]`); err != nil {
			return 0, failSetup("subscribe", err)
		}
		pending++
	}
	for pending > 0 {
		message, err = c.readMessage()
		if err != nil {
			return 0, failSetup("subscribe", err)
		}
		switch message.kind {
		case messageAck:
			if !bytes.Contains(message.body, []byte(`"ok":true`)) {
				return 0, failSetup("subscribe", fmt.Errorf("refused: %s", message.body))
			}
			pending--
		case messageEvent:
			handle(message)
		case messageDisconnect, messageClose:
			return 0, failSetup("subscribe", errors.New("disconnected"))
		}
	}
	return connectTime, nil
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
