package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/protrader5/ws-gateway/cmd/protrader5-ws/desk"
	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/ingest"
)

// runServe runs the gateway until ctx is cancelled, then drains it within
// DRAIN_TIMEOUT (docs/delivery.md, the drain).
func runServe(ctx context.Context, config Config, logger *slog.Logger) error {
	gateway, err := newServer(config, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	source, err := gateway.startSource()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer source.stop()
	listening, err := gateway.listen()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if listening.metrics != nil {
		// Stopped last, after the engine has drained, so that a scrape
		// during the drain still sees it.
		defer listening.metrics.Shutdown()
	}
	return gateway.serveUntilDone(ctx, listening.gateway, source)
}

// server is the engine with what feeds and observes it, built before
// anything listens.
type server struct {
	config   Config
	logger   *slog.Logger
	settings engine.Config
	engine   *engine.Engine
	router   *ingest.Router
	// emitter takes @socket.io/redis-emitter messages with EMITTER=true.
	emitter *ingest.Emitter
	// registry collects the metrics that metricsHandler serves.
	registry       *prometheus.Registry
	metricsHandler http.Handler
	// The engine needs the source's snapshots, readiness and sessions, and
	// the source needs the engine to publish into: late and sessions are
	// bound to the source after the engine is built, before it serves.
	late     *lateSource
	sessions *lateSessions
	// memory returns the heap a burst left idle (memory.go).
	memory *memoryReturner
	// demo holds the demo feed's intervals: zero, the defaults, but in
	// tests that want a faster feed. Its users come from the config.
	demo ingest.DemoOptions
}

// newServer builds the engine and the router that feeds it, and registers
// their metrics.
func newServer(config Config, logger *slog.Logger) (*server, error) {
	authenticator, err := newAuthenticator(config)
	if err != nil {
		return nil, err
	}
	s := &server{
		config:   config,
		logger:   logger,
		registry: newRegistry(),
		late:     &lateSource{},
		sessions: &lateSessions{},
		memory:   newMemoryReturner(),
	}
	s.registry.MustRegister(s.memory.collector())
	s.metricsHandler = promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	s.settings = engineConfig(config)
	s.settings.Auth = authenticator
	s.settings.Snapshots = s.late
	s.settings.Ready = s.late.Ready
	s.settings.Logger = logger
	if config.MetricsPort == 0 {
		// Otherwise the engine has no /metrics: it answers 404 there.
		s.settings.Metrics = s.metricsHandler
	}
	if s.settings.StreamOffsets {
		s.settings.Sessions = s.sessions
	}
	if config.DemoPage {
		s.settings.Pages = deskHandler(config, logger)
	}
	if s.engine, err = engine.New(s.settings); err != nil {
		return nil, err
	}
	s.registry.MustRegister(s.engine.Collector())
	s.router = ingest.NewRouter(s.engine, ingest.RouterOptions{PNLInterval: config.PnLInterval, Logger: logger})
	s.registry.MustRegister(newIngestCollector(s.router))
	s.emitter, err = ingest.NewEmitter(ingest.EmitterOptions{
		Key:    config.EmitterKey,
		Router: s.router,
		Rooms:  s.engine,
		// With streams, recovery offsets are stream entry IDs, which an
		// emitter message has none of.
		Recoverable: config.UserStreams == ingest.PubSub,
		Logger:      logger,
	})
	if err != nil {
		return nil, err
	}
	// Registered whether or not EMITTER is on, so that dashboards find the
	// series at zero rather than missing.
	s.registry.MustRegister(newEmitterCollector(s.emitter, s.engine))
	return s, nil
}

// deskHandler serves the desk page (DEMO_PAGE). Only in development, and
// only with a secret this process can sign with, does it hand out tokens
// for the first demo user at desk.TokenPath: anyone who reaches the port
// gets one, which is the point of a development demo and never acceptable
// anywhere else.
func deskHandler(config Config, logger *slog.Logger) http.Handler {
	options := desk.Options{SocketIOPath: config.SocketIOPath, Logger: logger}
	if config.IsDevelopment() && len(config.JWTSecret) > 0 {
		user := strings.Split(config.DemoUser, ",")[0]
		options.Token = func() (string, error) {
			return mintToken(config.JWTSecret, user, DefaultTokenTTL, config.JWTIssuer, config.JWTAudience, time.Now())
		}
	}
	return desk.Handler(options)
}

func newAuthenticator(config Config) (*auth.Authenticator, error) {
	return auth.New(auth.Options{
		Secret:    config.JWTSecret,
		PublicKey: config.JWTPublicKey,
		Issuer:    config.JWTIssuer,
		Audience:  config.JWTAudience,
		Leeway:    config.JWTLeeway,
	})
}

// newRegistry returns a registry holding the Go runtime and process metrics;
// the engine, ingest and Redis collectors join it as they are built.
func newRegistry() *prometheus.Registry {
	registry := prometheus.NewRegistry()
	// Beside the default Go series, go_gc_heap_live_bytes: the heap the last
	// collection found reachable, the figure a leak raises (heap in use also
	// holds the garbage of the current cycle).
	goCollector := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)}))
	registry.MustRegister(goCollector, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newBuildInfo())
	return registry
}

// engineConfig maps the settings onto the engine's, leaving out what is
// built at start-up (authenticator, sources, metrics, logger). It reads
// nothing else, so a test can hold its defaults against the engine's.
func engineConfig(config Config) engine.Config {
	settings := engine.Config{
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
		// With streams every gateway reads every entry: offsets are entry
		// IDs and sessions live in Redis, so a client recovers on any gateway.
		StreamOffsets: config.RedisURL != "" && config.UserStreams == ingest.Streams,
	}
	if config.TLSCertificate != nil {
		// With TLS the engine serves wss:// and https:// on the same port
		// from the standard library (netpoll has no TLS).
		settings.TLS = &tls.Config{Certificates: []tls.Certificate{*config.TLSCertificate}, MinVersion: tls.VersionTLS12}
	}
	return settings
}

// messageSource is the running message source and the goroutines that
// serve it (the source itself, the demo feed, the session store).
type messageSource struct {
	cancel  context.CancelFunc
	workers sync.WaitGroup
	// failed receives the error of a source that stops on its own.
	failed chan error
}

// stop ends the source's goroutines and waits for them. It may be called
// again: the second call finds them gone.
func (m *messageSource) stop() {
	m.cancel()
	m.workers.Wait()
}

// startSource attaches the message source, the embedded bus or Redis, to
// the engine and runs it until the returned source's stop.
func (s *server) startSource() (*messageSource, error) {
	// Not derived from the serve context: the source keeps feeding the
	// engine while it drains, until stop.
	sourceContext, cancel := context.WithCancel(context.Background())
	running := &messageSource{cancel: cancel, failed: make(chan error, 1)}
	var source ingest.Source
	if s.config.RedisURL == "" {
		source = s.startEmbeddedBus(sourceContext, running)
	} else {
		redis, err := s.attachRedis(sourceContext, running)
		if err != nil {
			running.stop()
			return nil, err
		}
		source = redis
	}
	s.late.source = source
	running.workers.Go(func() {
		if err := source.Run(sourceContext); err != nil {
			running.failed <- err
		}
	})
	return running, nil
}

// startEmbeddedBus returns the in-process bus, with the demo feed running
// on it when DEMO_FEED is on.
func (s *server) startEmbeddedBus(sourceContext context.Context, running *messageSource) ingest.Source {
	bus := ingest.NewBus(s.router)
	s.late.snapshots = bus
	if s.config.UserStreams == ingest.Streams {
		s.logger.Warn("USER_STREAMS=streams needs REDIS_URL; the embedded bus delivers on this node only, as pubsub does")
	}
	if s.config.DemoFeed {
		users := strings.Split(s.config.DemoUser, ",")
		options := s.demo
		options.UserID, options.UserIDs = users[0], users[1:]
		demo := ingest.NewDemoFeed(bus, options)
		running.workers.Go(func() { _ = demo.Run(sourceContext) })
		s.logger.Info("demo feed on", slog.String("user_id", s.config.DemoUser))
	}
	return bus
}

// attachRedis connects the Redis source and, with stream offsets, runs its
// session store.
func (s *server) attachRedis(sourceContext context.Context, running *messageSource) (*ingest.Redis, error) {
	redis, err := ingest.NewRedis(ingest.RedisOptions{
		URL:       s.config.RedisURL,
		Prefix:    s.config.RedisPrefix,
		Sharded:   s.config.RedisSharded,
		TLSCAFile: s.config.RedisTLSCAFile,
		Router:    s.router,
		Emitter:   s.emitterIfEnabled(),
		Logger:    s.logger,
		// With streams a starting gateway reads back as far as clients
		// may ask to recover from.
		UserStreams:    s.config.UserStreams,
		RecoveryWindow: s.config.RecoveryWindow,
	})
	if err != nil {
		return nil, err
	}
	s.late.snapshots = redis
	s.registry.MustRegister(newRedisCollector(redis))
	if s.settings.StreamOffsets {
		store := redis.Sessions(s.engine.ReleaseSession)
		s.sessions.store.Store(store)
		running.workers.Go(func() { _ = store.Run(sourceContext) })
	}
	return redis, nil
}

// listeners are the gateway's port and, with METRICS_PORT, the server of
// /metrics on its own port (nil without).
type listeners struct {
	gateway net.Listener
	metrics *metricsServer
}

// listen opens the ports. Nothing is left open when it fails.
func (s *server) listen() (listeners, error) {
	listener, err := net.Listen("tcp", s.settings.Address)
	if err != nil {
		return listeners{}, err
	}
	if s.config.MetricsPort == 0 {
		return listeners{gateway: listener}, nil
	}
	metrics, err := listenMetrics(s.config.MetricsPort, s.metricsHandler, s.config.HandshakeTimeout, s.logger)
	if err != nil {
		listener.Close()
		return listeners{}, err
	}
	s.logger.Info("metrics listening", slog.String("address", metrics.Address().String()), slog.String("path", "/metrics"))
	return listeners{gateway: listener, metrics: metrics}, nil
}

// serveUntilDone serves on listener until ctx is cancelled or the source
// fails, then drains. The source's failure is returned before the drain's.
func (s *server) serveUntilDone(ctx context.Context, listener net.Listener, source *messageSource) error {
	served := make(chan error, 1)
	go func() { served <- s.engine.Serve(listener) }()
	memoryContext, stopMemory := context.WithCancel(context.Background())
	defer stopMemory()
	go s.memory.run(memoryContext, s.logger)
	s.logger.Info("gateway listening", slog.String("address", listener.Addr().String()), slog.String("path", s.config.SocketIOPath))
	if s.config.DemoPage {
		s.logger.Info("desk page on", slog.String("path", "/"), slog.Bool("development_token", s.config.IsDevelopment() && len(s.config.JWTSecret) > 0))
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		source.stop()
		return fmt.Errorf("serve: %w", err)
	case err = <-source.failed:
		s.logger.Error("message source stopped", slog.Any("error", err))
	}
	shutdownErr := s.drain(source)
	<-served
	if err != nil {
		return err
	}
	return shutdownErr
}

// drain shuts the engine down within DRAIN_TIMEOUT, then stops the source,
// which feeds the sockets until they are gone.
func (s *server) drain(source *messageSource) error {
	drainContext, cancel := context.WithTimeout(context.Background(), s.config.DrainTimeout)
	defer cancel()
	err := s.engine.Shutdown(drainContext)
	source.stop()
	return err
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
