package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/ingest"
)

// runServe runs the gateway until ctx is cancelled, then drains it within
// DRAIN_TIMEOUT (docs/delivery.md, the drain).
func runServe(ctx context.Context, config Config, logger *slog.Logger) error {
	authenticator, err := auth.New(auth.Options{
		Secret:    config.JWTSecret,
		PublicKey: config.JWTPublicKey,
		Issuer:    config.JWTIssuer,
		Audience:  config.JWTAudience,
		Leeway:    config.JWTLeeway,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	// The engine needs the source's snapshots and readiness, and the source
	// needs the engine to publish into: late binds them before Serve.
	late := &lateSource{}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metricsHandler := promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
	engineConfig := engine.Config{
		Address:             net.JoinHostPort("", strconv.Itoa(config.Port)),
		Path:                config.SocketIOPath,
		PingInterval:        config.PingInterval,
		PingTimeout:         config.PingTimeout,
		ConnectTimeout:      config.ConnectTimeout,
		HandshakeTimeout:    config.HandshakeTimeout,
		MaxPayload:          config.MaxHTTPBufferSize,
		MaxSymbolsPerSocket: config.MaxSymbolsPerSocket,
		MaxPendingBytes:     config.MaxPendingBytes,
		WriteTimeout:        config.WriteTimeout,
		WriteCoalesce:       config.WriteCoalesce,
		Shards:              config.Shards,
		DrainTimeout:        config.DrainTimeout,
		EventRate:           float64(config.EventRatePerSocket),
		PreAuthFrames:       config.PreAuthFrames,
		PreAuthBytes:        config.PreAuthBytes,
		AllowOrigin:         config.OriginAllowed,
		MaxConnections:      config.MaxConnections,
		MaxConnectionsPerIP: config.MaxConnectionsPerIP,
		ConnectionRatePerIP: float64(config.ConnectionRatePerIP),
		TrustedProxies:      config.TrustedProxies,
		RecoveryWindow:      config.RecoveryWindow,
		RecoveryMaxEvents:   config.RecoveryMaxEvents,
		RecoveryMaxBytes:    config.RecoveryMaxBytes,
		Auth:                authenticator,
		Snapshots:           late,
		Ready:               late.Ready,
		Logger:              logger,
	}
	if config.MetricsPort == 0 {
		// Otherwise the engine has no /metrics: it answers 404 there.
		engineConfig.Metrics = metricsHandler
	}
	if config.TLSCertificate != nil {
		// With TLS the engine serves wss:// and https:// on the same port
		// from the standard library (netpoll has no TLS).
		engineConfig.TLS = &tls.Config{Certificates: []tls.Certificate{*config.TLSCertificate}, MinVersion: tls.VersionTLS12}
	}
	// With streams every gateway reads every entry: offsets are entry IDs
	// and sessions live in Redis, so a client recovers on any gateway.
	sessions := &lateSessions{}
	if config.RedisURL != "" && config.UserStreams == ingest.Streams {
		engineConfig.StreamOffsets = true
		engineConfig.Sessions = sessions
	}
	gateway, err := engine.New(engineConfig)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	registry.MustRegister(gateway.Collector())

	router := ingest.NewRouter(gateway, ingest.RouterOptions{PNLInterval: config.PnLInterval, Logger: logger})
	registry.MustRegister(newIngestCollector(router))
	sourceContext, stopSource := context.WithCancel(context.Background())
	defer stopSource()
	var (
		source    ingest.Source
		workers   sync.WaitGroup
		sourceErr = make(chan error, 1)
	)
	if config.RedisURL == "" {
		bus := ingest.NewBus(router)
		source, late.snapshots = bus, bus
		if config.UserStreams == ingest.Streams {
			logger.Warn("USER_STREAMS=streams needs REDIS_URL; the embedded bus delivers on this node only, as pubsub does")
		}
		if config.DemoFeed {
			users := strings.Split(config.DemoUser, ",")
			demo := ingest.NewDemoFeed(bus, ingest.DemoOptions{UserID: users[0], UserIDs: users[1:]})
			workers.Go(func() { _ = demo.Run(sourceContext) })
			logger.Info("demo feed on", slog.String("user_id", config.DemoUser))
		}
	} else {
		redis, err := ingest.NewRedis(ingest.RedisOptions{
			URL:       config.RedisURL,
			Prefix:    config.RedisPrefix,
			Sharded:   config.RedisSharded,
			TLSCAFile: config.RedisTLSCAFile,
			Router:    router,
			Logger:    logger,
			// With streams a starting gateway reads back as far as clients
			// may ask to recover from.
			UserStreams:    config.UserStreams,
			RecoveryWindow: config.RecoveryWindow,
		})
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		source, late.snapshots = redis, redis
		registry.MustRegister(newRedisCollector(redis))
		if engineConfig.StreamOffsets {
			store := redis.Sessions(gateway.ReleaseSession)
			sessions.store.Store(store)
			workers.Go(func() { _ = store.Run(sourceContext) })
		}
	}
	late.source = source
	workers.Go(func() {
		if err := source.Run(sourceContext); err != nil {
			sourceErr <- err
		}
	})

	listener, err := net.Listen("tcp", engineConfig.Address)
	if err != nil {
		stopSource()
		workers.Wait()
		return fmt.Errorf("serve: %w", err)
	}
	var metrics *metricsServer
	if config.MetricsPort != 0 {
		metrics, err = listenMetrics(config.MetricsPort, metricsHandler, config.HandshakeTimeout, logger)
		if err != nil {
			listener.Close()
			stopSource()
			workers.Wait()
			return fmt.Errorf("serve: %w", err)
		}
		// Stopped last, after the engine has drained, so that a scrape
		// during the drain still sees it.
		defer metrics.Shutdown()
		logger.Info("metrics listening", slog.String("address", metrics.Address().String()), slog.String("path", "/metrics"))
	}
	served := make(chan error, 1)
	go func() { served <- gateway.Serve(listener) }()
	logger.Info("gateway listening", slog.String("address", listener.Addr().String()), slog.String("path", config.SocketIOPath))

	select {
	case <-ctx.Done():
	case err = <-served:
		stopSource()
		workers.Wait()
		return fmt.Errorf("serve: %w", err)
	case err = <-sourceErr:
		logger.Error("message source stopped", slog.Any("error", err))
	}
	drainContext, cancel := context.WithTimeout(context.Background(), config.DrainTimeout)
	defer cancel()
	shutdownErr := gateway.Shutdown(drainContext)
	stopSource()
	workers.Wait()
	<-served
	if err != nil {
		return err
	}
	return shutdownErr
}

// lateSource forwards the engine's snapshot reads and readiness checks to
// the source chosen after the engine was built.
type lateSource struct {
	source    ingest.Source
	snapshots engine.SnapshotSource
}

func (l *lateSource) LastTick(symbol string) ([]byte, error) { return l.snapshots.LastTick(symbol) }

func (l *lateSource) Positions(userID string) ([][]byte, error) {
	return l.snapshots.Positions(userID)
}

func (l *lateSource) Ready() (bool, string) { return l.source.Ready() }

// lateSessions forwards the engine's session store calls to the Redis store
// made after the engine (it needs the engine to release sessions into).
type lateSessions struct {
	store atomic.Pointer[ingest.RedisSessions]
}

var errNoSessionStore = errors.New("serve: the session store is not attached yet")

func (l *lateSessions) Save(session engine.Session, ttl time.Duration) error {
	if store := l.store.Load(); store != nil {
		return store.Save(session, ttl)
	}
	return errNoSessionStore
}

func (l *lateSessions) Load(pid string) (engine.Session, bool, error) {
	if store := l.store.Load(); store != nil {
		return store.Load(pid)
	}
	return engine.Session{}, false, errNoSessionStore
}

func (l *lateSessions) Touch(pids []string, ttl time.Duration) error {
	if store := l.store.Load(); store != nil {
		return store.Touch(pids, ttl)
	}
	return errNoSessionStore
}

func (l *lateSessions) Delete(pid string) error {
	if store := l.store.Load(); store != nil {
		return store.Delete(pid)
	}
	return errNoSessionStore
}

func (l *lateSessions) Claim(pid string) error {
	if store := l.store.Load(); store != nil {
		return store.Claim(pid)
	}
	return errNoSessionStore
}
