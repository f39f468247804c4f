package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// connection is one client socket. mu serializes writers (the fanout loop,
// the pinger, the connection's own replies) so frames never interleave.
type connection struct {
	id  string
	raw syscall.RawConn
	net net.Conn

	mu   sync.Mutex
	dead bool // guarded by mu

	symbols []string // owned by the connection's reader goroutine
}

// hub holds the subscriptions. The subscriber slices are copy-on-write, so
// the fanout loop reads one under a brief read lock and walks it lock-free.
type hub struct {
	pingInterval time.Duration
	pingTimeout  time.Duration
	nextID       atomic.Uint64

	mu          sync.RWMutex
	subscribers map[string][]*connection // guarded by mu, slices never mutated
	connections map[*connection]struct{} // guarded by mu

	deliveries atomic.Uint64
	drops      atomic.Uint64
	closes     atomic.Uint64
}

func newHub(pingInterval, pingTimeout time.Duration) *hub {
	return &hub{
		pingInterval: pingInterval,
		pingTimeout:  pingTimeout,
		subscribers:  map[string][]*connection{},
		connections:  map[*connection]struct{}{},
	}
}

func (h *hub) counters() (deliveries, drops, closes uint64) {
	return h.deliveries.Load(), h.drops.Load(), h.closes.Load()
}

// serverFrame returns an unmasked, unfragmented WebSocket text frame (RFC
// 6455 §5.2) holding prefix+payload+suffix, header included, in one slice.
func serverFrame(prefix, payload, suffix []byte) []byte {
	length := len(prefix) + len(payload) + len(suffix)
	frame := make([]byte, 0, length+10)
	frame = append(frame, 0x81)
	switch {
	case length < 126:
		frame = append(frame, byte(length))
	case length <= 0xFFFF:
		frame = append(frame, 126, byte(length>>8), byte(length))
	default:
		frame = append(frame, 127, 0, 0, 0, 0, byte(length>>24), byte(length>>16), byte(length>>8), byte(length))
	}
	frame = append(frame, prefix...)
	frame = append(frame, payload...)
	return append(frame, suffix...)
}

var (
	marketPrefix = []byte(`42["market:data",`)
	marketSuffix = []byte(`]`)
)

// publish fans one Redis message (a tick object or an array of them) out.
func (h *hub) publish(message []byte) {
	message = bytes.TrimSpace(message)
	if len(message) > 0 && message[0] == '[' {
		var ticks []json.RawMessage
		if json.Unmarshal(message, &ticks) != nil {
			return
		}
		for _, tick := range ticks {
			h.publishTick(tick)
		}
		return
	}
	h.publishTick(message)
}

func (h *hub) publishTick(tick []byte) {
	var fields struct {
		Symbol string `json:"symbol"`
	}
	if json.Unmarshal(tick, &fields) != nil || fields.Symbol == "" {
		return
	}
	frame := serverFrame(marketPrefix, tick, marketSuffix)
	h.mu.RLock()
	subscribers := h.subscribers[fields.Symbol]
	h.mu.RUnlock()
	for _, c := range subscribers {
		c.write(h, frame)
	}
}

// write sends frame with exactly one write(2), never waiting for the socket.
func (c *connection) write(h *hub, frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return
	}
	written, err := 0, error(nil)
	controlErr := c.raw.Write(func(fd uintptr) bool {
		written, err = syscall.Write(int(fd), frame)
		return true // never park: the floor does not wait for a slow socket
	})
	switch {
	case controlErr != nil:
		c.killLocked(h)
	case errors.Is(err, syscall.EAGAIN):
		h.drops.Add(1)
	case err != nil:
		c.killLocked(h)
	case written < len(frame):
		// Half a frame on the wire cannot be taken back: the stream is
		// broken for this client.
		h.closes.Add(1)
		c.killLocked(h)
	default:
		h.deliveries.Add(1)
	}
}

func (c *connection) killLocked(h *hub) {
	c.dead = true
	c.net.Close()
}

func (h *hub) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("EIO") != "4" || r.URL.Query().Get("transport") != "websocket" {
		http.Error(w, `{"code":3,"message":"Bad request"}`, http.StatusBadRequest)
		return
	}
	conn, buffered, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		conn.Close()
		return
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		conn.Close()
		return
	}
	c := &connection{id: "f" + strconv.FormatUint(h.nextID.Add(1), 36), raw: raw, net: conn}
	h.mu.Lock()
	h.connections[c] = struct{}{}
	h.mu.Unlock()
	defer h.remove(c)

	open := `0{"sid":"` + c.id + `","upgrades":[],"pingInterval":` + strconv.Itoa(int(h.pingInterval.Milliseconds())) +
		`,"pingTimeout":` + strconv.Itoa(int(h.pingTimeout.Milliseconds())) + `,"maxPayload":1000000}`
	c.write(h, serverFrame(nil, []byte(open), nil))
	h.readLoop(c, buffered.Reader)
}

// readLoop handles the client's messages until it goes away.
func (h *hub) readLoop(c *connection, reader *bufio.Reader) {
	for {
		conn := c.net
		conn.SetReadDeadline(time.Now().Add(h.pingInterval + h.pingTimeout))
		header, err := ws.ReadHeader(reader)
		if err != nil || header.Length > 1_000_000 {
			return
		}
		payload := make([]byte, header.Length)
		if _, err := io.ReadFull(reader, payload); err != nil {
			return
		}
		if header.Masked {
			ws.Cipher(payload, header.Mask, 0)
		}
		switch header.OpCode {
		case ws.OpClose:
			return
		case ws.OpText:
			if !h.handleMessage(c, payload) {
				return
			}
		}
	}
}

// handleMessage answers one Socket.IO message; false ends the connection.
func (h *hub) handleMessage(c *connection, message []byte) bool {
	text := string(message)
	switch {
	case text == "3": // pong
	case text == "1" || strings.HasPrefix(text, "41"):
		return false
	case strings.HasPrefix(text, "40"):
		c.write(h, serverFrame(nil, []byte(`40{"sid":"`+c.id+`"}`), nil))
	case strings.HasPrefix(text, "42"):
		ackID, event, arguments, ok := parseEvent(text)
		if !ok {
			return false
		}
		answer := `{"ok":true}`
		if event == "subscribe:market" && len(arguments) > 0 {
			var payload struct {
				Symbols []string `json:"symbols"`
			}
			if json.Unmarshal(arguments[0], &payload) != nil {
				return false
			}
			h.subscribe(c, payload.Symbols)
			symbols, _ := json.Marshal(c.symbols)
			answer = `{"ok":true,"symbols":` + string(symbols) + `}`
		}
		if ackID != "" {
			c.write(h, serverFrame(nil, []byte("43"+ackID+"["+answer+"]"), nil))
		}
	}
	return true
}

// parseEvent splits a Socket.IO EVENT packet `42[<ack id>]["name",args...]`
// (socket.io-protocol v5 "format"); ok is false for anything else.
func parseEvent(text string) (ackID, event string, arguments []json.RawMessage, ok bool) {
	if !strings.HasPrefix(text, "42") {
		return "", "", nil, false
	}
	rest := text[2:]
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	if digits > 15 {
		return "", "", nil, false
	}
	ackID, body := rest[:digits], rest[digits:]
	if json.Unmarshal([]byte(body), &arguments) != nil || len(arguments) == 0 {
		return "", "", nil, false
	}
	if json.Unmarshal(arguments[0], &event) != nil {
		return "", "", nil, false
	}
	return ackID, event, arguments[1:], true
}

func (h *hub) subscribe(c *connection, symbols []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, symbol := range symbols {
		symbol = strings.ToUpper(symbol)
		if symbol == "" || contains(c.symbols, symbol) {
			continue
		}
		c.symbols = append(c.symbols, symbol)
		old := h.subscribers[symbol]
		grown := make([]*connection, len(old), len(old)+1)
		copy(grown, old)
		h.subscribers[symbol] = append(grown, c)
	}
}

func (h *hub) remove(c *connection) {
	c.mu.Lock()
	c.killLocked(h)
	c.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.connections, c)
	for _, symbol := range c.symbols {
		old := h.subscribers[symbol]
		kept := make([]*connection, 0, len(old))
		for _, other := range old {
			if other != c {
				kept = append(kept, other)
			}
		}
		h.subscribers[symbol] = kept
	}
}

// pingLoop sends the Engine.IO ping to every connection each interval.
func (h *hub) pingLoop(ctx context.Context) {
	ping := serverFrame(nil, []byte("2"), nil)
	ticker := time.NewTicker(h.pingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		h.mu.RLock()
		all := make([]*connection, 0, len(h.connections))
		for c := range h.connections {
			all = append(all, c)
		}
		h.mu.RUnlock()
		for _, c := range all {
			c.write(h, ping)
		}
	}
}

func (h *hub) closeAll() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.connections {
		c.net.Close()
	}
	log.Printf("floor: closed %d connections", len(h.connections))
}

func contains(list []string, value string) bool {
	for _, item := range list {
		if item == value {
			return true
		}
	}
	return false
}
