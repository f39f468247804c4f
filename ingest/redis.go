package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/redis/rueidis"
)

const (
	// DefaultCacheSizeEachConn is the client-side cache of the read client,
	// per connection (rueidis's own default is 128 MiB).
	DefaultCacheSizeEachConn = 16 << 20
	// DefaultCacheTTL bounds how long a snapshot read stays cached; the
	// server invalidates changed keys before that.
	DefaultCacheTTL = time.Minute
	// DefaultQueueLength is the number of received messages waiting for the
	// router before the Pub/Sub reader is made to wait.
	DefaultQueueLength = 1 << 16
	// DefaultReadTimeout bounds one snapshot read.
	DefaultReadTimeout = 2 * time.Second
	// DefaultMaxReconnectDelay is the longest wait between two reconnection
	// attempts.
	DefaultMaxReconnectDelay = time.Second

	// minReconnectDelay is the first wait after a failure: long enough not
	// to spin on a refused connection, short enough to be invisible.
	minReconnectDelay = 10 * time.Millisecond
	// allSubscribed is the subscription bitmask with every channel up.
	allSubscribed = 1<<channelCount - 1
)

// RedisOptions configures Redis. URL and Router are required.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// for TLS,
	// parsed by rueidis.ParseURL (REDIS_URL).
	URL string
	// Prefix is put in front of every channel and key name (REDIS_PREFIX).
	// Empty means none.
	Prefix string
	// Sharded subscribes with SSUBSCRIBE (Redis 7 sharded Pub/Sub, for Redis
	// Cluster); publishers must then use SPUBLISH. False means SUBSCRIBE,
	// which a cluster broadcasts to every node.
	Sharded bool
	// TLSCAFile is a PEM file of CAs trusted for rediss:// instead of the
	// system pool (REDIS_TLS_CA_FILE). Empty means the system pool.
	TLSCAFile string
	// CacheSizeEachConn is the client-side cache per connection of the read
	// client, in bytes. Zero means DefaultCacheSizeEachConn (16 MiB). More
	// cache means fewer round trips for snapshots and more memory.
	CacheSizeEachConn int
	// CacheTTL is the longest time a snapshot read is served from the cache.
	// Zero means DefaultCacheTTL (1 min). The server invalidates changed keys
	// at once, so this only bounds memory held by keys nobody reads again.
	CacheTTL time.Duration
	// ReadTimeout bounds one snapshot read. Zero means DefaultReadTimeout (2s).
	ReadTimeout time.Duration
	// QueueLength is how many received messages may wait for the router.
	// Zero means DefaultQueueLength (65536). When it is full the Pub/Sub
	// reader waits (Redis buffers for us, up to its client-output-buffer-limit)
	// instead of dropping: order updates must not be lost.
	QueueLength int
	// MaxReconnectDelay is the longest wait between two reconnection
	// attempts (the waits double from 10ms, with jitter, and reset once
	// subscribed). Zero means DefaultMaxReconnectDelay (1s).
	MaxReconnectDelay time.Duration
	// UserStreams is how order, position and notification messages arrive
	// (USER_STREAMS): PubSub, the zero value, or Streams.
	UserStreams UserStreams
	// RecoveryWindow is how far back a Streams reader starts at start-up
	// (RECOVERY_WINDOW_MS), so that clients whose last message is that old
	// can still have the rest replayed. Zero starts at the end of each
	// stream. Unused with PubSub.
	RecoveryWindow time.Duration
	// StreamBlock is how long one XREAD waits for new entries. Zero means
	// DefaultStreamBlock (2s). Shorter finds a silently dead connection
	// sooner at the cost of more idle reads.
	StreamBlock time.Duration
	// StreamCount is the most entries one XREAD returns. Zero means
	// DefaultStreamCount (512).
	StreamCount int
	// Router receives every message. Required.
	Router *Router
	// Emitter, when set, also receives what @socket.io/redis-emitter
	// publishes (EMITTER): its broadcasts and requests (emitter_redis.go).
	Emitter *Emitter
	// Logger receives connection state changes. Nil means slog.Default().
	Logger *slog.Logger
}

// Redis is the Redis source (docs/ingest.md): one dedicated rueidis client
// subscribed to the four channels (with Streams, to "market:ticks" only,
// and a third client reading the three user streams), and one client with
// client-side caching for snapshot reads. It never writes to Redis (the
// session store made by Sessions does). Safe for concurrent use; Run must
// be called once.
type Redis struct {
	options       RedisOptions
	router        *Router
	logger        *slog.Logger
	channelNames  [channelCount]string
	pubsubOption  rueidis.ClientOption
	cacheOption   rueidis.ClientOption
	streamsOption rueidis.ClientOption
	messages      outageMessages

	queue chan queuedMessage

	subscribed  atomic.Uint32 // bit per Channel currently subscribed
	downs       atomic.Uint64 // times a subscription was lost
	failures    atomic.Int64  // reconnection attempts since last subscribed
	stopped     atomic.Bool
	lastError   atomic.Pointer[string]
	stateChange chan struct{}

	// emitterSubscribed has a bit per emitter subscription up.
	emitterSubscribed atomic.Uint32

	cache        atomic.Pointer[rueidis.Client]
	cacheEnabled atomic.Bool

	received    atomic.Uint64
	queueWaits  atomic.Uint64
	cacheHits   atomic.Uint64
	cacheMisses atomic.Uint64
	outages     atomic.Uint64

	streamEntries [channelCount]atomic.Uint64
	streamGaps    [channelCount]atomic.Uint64
	streamLag     [channelCount]atomic.Int64 // milliseconds
	// streamReadDelay is, per channel, how old the last entry read was by
	// its ID when read, in milliseconds.
	streamReadDelay [channelCount]atomic.Int64

	roundTrip    atomic.Int64 // the last PING's round trip, nanoseconds
	pingFailures atomic.Uint64
}

var _ Source = (*Redis)(nil)

type queuedMessage struct {
	channel Channel
	payload []byte
	// received is when rueidis handed the message over: the start of its
	// delivery latency (protrader5_delivery_latency_seconds).
	received time.Time
	// resubscribed marks where channel's subscription was (re)made: what
	// was published before it and not queued is lost.
	resubscribed bool
	// emitter says the message is an emitter broadcast or request rather
	// than one of channel.
	emitter emitterInput
}

// outageMessages are the log messages of the monitor, which differ by mode
// since Streams loses nothing across an outage.
type outageMessages struct{ lost, attached, reattached string }

// NewRedis checks options and prepares the clients; it does not connect, so
// a Redis that is down at start-up does not stop the process (Run retries).
func NewRedis(options RedisOptions) (*Redis, error) {
	if options.Router == nil {
		return nil, ErrNoRouter
	}
	if options.CacheSizeEachConn <= 0 {
		options.CacheSizeEachConn = DefaultCacheSizeEachConn
	}
	if options.CacheTTL <= 0 {
		options.CacheTTL = DefaultCacheTTL
	}
	if options.ReadTimeout <= 0 {
		options.ReadTimeout = DefaultReadTimeout
	}
	if options.QueueLength <= 0 {
		options.QueueLength = DefaultQueueLength
	}
	if options.MaxReconnectDelay <= 0 {
		options.MaxReconnectDelay = DefaultMaxReconnectDelay
	}
	if options.StreamBlock <= 0 {
		options.StreamBlock = DefaultStreamBlock
	}
	if options.StreamCount <= 0 {
		options.StreamCount = DefaultStreamCount
	}
	if options.UserStreams != PubSub && options.UserStreams != Streams {
		return nil, fmt.Errorf("ingest: unknown UserStreams %d", options.UserStreams)
	}
	if !strings.HasPrefix(options.URL, "redis://") && !strings.HasPrefix(options.URL, "rediss://") {
		return nil, fmt.Errorf("%w: want redis:// or rediss://", ErrInvalidURL)
	}
	base, err := rueidis.ParseURL(options.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	if options.TLSCAFile != "" {
		if base.TLSConfig == nil {
			return nil, fmt.Errorf("%w: set for a redis:// url", ErrTLSCAFile)
		}
		pem, err := os.ReadFile(options.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTLSCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: no PEM certificate in %s", ErrTLSCAFile, options.TLSCAFile)
		}
		base.TLSConfig.RootCAs = pool
	}
	r := &Redis{
		options:     options,
		router:      options.Router,
		logger:      options.Logger,
		queue:       make(chan queuedMessage, options.QueueLength),
		stateChange: make(chan struct{}, 1),
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	for _, c := range Channels {
		r.channelNames[c] = options.Prefix + c.String()
	}

	r.pubsubOption = base
	r.pubsubOption.TLSConfig = cloneTLS(base.TLSConfig)
	r.pubsubOption.ClientName = "protrader5-ws-pubsub"
	r.pubsubOption.DisableCache = true // no reads on this client
	// rueidis resubscribes by itself; our delay function only makes its
	// backoff restart small after each successful resubscription.
	r.pubsubOption.RetryDelay = func(int, rueidis.Completed, error) time.Duration { return r.nextDelay() }

	r.cacheOption = base
	r.cacheOption.TLSConfig = cloneTLS(base.TLSConfig)
	r.cacheOption.ClientName = "protrader5-ws-cache"
	r.cacheOption.CacheSizeEachConn = options.CacheSizeEachConn

	r.messages = outageMessages{
		lost:       "ingest: redis pub/sub lost, resubscribing",
		attached:   "ingest: redis pub/sub subscribed",
		reattached: "ingest: redis pub/sub resubscribed",
	}
	if options.UserStreams == Streams {
		r.messages = outageMessages{
			lost:       "ingest: redis lost, resuming pub/sub and streams",
			attached:   "ingest: redis pub/sub subscribed and streams read",
			reattached: "ingest: redis pub/sub and streams resumed",
		}
		r.streamsOption = base
		r.streamsOption.TLSConfig = cloneTLS(base.TLSConfig)
		r.streamsOption.ClientName = "protrader5-ws-streams"
		r.streamsOption.DisableCache = true
		// The readers retry themselves, after marking the stream down, so
		// that Ready reflects the outage.
		r.streamsOption.DisableRetry = true
	}
	return r, nil
}

func cloneTLS(config *tls.Config) *tls.Config {
	if config == nil {
		return nil
	}
	return config.Clone()
}

// Ready reports whether all four channels are subscribed, or with Streams
// "market:ticks" subscribed and every stream read up to its end once since
// the last connection loss.
func (r *Redis) Ready() (bool, string) {
	if r.stopped.Load() {
		return false, "redis_stopped"
	}
	if r.subscribed.Load() != allSubscribed {
		return false, "redis_disconnected"
	}
	if r.options.Emitter != nil && r.emitterSubscribed.Load() != emitterAllSubscribed {
		return false, "redis_disconnected"
	}
	return true, ""
}

// Run connects, subscribes and hands messages to the router until ctx is
// done. While Redis is unreachable it keeps retrying with Ready false.
func (r *Redis) Run(ctx context.Context) error {
	runContext, cancel := context.WithCancel(ctx)
	defer cancel()
	var workers, receivers sync.WaitGroup
	workers.Go(func() { r.drain(runContext) })
	workers.Go(func() { r.monitor(runContext) })
	workers.Go(func() { r.connectCache(runContext) })
	workers.Go(func() { r.pingPeriodically(runContext) })

	pubsub, _ := r.connect(runContext, r.pubsubOption, "pubsub")
	if pubsub != nil {
		for _, c := range Channels {
			if c == ChannelTicks || r.options.UserStreams == PubSub {
				receivers.Go(func() { r.receive(runContext, pubsub, c) })
			}
		}
		if r.options.Emitter != nil {
			for _, input := range []emitterInput{emitterBroadcast, emitterRequest} {
				receivers.Go(func() { r.receiveEmitter(runContext, pubsub, input) })
			}
		}
	}
	var streams rueidis.Client
	if r.options.UserStreams == Streams {
		// Its own client: each XREAD BLOCK holds a connection of its own
		// (rueidis takes one from its blocking pool), and one reader per key
		// lets each key live on its own Redis Cluster slot.
		streams, _ = r.connect(runContext, r.streamsOption, "streams")
		if streams != nil {
			for _, c := range []Channel{ChannelOrders, ChannelPositions, ChannelNotifications} {
				receivers.Go(func() { r.readStream(runContext, streams, c) })
			}
		}
	}
	<-runContext.Done()
	receivers.Wait()
	if pubsub != nil {
		pubsub.Close()
	}
	if streams != nil {
		streams.Close()
	}
	workers.Wait()
	if cache := r.cache.Load(); cache != nil {
		(*cache).Close()
	}
	r.stopped.Store(true)
	r.subscribed.Store(0)
	return nil
}

// connect returns a new client once Redis answers, or nil when ctx ends;
// cached reports whether client-side caching is on.
func (r *Redis) connect(ctx context.Context, option rueidis.ClientOption, role string) (client rueidis.Client, cached bool) {
	for attempt := 0; ; attempt++ {
		client, err := rueidis.NewClient(option)
		if err == nil {
			r.logger.LogAttrs(ctx, slog.LevelInfo, "ingest: redis connected", slog.String("role", role))
			return client, !option.DisableCache
		}
		if errors.Is(err, rueidis.ErrNoCache) && !option.DisableCache {
			// No RESP3 or CLIENT TRACKING: serve snapshots without caching.
			r.logger.LogAttrs(ctx, slog.LevelWarn, "ingest: redis has no client-side caching, reads go to the server",
				slog.String("role", role), slog.String("error", err.Error()))
			option.DisableCache = true
			continue
		}
		level := slog.LevelDebug
		if attempt == 0 {
			level = slog.LevelWarn
		}
		r.logger.LogAttrs(ctx, level, "ingest: redis unreachable, retrying",
			slog.String("role", role), slog.Int("attempt", attempt+1), slog.String("error", err.Error()))
		if !sleep(ctx, backoff(attempt, r.options.MaxReconnectDelay)) {
			return nil, false
		}
	}
}

func (r *Redis) connectCache(ctx context.Context) {
	client, cached := r.connect(ctx, r.cacheOption, "cache")
	if client == nil {
		return
	}
	r.cacheEnabled.Store(cached)
	r.cache.Store(&client)
}

// receive keeps channel subscribed until ctx ends.
func (r *Redis) receive(ctx context.Context, client rueidis.Client, channel Channel) {
	bit := uint32(1) << channel
	name := r.channelNames[channel]
	hooked := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
		// Runs on rueidis's reader: atomics only, and no wait but for queue
		// room, as a message would.
		switch s.Kind {
		case "subscribe", "ssubscribe":
			if channel != ChannelTicks {
				r.enqueueResubscribed(ctx, channel)
			}
			r.markUp(bit)
		case "unsubscribe", "sunsubscribe":
			r.markDown(bit, "unsubscribed by server")
		}
	})
	// Called each time one connection's Receive ends, including the ones
	// rueidis retries by itself: the moment the connection was lost.
	hooked = rueidis.WithOnReceiveReturnHook(hooked, func(err error, _ rueidis.CommandClient) error {
		if err != nil && ctx.Err() == nil {
			r.markDown(bit, err.Error())
		}
		return err
	})
	onMessage := func(message rueidis.PubSubMessage) { r.enqueue(ctx, channel, message.Message) }
	for {
		command := client.B().Subscribe().Channel(name).Build()
		if r.options.Sharded {
			command = client.B().Ssubscribe().Channel(name).Build()
		}
		err := client.Receive(hooked, command, onMessage)
		if ctx.Err() != nil {
			return
		}
		reason := "subscription ended"
		if err != nil {
			reason = err.Error()
		}
		r.markDown(bit, reason)
		if !sleep(ctx, r.nextDelay()) {
			return
		}
	}
}

// enqueue hands a message to the drain goroutine. It copies the message:
// the router and then the engine own the bytes.
func (r *Redis) enqueue(ctx context.Context, channel Channel, message string) {
	r.received.Add(1)
	r.queueItem(ctx, queuedMessage{channel: channel, payload: []byte(message), received: time.Now()})
}

// enqueueResubscribed tells the drain goroutine, in order with the
// messages, that channel's subscription was just (re)made.
func (r *Redis) enqueueResubscribed(ctx context.Context, channel Channel) {
	r.queueItem(ctx, queuedMessage{channel: channel, resubscribed: true})
}

func (r *Redis) queueItem(ctx context.Context, item queuedMessage) {
	select {
	case r.queue <- item:
		return
	default:
	}
	// Full: wait rather than drop (see RedisOptions.QueueLength).
	r.queueWaits.Add(1)
	select {
	case r.queue <- item:
	case <-ctx.Done():
	}
}

// drain is the one goroutine calling Router.Handle for Redis messages, so
// messages of one channel reach the engine in publish order.
func (r *Redis) drain(ctx context.Context) {
	for {
		select {
		case item := <-r.queue:
			if item.emitter != emitterNone {
				r.handleEmitter(ctx, item)
				continue
			}
			if item.resubscribed {
				// Pub/Sub keeps nothing: what was published while the
				// subscription was down is lost, and recovery must not claim
				// to replay across it.
				r.router.publisher.HistoryFrom(item.channel.stream(), engine.EntryID{})
				continue
			}
			r.router.HandleReceived(item.channel, item.payload, item.received)
		case <-ctx.Done():
			return
		}
	}
}

func (r *Redis) markUp(bit uint32) {
	for {
		old := r.subscribed.Load()
		if r.subscribed.CompareAndSwap(old, old|bit) {
			break
		}
	}
	r.failures.Store(0)
	r.signal()
}

func (r *Redis) markDown(bit uint32, reason string) {
	for {
		old := r.subscribed.Load()
		if old&bit == 0 {
			return
		}
		if r.subscribed.CompareAndSwap(old, old&^bit) {
			break
		}
	}
	r.lastError.Store(&reason)
	r.downs.Add(1)
	r.signal()
}

func (r *Redis) signal() {
	select {
	case r.stateChange <- struct{}{}:
	default:
	}
}

// monitor logs outages and their end, and refreshes snapshots after one.
// Hooks only flip atomics; everything slow happens here.
func (r *Redis) monitor(ctx context.Context) {
	var (
		up          bool
		everUp      bool
		seenDowns   uint64
		outageStart time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.stateChange:
		}
		nowUp := r.subscribed.Load() == allSubscribed
		downs := r.downs.Load()
		lostSinceSeen := downs != seenDowns
		seenDowns = downs
		if up && (!nowUp || lostSinceSeen) {
			outageStart = time.Now()
			r.outages.Add(1)
			reason := ""
			if last := r.lastError.Load(); last != nil {
				reason = *last
			}
			r.logger.LogAttrs(ctx, slog.LevelWarn, r.messages.lost,
				slog.String("reason", "redis_disconnected"), slog.String("error", reason))
			up = false
		}
		if nowUp && !up {
			up = true
			if !everUp {
				everUp = true
				r.logger.LogAttrs(ctx, slog.LevelInfo, r.messages.attached,
					slog.Bool("sharded", r.options.Sharded), slog.String("prefix", r.options.Prefix),
					slog.String("user_streams", r.options.UserStreams.String()))
				continue
			}
			r.logger.LogAttrs(ctx, slog.LevelInfo, r.messages.reattached,
				slog.Duration("outage", time.Since(outageStart)))
			if r.options.UserStreams == PubSub {
				// Streams resume where they were: no position update was lost.
				r.refreshAfterOutage(ctx)
			}
		}
	}
}

// nextDelay is the wait before the next resubscription attempt.
func (r *Redis) nextDelay() time.Duration {
	return backoff(int(r.failures.Add(1)-1), r.options.MaxReconnectDelay)
}

// backoff doubles from minReconnectDelay up to limit, with equal jitter.
func backoff(attempt int, limit time.Duration) time.Duration {
	delay := limit
	if attempt < 20 {
		delay = min(limit, minReconnectDelay<<attempt)
	}
	return delay/2 + rand.N(delay/2+1)
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
