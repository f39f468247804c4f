package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/redis/rueidis"
)

// The storm's hostile connections: a pre-auth flood, slowloris request
// heads and subscribed sockets that never read.

// floodBlock is a run of masked client frames cycling through an Engine.IO
// noop, an Engine.IO ping and a Socket.IO event, none of which a session
// that never sent CONNECT should get to keep state for.
var floodBlock, floodBlockFrames = buildFloodBlock(16 << 10)

func buildFloodBlock(size int) ([]byte, uint64) {
	var block []byte
	var frames uint64
	packets := []string{"6", "2", "42[1]"}
	for len(block) < size {
		frame := ws.MaskFrameInPlace(ws.NewTextFrame([]byte(packets[frames%uint64(len(packets))])))
		encoded, _ := ws.CompileFrame(frame)
		block = append(block, encoded...)
		frames++
	}
	return block, frames
}

// floodLoop opens a WebSocket, completes the Engine.IO handshake, never
// sends a Socket.IO CONNECT and writes floodBlock as fast as the socket
// takes it, never reading. A connection the server closes is reopened; one
// that reaches FloodFrames is closed by the flooder and reopened, which
// bounds what a gateway that keeps everything can be made to hold.
func (s *storm) floodLoop(ctx context.Context) {
	dialer := ws.Dialer{Timeout: s.settings.ConnectTimeout}
	for ctx.Err() == nil {
		conn, reader, _, err := dialer.Dial(ctx, "ws://"+s.settings.Targets[0]+s.settings.Path+"?EIO=4&transport=websocket")
		if err != nil {
			if ctx.Err() == nil {
				s.flood.fail(err)
				sleepContext(ctx, 100*time.Millisecond)
			}
			continue
		}
		s.flood.opened.Add(1)
		if reader == nil {
			reader = bufio.NewReader(conn)
		}
		conn.SetReadDeadline(time.Now().Add(s.settings.ConnectTimeout))
		if frame, err := ws.ReadFrame(reader); err != nil || len(frame.Payload) == 0 || frame.Payload[0] != '0' {
			s.flood.fail(fmt.Errorf("no open packet: %v", err))
			conn.Close()
			continue
		}
		stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Now()) })
		sent := uint64(0)
		for ctx.Err() == nil && sent < s.soak.FloodFrames {
			// A deadline lets a server that stops reading (back-pressure is
			// a fine defence) keep the flooder waiting without wedging it.
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err = conn.Write(floodBlock); err != nil {
				var timeout net.Error
				if errors.As(err, &timeout) && timeout.Timeout() {
					continue
				}
				break
			}
			sent += floodBlockFrames
			s.floodFrames.Add(floodBlockFrames)
		}
		stop()
		conn.Close()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			s.flood.closed.Add(1)
		default:
			s.flood.finished.Add(1)
		}
	}
}

// slowlorisHeads are request heads that never end: a WebSocket handshake
// and a long-polling handshake, each followed by a header that goes on.
var slowlorisHeads = []string{
	"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Slow: ",
	"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: soak\r\nAccept: */*\r\nX-Slow: ",
}

// slowlorisLoop holds one connection that sends a request head one byte per
// SlowlorisInterval, reopening it whenever the server closes it.
func (s *storm) slowlorisLoop(ctx context.Context, index int) {
	// Spread the first bytes over one interval, not all in one instant.
	sleepContext(ctx, rand.N(s.soak.SlowlorisInterval))
	buffer := make([]byte, 512)
	for ctx.Err() == nil {
		conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", s.settings.Targets[0])
		if err != nil {
			if ctx.Err() == nil {
				s.slowloris.fail(err)
				sleepContext(ctx, time.Second)
			}
			continue
		}
		s.slowloris.opened.Add(1)
		head := slowlorisHeads[index%len(slowlorisHeads)]
		closedByServer := false
		for position := 0; ctx.Err() == nil; position++ {
			next := byte('a')
			if position < len(head) {
				next = head[position]
			}
			if _, err := conn.Write([]byte{next}); err != nil {
				closedByServer = true
				break
			}
			// The read is the wait between bytes; anything but a timeout
			// (an answer, EOF, a reset) means the server gave up on us.
			conn.SetReadDeadline(time.Now().Add(s.soak.SlowlorisInterval))
			if _, err := conn.Read(buffer); !isTimeout(err) {
				closedByServer = true
				break
			}
		}
		conn.Close()
		if closedByServer && ctx.Err() == nil {
			s.slowloris.closed.Add(1)
		}
	}
}

// slowReaderBuffer is the receive buffer of a slow reader: a few frames.
const slowReaderBuffer = 4096

// Each slow reader's user gets slowOrderRate order updates a second of
// about slowOrderBytes each (160 KB/s): user data is never conflated, so
// the gateway's queue for a stalled socket passes MAX_PENDING_BYTES (1 MiB
// by default) within seconds and the socket is cut as a slow consumer,
// long before its heartbeat would time out.
const (
	slowOrderRate  = 20
	slowOrderBytes = 8 << 10
)

// slowUser is the user of slow reader index: a user of its own, so that
// its heavy order stream reaches no healthy client.
func slowUser(index int) string { return "slow" + strconv.Itoa(index) }

// publishSlowOrders publishes one order update to every slow reader's user.
func (s *storm) publishSlowOrders(ctx context.Context, redis rueidis.Client, sequence uint64) {
	padding := strings.Repeat("x", slowOrderBytes)
	commands := make(rueidis.Commands, 0, s.soak.SlowReaders)
	for index := range s.soak.SlowReaders {
		order := `{"orderId":"slow-` + strconv.FormatUint(sequence, 10) + `","userId":"` + slowUser(index) +
			`","symbol":"BTCUSD","type":"LIMIT","side":"BUY","quantity":1,"price":50000,"status":"NEW","filledQuantity":0,` +
			`"remainingQuantity":1,"averagePrice":0,"timestamp":` + strconv.FormatInt(time.Now().UnixMilli(), 10) +
			`,"note":"` + padding + `"}`
		commands = append(commands, redis.B().Publish().Channel("order:updates").Message(order).Build())
	}
	for _, response := range redis.DoMulti(ctx, commands...) {
		if err := response.Error(); err != nil && ctx.Err() == nil {
			s.slowReaders.fail(fmt.Errorf("publish: %w", err))
			return
		}
	}
}

// slowReaderLoop keeps one authenticated socket subscribed to every symbol
// and to its user's orders that never reads after its subscription acks,
// reopening it once the server disconnects it (slow consumer or write
// timeout).
func (s *storm) slowReaderLoop(ctx context.Context, index int) {
	symbols := make([]int, min(s.settings.Symbols, 200)) // the gateway's default MAX_SYMBOLS_PER_SOCKET
	for symbol := range symbols {
		symbols[symbol] = symbol
	}
	user := slowUser(index)
	for ctx.Err() == nil {
		reader := &client{index: -1, target: s.settings.Targets[0], symbols: symbols, orders: true, receiveBuffer: slowReaderBuffer}
		if _, _, err := reader.setup(s.settings, reader.target, s.minter.mint(user), func(inboundMessage) {}); err != nil {
			if reader.conn != nil {
				reader.conn.Close()
			}
			if ctx.Err() == nil {
				s.slowReaders.fail(err)
				sleepContext(ctx, time.Second)
			}
			continue
		}
		s.slowReaders.opened.Add(1)
		for sleepContext(ctx, 500*time.Millisecond) {
			// A server that closes a socket whose window is shut cannot
			// deliver its FIN (it waits behind the unsent bytes), so the
			// socket stays ESTABLISHED here. A byte sent to the closed
			// socket draws a reset, which does show. An Engine.IO noop
			// is that byte: it is not a pong, so the heartbeat of a live
			// session still times out as the stall deserves.
			reader.conn.SetWriteDeadline(time.Now().Add(time.Second))
			if err := reader.send("6"); (err != nil && !isTimeout(err)) || !tcpEstablished(reader.conn) {
				s.slowReaders.closed.Add(1)
				break
			}
		}
		reader.conn.Close()
	}
}

func isTimeout(err error) bool {
	var timeout net.Error
	return errors.As(err, &timeout) && timeout.Timeout()
}

// sleepContext sleeps for duration and reports whether ctx is still live.
func sleepContext(ctx context.Context, duration time.Duration) bool {
	timer := time.NewTimer(duration)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
