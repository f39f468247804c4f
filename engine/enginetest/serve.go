package enginetest

import (
	"context"
	"net"
	"testing"
	"time"
)

// Server is what Serve runs, such as an *engine.Engine.
type Server interface {
	Serve(listener net.Listener) error
	Shutdown(ctx context.Context) error
}

// Serve runs server on a free loopback port and returns the port's address.
// When the test ends it shuts server down, waiting at most 5s, and waits
// for Serve to return.
func Serve(t testing.TB, server Server) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
		<-served
	})
	return listener.Addr().String()
}
