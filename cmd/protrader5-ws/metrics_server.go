package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// metricsShutdownWait bounds how long the metrics server waits for a scrape
// in flight when it stops. A scrape takes milliseconds; the wait must stay
// well inside the shutdown grace that serveUntilDone adds to DRAIN_TIMEOUT.
const metricsShutdownWait = time.Second

// metricsServer serves /metrics alone on METRICS_PORT, a plain net/http
// server apart from the engine, so that the port clients reach (and any
// balancer in front of it) never carries the metrics.
type metricsServer struct {
	server   *http.Server
	listener net.Listener
	logger   *slog.Logger
	// stopped is closed when Serve has returned.
	stopped chan struct{}
}

// listenMetrics binds port on every interface, as the client port is, and
// starts serving handler at /metrics. Binding happens before it returns, so
// a port in use stops the start-up instead of failing in the background.
func listenMetrics(port int, handler http.Handler, headerTimeout time.Duration, logger *slog.Logger) (*metricsServer, error) {
	listener, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("metrics port (METRICS_PORT=%d): %w", port, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", handler)
	metrics := &metricsServer{
		server: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: headerTimeout,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
		listener: listener,
		logger:   logger,
		stopped:  make(chan struct{}),
	}
	go metrics.serve()
	return metrics, nil
}

// Address returns the address the server is bound to.
func (m *metricsServer) Address() net.Addr { return m.listener.Addr() }

func (m *metricsServer) serve() {
	defer close(m.stopped)
	// A metrics server that dies is logged, not fatal: the clients it does
	// not serve are better kept than dropped for the sake of monitoring.
	if err := m.server.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		m.logger.Error("metrics server stopped", slog.Any("error", err))
	}
}

// Shutdown stops accepting scrapes, lets one in flight finish for at most
// metricsShutdownWait, then closes what is left and waits for the serving
// goroutine, so nothing of the server outlives the call.
func (m *metricsServer) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownWait)
	defer cancel()
	if err := m.server.Shutdown(ctx); err != nil {
		m.logger.Warn("metrics server: a scrape was cut short by the shutdown", slog.Any("error", err))
		_ = m.server.Close()
	}
	<-m.stopped
}
