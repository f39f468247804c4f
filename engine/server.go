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

	connsMu   sync.Mutex
	conns     map[*clientConn]struct{} // guarded by connsMu; every live connection
	connsPeak int                      // guarded by connsMu; see shrinkAfterDelete

	sessionsMu   sync.RWMutex
	sessions     map[string]*clientConn // guarded by sessionsMu; polling sessions by sid
	sessionsPeak int                    // guarded by sessionsMu; see shrinkAfterDelete

	limits   *limits
	recovery *recovery // nil when Config.RecoveryWindow is zero

	application Application // nil: the gateway serves every session itself
	extraPaths  []string    // Engine.IO paths besides Config.Path, from application

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
	emitted    emitCounters // room emissions (emit.go)
}

// New builds an Engine and starts its fanout workers and timer wheel.
func New(config Config, options ...Option) (*Engine, error) {
	config = config.withDefaults()
	e := &Engine{
		config:        config,
		logger:        config.Logger,
		metrics:       newMetrics(),
		symbols:       make(map[string]*symbolRing),
		snapshotSlots: make(chan struct{}, snapshotConcurrency),
		conns:         make(map[*clientConn]struct{}),
		sessions:      make(map[string]*clientConn),
		limits:        newLimits(config),
		done:          make(chan struct{}),
	}
	for _, option := range options {
		option(e)
	}
	paths, err := extraPaths(e.application, config.Path)
	if err != nil {
		return nil, err
	}
	e.extraPaths = paths
	e.shards = make([]*shard, config.Shards)
	for i := range e.shards {
		e.shards[i] = newShard(e, i)
		go e.shards[i].run(e.done)
	}
	e.wheel = newWheel(wheelResolution(config))
	go e.wheel.run(e.done)
	if config.RecoveryWindow > 0 {
		e.recovery = newRecovery(e)
		go e.recovery.run(e.done)
	}
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

// Shutdown drains the gateway: /ready turns 503, new connections are
// refused, and every session is sent its goodbye (a WebSocket close 1001,
// or the Engine.IO close packet for a long-polling session) so that clients
// reconnect elsewhere. Everything published before Shutdown was called is
// queued before the goodbyes; until its goodbye is queued a session keeps
// receiving what is published, and everything queued before it is written
// before the socket closes. Then the loop stops. It returns when
// all is closed or ctx ends, whichever is first; at ctx's end the sessions
// still writing are closed as they are.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.serveMu.Lock()
	e.StartDrain()
	serving := e.serving
	e.serveMu.Unlock()
	// What was published before the drain goes out before the goodbyes.
	e.deliverPending(ctx)
	e.sayGoodbye(ctx)
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

// goodbyePoll is how often Shutdown looks for sessions whose goodbye has
// been written.
const goodbyePoll = 2 * time.Millisecond

// sayGoodbye queues every open session's goodbye behind what it already
// has queued, and closes each one once all of that is written, or at ctx's
// end.
func (e *Engine) sayGoodbye(ctx context.Context) {
	e.connsMu.Lock()
	conns := make([]*clientConn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.connsMu.Unlock()
	waiting := conns[:0]
	for _, c := range conns {
		if c.goodbye() {
			waiting = append(waiting, c)
		} else {
			c.closeWith(reasonShutdown)
		}
	}
	for len(waiting) > 0 {
		still := waiting[:0]
		for _, c := range waiting {
			if c.written() {
				c.closeWith(reasonShutdown)
			} else {
				still = append(still, c)
			}
		}
		clear(waiting[len(still):])
		waiting = still
		if len(waiting) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			for _, c := range waiting {
				c.closeWith(reasonShutdown)
			}
			return
		case <-time.After(goodbyePoll):
		}
	}
}

// goodbye queues the session's last frame and stops anything more being
// queued after it. It reports false for a connection that is not an open
// session (a handshake in progress, a probe), which is simply closed.
func (c *clientConn) goodbye() bool {
	c.mu.Lock()
	if c.state != stateOpen || c.probing != nil || c.closing {
		c.mu.Unlock()
		return false
	}
	frame := rawFrame(goingAwayFrame)
	if c.polling != nil && c.polling.websocket.Load() == nil {
		frame = closePacketFrame
	}
	c.enqueueLocked(frame, false, 0)
	c.closing = true
	c.mu.Unlock()
	c.flush()
	return true
}

// written reports whether everything queued for c has been written.
func (c *clientConn) written() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateClosed || (c.queue == nil && !c.writing)
}

func (e *Engine) stop() {
	e.stopOnce.Do(func() { close(e.done) })
}
