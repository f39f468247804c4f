package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// sioConn is a minimal Socket.IO v5 client over the Engine.IO v4 WebSocket
// transport, enough to join the main namespace with a token, ask with acks,
// answer heartbeats and receive events. It is not a general client: no
// polling, no binary packets, no namespaces other than "/".
//
// Read is not safe for concurrent use; writes are (guarded by mu).
type sioConn struct {
	conn   net.Conn
	reader io.ReadWriter
	mu     sync.Mutex // guards writes to conn
	nextID int        // next ack id; used by the reading goroutine's owner only
}

// lockedWriter serialises the writes of the reader (pongs, close replies)
// with those of the caller.
type lockedWriter struct {
	c *sioConn
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.conn.Write(p)
}

// dialSocketIO opens ws://address/socket.io/ and joins "/" with token in the
// CONNECT auth payload. It returns once the server has answered CONNECT.
func dialSocketIO(ctx context.Context, address, token string) (*sioConn, error) {
	dialer := ws.Dialer{Timeout: 5 * time.Second}
	conn, buffered, _, err := dialer.Dial(ctx, "ws://"+address+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, fmt.Errorf("sio: dial: %w", err)
	}
	c := &sioConn{conn: conn}
	var source io.Reader = conn
	if buffered != nil {
		source = io.MultiReader(buffered, conn)
	}
	c.reader = struct {
		io.Reader
		io.Writer
	}{source, lockedWriter{c}}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(deadline)
	}
	open, err := c.Read()
	if err != nil || !strings.HasPrefix(open, "0{") {
		conn.Close()
		return nil, fmt.Errorf("sio: open packet %q: %v", open, err)
	}
	if err := c.Send(`40{"token":"` + token + `"}`); err != nil {
		conn.Close()
		return nil, err
	}
	for {
		packet, err := c.Read()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("sio: waiting for CONNECT: %w", err)
		}
		if packet == "2" {
			continue
		}
		if !strings.HasPrefix(packet, `40{"sid":`) {
			conn.Close()
			return nil, fmt.Errorf("sio: CONNECT answered %q", packet)
		}
		break
	}
	_ = conn.SetReadDeadline(time.Time{})
	return c, nil
}

// Send writes one Engine.IO/Socket.IO text packet.
func (c *sioConn) Send(packet string) error {
	if err := wsutil.WriteClientText(lockedWriter{c}, []byte(packet)); err != nil {
		return fmt.Errorf("sio: send: %w", err)
	}
	return nil
}

// Read returns the next text packet, answering a server ping ("2") with a
// pong ("3") and returning it too. A close frame ends in a wsutil.ClosedError
// carrying the server's close code.
func (c *sioConn) Read() (string, error) {
	for {
		data, op, err := wsutil.ReadServerData(c.reader)
		if err != nil {
			return "", err
		}
		if op != ws.OpText {
			continue
		}
		packet := string(data)
		if packet == "2" {
			if err := c.Send("3"); err != nil {
				return "", err
			}
		}
		return packet, nil
	}
}

// Emit sends event with an ack id and waits for the ack, passing every other
// packet read meanwhile to other (which may be nil). It returns the ack's
// arguments, e.g. `[{"ok":true}]`.
func (c *sioConn) Emit(event string, timeout time.Duration, other func(string)) (string, error) {
	c.nextID++
	id := fmt.Sprint(c.nextID)
	if err := c.Send("42" + id + `["` + event + `"]`); err != nil {
		return "", err
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		packet, err := c.Read()
		if err != nil {
			return "", fmt.Errorf("sio: waiting for the ack of %s: %w", event, err)
		}
		if rest, ok := strings.CutPrefix(packet, "43"+id); ok && strings.HasPrefix(rest, "[") {
			return rest, nil
		}
		if other != nil {
			other(packet)
		}
	}
}

// Close ends the connection without a close handshake.
func (c *sioConn) Close() error { return c.conn.Close() }

// closeCode returns the WebSocket close code of a Read error, or 0.
func closeCode(err error) ws.StatusCode {
	var closed wsutil.ClosedError
	if errors.As(err, &closed) {
		return closed.Code
	}
	return 0
}
