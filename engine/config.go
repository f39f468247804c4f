package engine

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"time"

	"github.com/protrader5/ws-gateway/engine/auth"
)

// Defaults applied by Config.withDefaults. Every zero Config field takes one.
// They are the gateway's defaults too: cmd/protrader5-ws passes them on
// rather than keeping values of its own.
const (
	DefaultPort                = 4000
	DefaultPath                = "/socket.io/"
	DefaultPingInterval        = 25 * time.Second
	DefaultPingTimeout         = 20 * time.Second
	DefaultConnectTimeout      = 45 * time.Second
	DefaultHandshakeTimeout    = 10 * time.Second
	DefaultMaxPayload          = 1_000_000
	DefaultMaxSymbolsPerSocket = 200
	DefaultMaxPendingBytes     = 1 << 20
	DefaultWriteTimeout        = 10 * time.Second
	DefaultMaxHeaderBytes      = 8 << 10
	DefaultMaxSymbols          = 100_000
	DefaultDrainTimeout        = 10 * time.Second
	DefaultRecoveryMaxEvents   = 1000
	DefaultRecoveryMaxBytes    = 64 << 20
	DefaultPreAuthFrames       = 32
	DefaultPreAuthBytes        = 32 << 10
)

// maxShards is the most fanout shards: a symbol tracks its shards in a uint64.
const maxShards = 64

// Config configures an Engine. The zero value works: every zero field means
// the Default constant named in its comment.
type Config struct {
	// Address is the TCP address to listen on. Zero means DefaultPort (4000)
	// on every interface.
	Address string
	// Path is the Engine.IO endpoint, with leading and trailing slash.
	// Zero means DefaultPath ("/socket.io/").
	Path string
	// PingInterval is the time between server pings. Zero means DefaultPingInterval (25s).
	PingInterval time.Duration
	// PingTimeout is how long after a ping the pong may take before the
	// connection is closed. Zero means DefaultPingTimeout (20s).
	PingTimeout time.Duration
	// ConnectTimeout closes a connection that has joined no namespace for this
	// long, as socket.io's connectTimeout. Zero means DefaultConnectTimeout (45s).
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds the time to send a complete HTTP request head and
	// to finish a partly received WebSocket frame. Zero means DefaultHandshakeTimeout (10s).
	HandshakeTimeout time.Duration
	// MaxPayload is the largest message a client may send, in bytes
	// (MAX_HTTP_BUFFER_SIZE). Zero means DefaultMaxPayload (1e6).
	MaxPayload int
	// MaxSymbolsPerSocket bounds market subscriptions per socket.
	// Zero means DefaultMaxSymbolsPerSocket (200).
	MaxSymbolsPerSocket int
	// MaxSymbols bounds the symbols this node tracks, so that clients cannot
	// grow the symbol table without bound. Zero means DefaultMaxSymbols (100,000).
	MaxSymbols int
	// MaxPendingBytes is the most unsent order/position/notification bytes a
	// connection may hold before it is closed as a slow consumer.
	// Zero means DefaultMaxPendingBytes (1 MiB).
	MaxPendingBytes int
	// WriteTimeout closes a connection whose socket accepts no bytes for this
	// long. Zero means DefaultWriteTimeout (10s).
	WriteTimeout time.Duration
	// WriteCoalesce delays each fanout burst's flush by this much to put more
	// frames into each write. Zero (the default) flushes at once.
	WriteCoalesce time.Duration
	// Shards is the number of fanout shards. Zero means one per CPU (GOMAXPROCS).
	Shards int
	// EventRate is how many client events per second a socket may send, with
	// bursts of twice that; a socket that keeps going after being refused is
	// disconnected. Zero turns the limit off.
	EventRate float64
	// PreAuthFrames is how many WebSocket frames (or polling packets) a
	// connection may send before its Socket.IO CONNECT succeeds; a stock
	// client needs two or three. Past it the connection is closed
	// (input_flood). Zero means DefaultPreAuthFrames (32).
	PreAuthFrames int
	// PreAuthBytes is how many payload bytes a connection may send before
	// its CONNECT succeeds, and the largest frame it may send until then.
	// Zero means DefaultPreAuthBytes (32 KiB).
	PreAuthBytes int
	// AllowOrigin decides whether a browser Origin may connect; nil allows all.
	AllowOrigin func(origin string) bool
	// MaxConnections bounds the Engine.IO sessions (WebSocket or polling)
	// this node holds; a handshake over it is refused with HTTP 503 so that
	// a load balancer retries elsewhere. Zero means no limit.
	MaxConnections int
	// MaxConnectionsPerIP bounds the sessions of one client address; a
	// handshake over it is refused with HTTP 429. Zero means no limit.
	MaxConnectionsPerIP int
	// ConnectionRatePerIP is how many new sessions per second one client
	// address may open, with bursts of twice that (at least 1); a handshake
	// over it is refused with HTTP 429. Zero turns the limit off.
	ConnectionRatePerIP float64
	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// finding a client's address for the per-IP limits. Empty means the
	// peer's own address is always used.
	TrustedProxies []netip.Prefix
	// TLS, when set, serves wss:// and https:// on the same port. TLS
	// connections are served by the standard library with a goroutine each
	// (netpoll does not do TLS); see tls.go. Nil means plain TCP.
	TLS *tls.Config
	// DrainTimeout bounds Shutdown's wait for sockets to close. Zero means
	// DefaultDrainTimeout (10s).
	DrainTimeout time.Duration

	// RecoveryWindow turns on connection state recovery: a client that comes
	// back within it gets its session and every user message it missed.
	// Zero turns it off.
	RecoveryWindow time.Duration
	// RecoveryMaxEvents bounds the user messages kept per user for replay;
	// a client that missed more gets a fresh session. Zero means
	// DefaultRecoveryMaxEvents (1000).
	RecoveryMaxEvents int
	// RecoveryMaxBytes bounds the bytes of user messages kept for replay,
	// all users together; past it the oldest go first (a client that
	// missed them gets a fresh session). Zero means
	// DefaultRecoveryMaxBytes (64 MiB).
	RecoveryMaxBytes int
	// Sessions keeps recoverable sessions. Nil means NewMemorySessions():
	// recovery on this node only.
	Sessions SessionStore
	// StreamOffsets says user messages come with Redis stream entry IDs
	// (PublishUserEntry), the same on every node, so offsets are valid on
	// any node; otherwise this node numbers them and only it can replay.
	StreamOffsets bool

	// Auth verifies the tokens of CONNECT packets. Nil refuses every CONNECT
	// with TOKEN_INVALID.
	Auth *auth.Authenticator
	// Snapshots answers the reads made on subscribe; nil means none.
	Snapshots SnapshotSource
	// Ready reports whether the message source is attached; nil means always.
	Ready func() (ok bool, reason string)
	// Metrics, when set, is served at /metrics.
	Metrics http.Handler
	// Pages, when set, serves every request no other endpoint takes: "/"
	// and any path not listed in docs/protocol.md, so it answers 404 itself
	// for what it does not know. Nil means 404 for all of them.
	Pages http.Handler
	// Logger receives the engine's logs. Nil means slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Address == "" {
		c.Address = net.JoinHostPort("", strconv.Itoa(DefaultPort))
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxSymbolsPerSocket <= 0 {
		c.MaxSymbolsPerSocket = DefaultMaxSymbolsPerSocket
	}
	if c.MaxSymbols <= 0 {
		c.MaxSymbols = DefaultMaxSymbols
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if c.RecoveryMaxEvents <= 0 {
		c.RecoveryMaxEvents = DefaultRecoveryMaxEvents
	}
	if c.RecoveryMaxBytes <= 0 {
		c.RecoveryMaxBytes = DefaultRecoveryMaxBytes
	}
	if c.PreAuthFrames <= 0 {
		c.PreAuthFrames = DefaultPreAuthFrames
	}
	if c.PreAuthBytes <= 0 {
		c.PreAuthBytes = DefaultPreAuthBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Shards <= 0 {
		c.Shards = runtime.GOMAXPROCS(0)
	}
	c.Shards = min(c.Shards, maxShards)
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
