package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
)

// Engine is the gateway: the netpoll event loop serving Engine.IO and
// Socket.IO, the fanout shards and the timer wheel. Create one with New, run
// it with Serve or ListenAndServe, stop it with Shutdown. Its Publisher
// methods are safe for concurrent use.
type Engine struct {
	config  Config
	logger  *slog.Logger
	metrics *metrics
	shards  []*shard
	wheel   *wheel
	front   *httpFront

	symbolsMu sync.RWMutex
	symbols   map[string]*symbolRing // guarded by symbolsMu

	snapshotSlots chan struct{}

	connsMu sync.Mutex
	conns   map[*Conn]struct{} // guarded by connsMu; every live connection

	sessionsMu sync.RWMutex
	sessions   map[string]*Conn // guarded by sessionsMu; polling sessions by sid

	limits *limits

	tlsListenerMu sync.Mutex
	tlsListener   net.Listener // guarded by tlsListenerMu; set while serving TLS

	loop     netpoll.EventLoop
	serveMu  sync.Mutex
	serving  chan struct{} // guarded by serveMu; closed when Serve returns
	address  atomic.Pointer[net.Addr]
	draining atomic.Bool
	done     chan struct{}
	stopOnce sync.Once

	logLimiter logLimiter
}

// New builds an Engine and starts its fanout workers and timer wheel.
func New(config Config) (*Engine, error) {
	config = config.withDefaults()
	e := &Engine{
		config:        config,
		logger:        config.Logger,
		metrics:       newMetrics(),
		symbols:       make(map[string]*symbolRing),
		snapshotSlots: make(chan struct{}, snapshotConcurrency),
		conns:         make(map[*Conn]struct{}),
		sessions:      make(map[string]*Conn),
		limits:        newLimits(config),
		done:          make(chan struct{}),
	}
	e.shards = make([]*shard, config.Shards)
	for i := range e.shards {
		e.shards[i] = newShard(e, i)
		go e.shards[i].run(e.done)
	}
	e.wheel = newWheel(wheelResolution(config))
	go e.wheel.run(e.done)
	e.front = newHTTPFront(e)
	loop, err := netpoll.NewEventLoop(e.onRequest,
		netpoll.WithOnPrepare(e.onPrepare),
		netpoll.WithReadTimeout(config.HandshakeTimeout),
		netpoll.WithWriteTimeout(config.WriteTimeout),
	)
	if err != nil {
		e.stop()
		return nil, err
	}
	e.loop = loop
	return e, nil
}

// wheelResolution picks a tick fine enough for the shortest timer: a
// twentieth of it, between 5 ms and 100 ms.
func wheelResolution(config Config) time.Duration {
	shortest := min(config.PingInterval, config.PingTimeout, config.ConnectTimeout, config.HandshakeTimeout)
	return min(max(shortest/20, 5*time.Millisecond), 100*time.Millisecond)
}

// ListenAndServe listens on Config.Address and serves until Shutdown.
func (e *Engine) ListenAndServe() error {
	listener, err := netpoll.CreateListener("tcp", e.config.Address)
	if err != nil {
		return err
	}
	return e.Serve(listener)
}

// Serve serves on listener until Shutdown. Serve after Shutdown returns nil
// at once.
func (e *Engine) Serve(listener net.Listener) error {
	e.serveMu.Lock()
	if e.draining.Load() || e.serving != nil {
		e.serveMu.Unlock()
		_ = listener.Close()
		if e.draining.Load() {
			return nil
		}
		return errors.New("engine: Serve called twice")
	}
	serving := make(chan struct{})
	e.serving = serving
	e.serveMu.Unlock()
	defer close(serving)

	address := listener.Addr()
	e.address.Store(&address)
	go e.front.serve()
	if e.config.TLS != nil {
		return e.serveTLS(listener)
	}
	err := e.loop.Serve(listener)
	if e.draining.Load() {
		return nil
	}
	return err
}

// Addr returns the address being served, or nil before Serve.
func (e *Engine) Addr() net.Addr {
	if address := e.address.Load(); address != nil {
		return *address
	}
	return nil
}

// Draining reports whether Shutdown has begun.
func (e *Engine) Draining() bool { return e.draining.Load() }

// StartDrain begins the drain without closing anything yet: /ready turns
// 503 and new sessions are refused with 503, while connected clients keep
// being served. A caller that wants load balancers to notice before sockets
// close calls it, waits, then calls Shutdown (which calls it too).
func (e *Engine) StartDrain() { e.draining.Store(true) }

// Shutdown drains the gateway (CONTRACT §9): /ready turns 503, new
// connections are refused, every WebSocket gets a close (1001) and every
// polling session's waiting GET the Engine.IO close packet, so that clients
// reconnect elsewhere, and the loop stops. It returns when all
// is closed or ctx ends, whichever is first.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.serveMu.Lock()
	e.StartDrain()
	serving := e.serving
	e.serveMu.Unlock()
	e.connsMu.Lock()
	conns := make([]*Conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.connsMu.Unlock()
	// One deadline for all: a crowd of slow sockets must not add up.
	writeDeadline := time.Now().Add(shutdownWriteWait)
	for _, c := range conns {
		c.mu.Lock()
		open := c.state == stateOpen
		c.mu.Unlock()
		if open {
			c.send(rawFrame(goingAwayFrame))
			c.waitWritten(writeDeadline)
		}
		c.closeWith(ReasonShutdown)
	}
	var errs []error
	e.closeTLSListener()
	if serving != nil {
		// netpoll's Shutdown is a no-op until its Serve has registered the
		// listener, so it is repeated until Serve has returned. (With TLS,
		// closing the listener above ends Serve.)
		for stopped := false; !stopped; {
			if e.config.TLS == nil {
				if err := e.loop.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					errs = append(errs, err)
				}
			}
			select {
			case <-serving:
				stopped = true
			case <-ctx.Done():
				errs = append(errs, ctx.Err())
				stopped = true
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	errs = append(errs, e.front.shutdown(ctx))
	e.stop()
	return errors.Join(errs...)
}

// shutdownWriteWait bounds how long Shutdown lets the sockets' close frames
// leave before closing them (a goroutine writer may still hold one).
const shutdownWriteWait = 100 * time.Millisecond

// waitWritten waits, at most until deadline, until c has no write in progress.
func (c *Conn) waitWritten(deadline time.Time) {
	for {
		c.mu.Lock()
		writing := c.writing
		c.mu.Unlock()
		if !writing || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *Engine) stop() {
	e.stopOnce.Do(func() { close(e.done) })
}

// forget drops c from the engine's indexes once it is closed.
func (e *Engine) forget(c *Conn) {
	e.leave(c)
	e.limits.closed(c)
	e.connsMu.Lock()
	_, known := e.conns[c]
	delete(e.conns, c)
	e.connsMu.Unlock()
	if known {
		e.metrics.connections.Add(-1)
	}
}
