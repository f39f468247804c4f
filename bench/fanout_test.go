package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/wire"
)

const benchSecret = "bench-secret"

// BenchmarkFanoutLoopback fans ticks out over real loopback sockets, one
// tick at a time (each op waits until every subscriber has it), through the
// engine and through the floor: one prebuilt frame, one write syscall per
// socket, nothing else. ns/delivery of engine over floor is the engine's
// overhead over the syscall.
func BenchmarkFanoutLoopback(b *testing.B) {
	for _, subs := range []int{1000, 5000} {
		for _, symbols := range []int{1, 100} {
			b.Run(fmt.Sprintf("subs=%d/symbols=%d/engine", subs, symbols), func(b *testing.B) {
				benchEngine(b, subs, symbols)
			})
			b.Run(fmt.Sprintf("subs=%d/symbols=%d/floor", subs, symbols), func(b *testing.B) {
				benchFloor(b, subs, symbols)
			})
		}
	}
}

// perConnection is how many symbols each client follows.
func perConnection(symbols int) int { return min(5, symbols) }

func symbolName(i int) string { return fmt.Sprintf("S%03d", i) }

// counter counts frames read by all clients.
type counter struct{ frames atomic.Int64 }

// waitFor blocks until the counter reaches target.
func (c *counter) waitFor(b *testing.B, target int64) {
	deadline := time.Now().Add(30 * time.Second)
	for c.frames.Load() < target {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d frames arrived", c.frames.Load(), target)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// readFrames counts every server frame on conn until it closes.
func readFrames(conn net.Conn, reader *bufio.Reader, count *counter) {
	for {
		header, err := ws.ReadHeader(reader)
		if err != nil {
			return
		}
		if _, err := reader.Discard(int(header.Length)); err != nil {
			return
		}
		if header.OpCode == ws.OpText {
			count.frames.Add(1)
		}
	}
}

// readText reads one server frame's payload.
func readText(reader *bufio.Reader) ([]byte, error) {
	header, err := ws.ReadHeader(reader)
	if err != nil {
		return nil, err
	}
	payload := make([]byte, header.Length)
	_, err = io.ReadFull(reader, payload)
	return payload, err
}

func benchEngine(b *testing.B, subs, symbols int) {
	authenticator, err := auth.New(auth.Options{Secret: []byte(benchSecret)})
	if err != nil {
		b.Fatal(err)
	}
	gateway, err := engine.New(engine.Config{Auth: authenticator, Logger: slog.New(slog.DiscardHandler), MaxSymbolsPerSocket: 10})
	if err != nil {
		b.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go gateway.Serve(listener)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gateway.Shutdown(ctx)
	}()
	url := "ws://" + listener.Addr().String() + "/socket.io/?EIO=4&transport=websocket"
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "bench", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(benchSecret))
	count := &counter{}
	var setup sync.WaitGroup
	conns := make([]net.Conn, subs)
	for i := range conns {
		conn, reader, _, err := ws.Dialer{}.Dial(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = conn
		if reader == nil {
			reader = bufio.NewReader(conn)
		}
		// open packet, CONNECT, subscribe ack
		if _, err := readText(reader); err != nil {
			b.Fatal(err)
		}
		_ = wsutil.WriteClientText(conn, []byte(`40{"token":"`+token+`"}`))
		if _, err := readText(reader); err != nil {
			b.Fatal(err)
		}
		mine := ""
		for j := 0; j < perConnection(symbols); j++ {
			if j > 0 {
				mine += ","
			}
			mine += `"` + symbolName((i+j)%symbols) + `"`
		}
		_ = wsutil.WriteClientText(conn, []byte(`421["subscribe:market",{"symbols":[`+mine+`]}]`))
		if _, err := readText(reader); err != nil {
			b.Fatal(err)
		}
		setup.Add(1)
		go func() { defer setup.Done(); readFrames(conn, reader, count) }()
	}
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
		setup.Wait()
	}()
	perTick := int64(subs * perConnection(symbols) / symbols)
	payload := []byte(`{"symbol":"S000","price":50123.45,"volume":1234567.89,"high24h":51000,"low24h":49000,"change24h":123.45,"changePercent24h":0.25,"timestamp":1764057600000}`)
	var expected int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		gateway.PublishTick(symbolName(i%symbols), payload)
		expected += perTick
		count.waitFor(b, expected)
	}
	reportDeliveries(b, expected)
}

func reportDeliveries(b *testing.B, deliveries int64) {
	b.ReportMetric(float64(deliveries)/float64(b.N), "deliveries/op")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(deliveries), "ns/delivery")
	b.ReportMetric(float64(deliveries)/b.Elapsed().Seconds(), "deliveries/s")
}

// benchFloor is the syscall floor on sockets of the same kind: each tick
// is one prebuilt frame written with one write(2) per subscribed socket.
func benchFloor(b *testing.B, subs, symbols int) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close()
	count := &counter{}
	var readers sync.WaitGroup
	serverFds := make([]int, subs)
	var clients []net.Conn
	var files []interface{ Close() error }
	for i := range serverFds {
		client, err := net.Dial("tcp", listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		server, err := listener.Accept()
		if err != nil {
			b.Fatal(err)
		}
		file, err := server.(*net.TCPConn).File()
		if err != nil {
			b.Fatal(err)
		}
		server.Close()
		files = append(files, file)
		serverFds[i] = int(file.Fd())
		clients = append(clients, client)
		readers.Add(1)
		go func() { defer readers.Done(); readFrames(client, bufio.NewReader(client), count) }()
	}
	defer func() {
		for _, client := range clients {
			client.Close()
		}
		for _, file := range files {
			file.Close()
		}
		readers.Wait()
	}()
	// subscribers[s] lists the sockets following symbol s.
	subscribers := make([][]int, symbols)
	for i, fd := range serverFds {
		for j := 0; j < perConnection(symbols); j++ {
			s := (i + j) % symbols
			subscribers[s] = append(subscribers[s], fd)
		}
	}
	payload := []byte(`42["market:data",{"symbol":"S000","price":50123.45,"volume":1234567.89,"high24h":51000,"low24h":49000,"change24h":123.45,"changePercent24h":0.25,"timestamp":1764057600000}]`)
	frame := wire.AppendFrame(nil, wire.OpText, payload)
	var expected int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for _, fd := range subscribers[i%symbols] {
			if _, err := syscall.Write(fd, frame); err != nil {
				b.Fatal(err)
			}
		}
		expected += int64(len(subscribers[i%symbols]))
		count.waitFor(b, expected)
	}
	reportDeliveries(b, expected)
}
