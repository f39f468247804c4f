// Command conformance runs the engine as the server the public Engine.IO and
// Socket.IO protocol test suites expect (github.com/socketio/engine.io-protocol
// and socket.io-protocol, folder test-suite/): raw Engine.IO echo at
// /engine.io/, the Socket.IO echo application at /socket.io/ with the
// /custom namespace, pingInterval 300 ms, pingTimeout 200 ms, maxPayload
// 1e6, connectTimeout 1 s, any Origin.
//
//	go run ./bench/conformance            # listens on 127.0.0.1:3000
//	cd engine.io-protocol/test-suite && npm ci && npm test
//
// The echo application (echo.go) plugs into the engine as an
// engine.Application, so the gateway itself carries none of it: the
// suites test the engine's transports, heartbeats and parsers under an
// application of their own.
package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/protrader5/ws-gateway/engine"
)

func main() {
	address := flag.String("address", "127.0.0.1:3000", "address to listen on")
	verbose := flag.Bool("verbose", false, "log at debug level")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*address, logger); err != nil {
		logger.Error("conformance server stopped", slog.Any("error", err))
		os.Exit(1)
	}
}

// Config returns the engine configuration the suites expect.
func Config(address string, logger *slog.Logger) engine.Config {
	return engine.Config{
		Address:        address,
		Path:           "/socket.io/",
		PingInterval:   300 * time.Millisecond,
		PingTimeout:    200 * time.Millisecond,
		ConnectTimeout: time.Second,
		MaxPayload:     1_000_000,
		Logger:         logger,
	}
}

// newServer builds the engine the suites test: Config with the echo
// application.
func newServer(address string, logger *slog.Logger) (*engine.Engine, error) {
	return engine.New(Config(address, logger), engine.WithApplication(echoApplication{}))
}

func run(address string, logger *slog.Logger) error {
	gateway, err := newServer(address, logger)
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gateway.Shutdown(shutdown)
	}()
	logger.Info("conformance server listening", slog.String("address", listener.Addr().String()))
	return gateway.Serve(listener)
}
