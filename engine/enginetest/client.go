// Package enginetest is a minimal Socket.IO v5 client over the Engine.IO v4
// WebSocket transport, for tests of the gateway. Only tests import it.
//
// It is not a general client: no polling, no binary packets, no namespaces
// other than "/". It does not import package engine, so engine's own tests
// can use it.
package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// DefaultTimeout bounds Dial's wait for the open packet when its context
// has no deadline, and every write.
const DefaultTimeout = 5 * time.Second

// Client is one WebSocket session. Next, Connect, ExpectEvent and EmitAck
// read from the connection and must not run concurrently with each other;
// Send may run concurrently with anything.
type Client struct {
	// Open is the open packet's JSON object, parsed by Dial; DialURL leaves
	// it nil.
	Open map[string]any
	// AutoPong makes Next answer a server ping "2" with a pong "3" instead
	// of returning it. Dial and DialURL turn it on.
	AutoPong bool
	// Unmatched, when set, receives every packet ExpectEvent and EmitAck
	// read past while they wait; otherwise those packets are dropped.
	Unmatched func(packet string)

	conn    net.Conn
	reader  io.Reader  // the handshake's buffered bytes, then conn
	writeMu sync.Mutex // serialises the frames written to conn
}

// Dial opens ws://address/socket.io/?EIO=4&transport=websocket with header
// (which may be nil) and reads the open packet into Open, waiting until
// ctx's deadline or DefaultTimeout.
func Dial(ctx context.Context, address string, header http.Header) (*Client, error) {
	dialer := ws.Dialer{Timeout: DefaultTimeout}
	if header != nil {
		dialer.Header = ws.HandshakeHeaderHTTP(header)
	}
	c, err := DialURL(ctx, dialer, "ws://"+address+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, err
	}
	timeout := DefaultTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(deadline), time.Nanosecond)
	}
	open, err := c.Next(timeout)
	if err == nil && !strings.HasPrefix(open, "0{") {
		err = errors.New("not an open packet")
	}
	if err == nil {
		err = json.Unmarshal([]byte(open[1:]), &c.Open)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("enginetest: open packet %q: %w", open, err)
	}
	return c, nil
}

// DialURL opens the WebSocket at url with dialer and reads nothing: for an
// upgrade (no open packet comes) or a test that reads the open packet
// itself.
func DialURL(ctx context.Context, dialer ws.Dialer, url string) (*Client, error) {
	conn, buffered, _, err := dialer.Dial(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("enginetest: dial %s: %w", url, err)
	}
	c := &Client{AutoPong: true, conn: conn, reader: conn}
	if buffered != nil {
		c.reader = buffered // reads on from conn once its buffer is empty
	}
	return c, nil
}

// Conn returns the raw connection, e.g. to set deadlines or socket buffers
// or to write raw frames.
func (c *Client) Conn() net.Conn { return c.conn }

// ReadWriter reads raw frames (ws.ReadFrame, wsutil.ReadServerData) through
// the handshake's buffer, and writes frames, such as wsutil's control frame
// answers, serialised with Send.
func (c *Client) ReadWriter() io.ReadWriter {
	return struct {
		io.Reader
		io.Writer
	}{c.reader, lockedWriter{c}}
}

// lockedWriter writes to the connection under writeMu.
type lockedWriter struct{ c *Client }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.writeMu.Lock()
	defer w.c.writeMu.Unlock()
	_ = w.c.conn.SetWriteDeadline(time.Now().Add(DefaultTimeout))
	return w.c.conn.Write(p)
}

// Send writes one Engine.IO text packet.
func (c *Client) Send(text string) error {
	if err := wsutil.WriteClientText(lockedWriter{c}, []byte(text)); err != nil {
		return fmt.Errorf("enginetest: send %q: %w", text, err)
	}
	return nil
}

// Next returns the next Engine.IO text packet, skipping other frames and,
// with AutoPong, answering pings. It waits at most timeout, or without a
// deadline if timeout is 0. A close frame ends in a wsutil.ClosedError (see
// CloseStatus).
func (c *Client) Next(timeout time.Duration) (string, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		_ = c.conn.SetReadDeadline(deadline)
		data, op, err := wsutil.ReadServerData(c.ReadWriter())
		if err != nil {
			return "", err
		}
		if op != ws.OpText {
			continue
		}
		text := string(data)
		if text == "2" && c.AutoPong {
			if err := c.Send("3"); err != nil {
				return "", err
			}
			continue
		}
		return text, nil
	}
}

// Connect sends CONNECT on "/" with token as the auth payload, or none if
// token is empty, and returns the server's answer packet.
func (c *Client) Connect(token string, timeout time.Duration) (string, error) {
	packet := `40`
	if token != "" {
		packet = `40{"token":"` + token + `"}`
	}
	if err := c.Send(packet); err != nil {
		return "", err
	}
	return c.Next(timeout)
}

// ExpectEvent reads until an event called name arrives and returns its
// payload, the event's first argument (without the recovery offset that
// user messages carry last).
func (c *Client) ExpectEvent(name string, timeout time.Duration) (string, error) {
	rest, err := c.await(`42["`+name+`",`, timeout)
	if err != nil {
		return "", err
	}
	_, payload, _, _ := ParseEvent(`42["` + name + `",` + rest + `]`)
	return payload, nil
}

// ParseEvent splits an event packet `42["name",payload]`, or
// `42["name",payload,"offset"]` for a user message of a server with
// recovery on. ok is false for anything else.
func ParseEvent(packet string) (name, payload, offset string, ok bool) {
	data, found := strings.CutPrefix(packet, "42")
	if !found {
		return "", "", "", false
	}
	var parts []json.RawMessage
	if json.Unmarshal([]byte(data), &parts) != nil || len(parts) < 2 || len(parts) > 3 || json.Unmarshal(parts[0], &name) != nil {
		return "", "", "", false
	}
	if len(parts) == 3 && json.Unmarshal(parts[2], &offset) != nil {
		return "", "", "", false
	}
	return name, string(parts[1]), offset, true
}

// EmitAck sends event name with payload (JSON, or "" for none) and ack id
// and returns the ack's argument.
func (c *Client) EmitAck(id int, name, payload string, timeout time.Duration) (string, error) {
	packet := fmt.Sprintf(`42%d["%s"]`, id, name)
	if payload != "" {
		packet = fmt.Sprintf(`42%d["%s",%s]`, id, name, payload)
	}
	if err := c.Send(packet); err != nil {
		return "", err
	}
	return c.await(fmt.Sprintf("43%d[", id), timeout)
}

// await reads until a packet starting with prefix arrives, within timeout
// in all (it must be positive), and returns the rest without the closing
// bracket.
func (c *Client) await(prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		text, err := c.Next(max(time.Until(deadline), time.Nanosecond))
		if err != nil {
			return "", err
		}
		if rest, ok := strings.CutPrefix(text, prefix); ok {
			return strings.TrimSuffix(rest, "]"), nil
		}
		if c.Unmatched != nil {
			c.Unmatched(text)
		}
	}
}

// Close ends the connection without a close handshake.
func (c *Client) Close() error { return c.conn.Close() }

// CloseStatus returns the WebSocket close status carried by a Next error,
// or 0 if the error is not a close frame.
func CloseStatus(err error) ws.StatusCode {
	var closed wsutil.ClosedError
	if errors.As(err, &closed) {
		return closed.Code
	}
	return 0
}
