package main

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/ingest"
)

// Defaults of the settings only this command has (docs/configuration.md).
// A setting handed on to engine, auth or ingest takes that package's
// default, so that no value is written twice. defaultConfig is the one
// place that applies them; the field docs of Config name them.
const (
	defaultEnvironment         = EnvironmentDevelopment
	defaultCORSOrigin          = "*"
	defaultLogLevel            = slog.LevelInfo
	defaultLogDirectory        = "logs"
	defaultLogMaxSizeMegabytes = 100
	defaultLogMaxAgeDays       = 7
	defaultLogMaxBackups       = 5
	defaultEventRatePerSocket  = 50
	defaultUserStreams         = ingest.PubSub
	defaultRecoveryWindow      = 2 * time.Minute
)

const (
	// DevelopmentSecret signs and verifies tokens when NODE_ENV is not
	// production and neither JWT_SECRET nor JWT_PUBLIC_KEY_FILE is set, so a
	// fresh checkout works with the token subcommand. It is public: production
	// refuses it.
	DevelopmentSecret = "protrader5-dev-secret"
)

// The values NODE_ENV accepts.
const (
	EnvironmentDevelopment = "development"
	EnvironmentProduction  = "production"
	EnvironmentTest        = "test"
)

// Config holds every setting of the gateway, read once at start-up by
// LoadConfig from the environment and a .env file. It is a plain value:
// safe to copy and to read from any goroutine; nothing modifies it after
// LoadConfig returns.
//
// "Unset" below means the variable is absent or empty: like Node's
// `process.env.X || default`, an empty value never overrides a default.
type Config struct {
	// Port is the TCP port clients connect to (PORT): /socket.io/, /health,
	// /ready, and /metrics unless MetricsPort is set. Default engine.DefaultPort
	// (4000). Zero means a free port chosen by the kernel (tests use it).
	Port int
	// MetricsPort, when not zero, is the TCP port that serves /metrics alone
	// (METRICS_PORT), and Port answers /metrics with 404: a balancer in front
	// of Port then cannot publish the metrics. Zero, the default, serves
	// /metrics on Port. Never equal to a non-zero Port.
	MetricsPort int
	// Environment is NODE_ENV: EnvironmentDevelopment (the default),
	// EnvironmentProduction or EnvironmentTest. Production requires a JWT
	// key; development adds a console log and the demo feed.
	Environment string
	// CORSOrigins lists the origins allowed on polling requests and on the
	// WebSocket Origin header (CORS_ORIGIN, comma separated), each as
	// scheme://host[:port]. Default [defaultCORSOrigin] ("*"), which allows
	// every origin. Use OriginAllowed rather than reading it.
	CORSOrigins []string

	// JWTSecret is the HS256 key (JWT_SECRET). Empty means HS256 tokens are
	// not accepted, which happens only when a public key is configured and no
	// secret is. Never log it.
	JWTSecret []byte
	// DevelopmentSecret reports that JWTSecret is the public DevelopmentSecret
	// because nothing else was configured; the caller warns about it.
	DevelopmentSecret bool
	// JWTPublicKeyFile is the PEM file the public key came from
	// (JWT_PUBLIC_KEY_FILE). Empty means none.
	JWTPublicKeyFile string
	// JWTPublicKey is the parsed key of JWTPublicKeyFile: *rsa.PublicKey or
	// *ecdsa.PublicKey. Nil when no file is set.
	JWTPublicKey crypto.PublicKey
	// JWTPublicKeyAlgorithm is the one JWT algorithm JWTPublicKey verifies:
	// "RS256" for RSA, "ES256"/"ES384"/"ES512" for EC P-256/P-384/P-521.
	// Empty when no file is set.
	JWTPublicKeyAlgorithm string
	// JWTIssuer, when not empty, is the required "iss" claim (JWT_ISSUER).
	JWTIssuer string
	// JWTAudience, when not empty, must be one of the "aud" values
	// (JWT_AUDIENCE).
	JWTAudience string
	// JWTLeeway is the clock skew allowed on exp and nbf (JWT_LEEWAY_MS,
	// milliseconds). Default auth.DefaultLeeway (5s). Zero means the
	// default too (auth.New).
	JWTLeeway time.Duration

	// RedisURL is redis:// or rediss:// (TLS) (REDIS_URL), in the form
	// rueidis reads: LoadConfig accepts what the Node.js Redis clients do
	// and rewrites it (redisURL). Empty means the embedded in-process bus.
	// It may hold a password: log RedisURLRedacted.
	RedisURL string
	// AllowEmbeddedBus lets NODE_ENV=production run without RedisURL
	// (ALLOW_EMBEDDED_BUS). Default false: a production gateway on the
	// embedded bus can be reached by no backend, so it is refused unless
	// this says it is meant (a demo, a smoke test).
	AllowEmbeddedBus bool
	// RedisPrefix is prepended to every channel and key name (REDIS_PREFIX).
	// Empty means none.
	RedisPrefix string
	// RedisSharded selects sharded Pub/Sub (SSUBSCRIBE/SPUBLISH) for Redis
	// Cluster 7+ (REDIS_SHARDED). Default false.
	RedisSharded bool
	// Emitter also takes what @socket.io/redis-emitter publishes (EMITTER):
	// backends' room emissions and requests (docs/ingest.md). Default
	// false. It needs RedisURL.
	Emitter bool
	// EmitterKey is the emitter's channel prefix, its "key" option
	// (EMITTER_KEY). Default ingest.DefaultEmitterKey ("socket.io").
	// REDIS_PREFIX does not apply to it.
	EmitterKey string
	// RedisTLSCAFile is a PEM bundle of CAs trusted for rediss://
	// (REDIS_TLS_CA_FILE). Empty means the system roots.
	RedisTLSCAFile string
	// RedisTLSRoots is RedisTLSCAFile parsed. Nil means the system roots.
	RedisTLSRoots *x509.CertPool
	// UserStreams is how order, position and notification messages come
	// from Redis (USER_STREAMS): ingest.PubSub ("pubsub", the default,
	// Pub/Sub channels) or ingest.Streams ("streams", Redis Stream keys of
	// the same names, which a gateway resumes after an outage). It has no
	// effect without RedisURL: the embedded bus is this process's own.
	UserStreams ingest.UserStreams
	// RecoveryWindow is how long a client that lost its connection can come
	// back and be sent what it missed (RECOVERY_WINDOW_MS, milliseconds);
	// with streams it is also how far back a starting gateway reads each
	// stream. Default defaultRecoveryWindow (2 min). Zero turns recovery off.
	RecoveryWindow time.Duration
	// RecoveryMaxEvents bounds the user messages kept per user for replay
	// (RECOVERY_MAX_EVENTS); a client that missed more gets a fresh session.
	// Default engine.DefaultRecoveryMaxEvents (1000). Never zero.
	RecoveryMaxEvents int
	// RecoveryMaxBytes bounds the bytes of user messages kept for replay,
	// all users together (RECOVERY_MAX_BYTES). Default
	// engine.DefaultRecoveryMaxBytes (64 MiB). Never zero.
	RecoveryMaxBytes int

	// LogLevel is the lowest level logged (LOG_LEVEL: debug, info, warn,
	// error). Default defaultLogLevel (info); the zero value is info too.
	LogLevel slog.Level
	// LogDirectory holds combined.log and error.log (LOG_DIR), created when
	// missing. Default defaultLogDirectory ("logs"), relative to the working
	// directory. Empty, from LOG_DIR set to nothing, means no log files:
	// stderr only, for platforms that collect it. Unlike every other
	// variable, an empty LOG_DIR is not the same as an unset one.
	LogDirectory string
	// LogMaxSizeMegabytes is the size, in megabytes, past which a log file
	// is renamed with a timestamp and a new one begun (LOG_MAX_SIZE_MB).
	// Default defaultLogMaxSizeMegabytes (100). Never zero.
	LogMaxSizeMegabytes int
	// LogMaxAgeDays is how many days a rotated log file is kept
	// (LOG_MAX_AGE_DAYS). Default defaultLogMaxAgeDays (7). Zero removes none
	// for age; LogMaxBackups still bounds them.
	LogMaxAgeDays int
	// LogMaxBackups is how many rotated files of each log are kept
	// (LOG_MAX_BACKUPS). Default defaultLogMaxBackups (5). Never zero, so
	// that the files on disk are bounded whatever LogMaxAgeDays says.
	LogMaxBackups int

	// SocketIOPath is the Engine.IO endpoint path (SOCKETIO_PATH), always
	// starting and ending with '/'. Default engine.DefaultPath ("/socket.io/").
	SocketIOPath string
	// PingInterval is the Engine.IO heartbeat period (PING_INTERVAL,
	// milliseconds). Default engine.DefaultPingInterval (25s). Never zero.
	PingInterval time.Duration
	// PingTimeout is how long a pong may take before the session is closed
	// (PING_TIMEOUT, milliseconds). Default engine.DefaultPingTimeout (20s). Never zero.
	PingTimeout time.Duration
	// ConnectTimeout closes a session that joins no namespace in time, as
	// socket.io's connectTimeout (CONNECT_TIMEOUT, milliseconds). Default
	// engine.DefaultConnectTimeout (45s). Never zero.
	ConnectTimeout time.Duration
	// MaxHTTPBufferSize is the largest message or polling body accepted, in
	// bytes (MAX_HTTP_BUFFER_SIZE). Default engine.DefaultMaxPayload (1e6).
	// Never zero.
	MaxHTTPBufferSize int
	// MaxConnections caps the Engine.IO sessions (WebSocket or polling) of
	// this process (MAX_CONNECTIONS); probes and scrapes do not count.
	// Zero, the default, means no limit.
	MaxConnections int
	// MaxConnectionsPerIP caps the Engine.IO sessions per client address
	// (MAX_CONNECTIONS_PER_IP). Zero, the default, means no limit.
	MaxConnectionsPerIP int
	// ConnectionRatePerIP caps new Engine.IO sessions per second per client
	// address (CONNECTION_RATE_PER_IP). Zero, the default, means no limit.
	ConnectionRatePerIP int
	// TrustedProxies are the peers whose X-Forwarded-For is believed
	// (TRUSTED_PROXIES, IPs or CIDRs, comma separated). Empty, the default,
	// means the peer address is always the client address. Use TrustedProxy.
	TrustedProxies []netip.Prefix
	// TLSCertFile and TLSKeyFile serve https/wss (TLS_CERT_FILE,
	// TLS_KEY_FILE); both or neither. Empty means plain http/ws.
	TLSCertFile string
	TLSKeyFile  string
	// TLSCertificate is the pair loaded from TLSCertFile and TLSKeyFile at
	// start-up. Nil when TLS is off.
	TLSCertificate *tls.Certificate

	// MaxSymbolsPerSocket caps market subscriptions per socket
	// (MAX_SYMBOLS_PER_SOCKET). Default engine.DefaultMaxSymbolsPerSocket (200).
	// Never zero.
	MaxSymbolsPerSocket int
	// MaxPendingBytes is the outbound backlog, in bytes, past which a socket
	// is disconnected as a slow consumer (MAX_PENDING_BYTES). Default
	// engine.DefaultMaxPendingBytes (1 MiB). Never zero.
	MaxPendingBytes int
	// WriteTimeout bounds one write to a socket (WRITE_TIMEOUT,
	// milliseconds). Default engine.DefaultWriteTimeout (10s). Never zero.
	WriteTimeout time.Duration
	// WriteCoalesce is how long a writer waits to batch more frames into one
	// write (WRITE_COALESCE_US, microseconds). Zero, the default, means write
	// as soon as the queue is non-empty.
	WriteCoalesce time.Duration
	// HandshakeTimeout is the time a new connection has to send its HTTP
	// request head (HANDSHAKE_TIMEOUT, milliseconds). Default
	// engine.DefaultHandshakeTimeout (10s). Never zero.
	HandshakeTimeout time.Duration
	// EventRatePerSocket caps client events per second per socket, with a
	// burst of twice that (EVENT_RATE_PER_SOCKET). Default
	// defaultEventRatePerSocket (50). Zero means no limit.
	EventRatePerSocket int
	// PreAuthFrames is how many WebSocket frames or polling packets a
	// connection may send before its CONNECT succeeds (PRE_AUTH_FRAMES).
	// Default engine.DefaultPreAuthFrames (32). Never zero.
	PreAuthFrames int
	// PreAuthBytes is how many bytes a connection may send before its
	// CONNECT succeeds, and its largest frame until then (PRE_AUTH_BYTES).
	// Default engine.DefaultPreAuthBytes (32 KiB). Never zero.
	PreAuthBytes int
	// Shards is the number of fanout shards (SHARDS). Zero, the default,
	// means one per CPU (GOMAXPROCS), decided by the engine.
	Shards int
	// PnLInterval is the shortest time between two live P&L updates of one
	// position (PNL_INTERVAL_MS, milliseconds). Default ingest.DefaultPNLInterval
	// (250ms). Zero means the default too (ingest.NewRouter).
	PnLInterval time.Duration
	// DemoFeed runs the built-in demo market feed on the embedded bus
	// (DEMO_FEED). Default true in development, false otherwise. It has no
	// effect with RedisURL set.
	DemoFeed bool
	// DemoPage serves the desk page at / (DEMO_PAGE): live ticks, orders,
	// positions and notifications in a browser. Default true in development,
	// false otherwise. In development the page also gets a token for the
	// first DemoUser from /dev/token; elsewhere it asks for one.
	DemoPage bool
	// DemoUser is the user id (or a comma list of them) the demo feed
	// publishes orders, positions and notifications for (DEMO_USER).
	// Default ingest.DefaultDemoUserID ("demo").
	DemoUser string
	// DrainTimeout bounds the shutdown after SIGTERM/SIGINT (DRAIN_TIMEOUT,
	// milliseconds). Default engine.DefaultDrainTimeout (10s). Zero means close
	// every socket at once without waiting.
	DrainTimeout time.Duration
}

// defaultConfig returns the configuration used for every unset variable.
// The demo feed default depends on the environment, so it takes it.
func defaultConfig(environment string) Config {
	return Config{
		Port:                engine.DefaultPort,
		Environment:         environment,
		CORSOrigins:         []string{defaultCORSOrigin},
		JWTLeeway:           auth.DefaultLeeway,
		LogLevel:            defaultLogLevel,
		LogDirectory:        defaultLogDirectory,
		LogMaxSizeMegabytes: defaultLogMaxSizeMegabytes,
		LogMaxAgeDays:       defaultLogMaxAgeDays,
		LogMaxBackups:       defaultLogMaxBackups,
		SocketIOPath:        engine.DefaultPath,
		PingInterval:        engine.DefaultPingInterval,
		PingTimeout:         engine.DefaultPingTimeout,
		ConnectTimeout:      engine.DefaultConnectTimeout,
		MaxHTTPBufferSize:   engine.DefaultMaxPayload,
		MaxSymbolsPerSocket: engine.DefaultMaxSymbolsPerSocket,
		MaxPendingBytes:     engine.DefaultMaxPendingBytes,
		WriteTimeout:        engine.DefaultWriteTimeout,
		HandshakeTimeout:    engine.DefaultHandshakeTimeout,
		EventRatePerSocket:  defaultEventRatePerSocket,
		PreAuthFrames:       engine.DefaultPreAuthFrames,
		PreAuthBytes:        engine.DefaultPreAuthBytes,
		PnLInterval:         ingest.DefaultPNLInterval,
		DemoFeed:            environment == EnvironmentDevelopment,
		DemoPage:            environment == EnvironmentDevelopment,
		DemoUser:            ingest.DefaultDemoUserID,
		DrainTimeout:        engine.DefaultDrainTimeout,
		UserStreams:         defaultUserStreams,
		RecoveryWindow:      defaultRecoveryWindow,
		RecoveryMaxEvents:   engine.DefaultRecoveryMaxEvents,
		RecoveryMaxBytes:    engine.DefaultRecoveryMaxBytes,
		EmitterKey:          ingest.DefaultEmitterKey,
	}
}

// IsProduction reports whether NODE_ENV is production.
func (c Config) IsProduction() bool { return c.Environment == EnvironmentProduction }

// IsDevelopment reports whether NODE_ENV is development.
func (c Config) IsDevelopment() bool { return c.Environment == EnvironmentDevelopment }

// JWTAlgorithms returns the algorithms a token may be signed with: "HS256"
// when JWTSecret is set, and JWTPublicKeyAlgorithm when a key is set. The
// verifier pins exactly these, and picks the key by algorithm, so an HS256
// token can never be checked against the public key.
func (c Config) JWTAlgorithms() []string {
	var algorithms []string
	if len(c.JWTSecret) > 0 {
		algorithms = append(algorithms, "HS256")
	}
	if c.JWTPublicKeyAlgorithm != "" {
		algorithms = append(algorithms, c.JWTPublicKeyAlgorithm)
	}
	return algorithms
}

// OriginAllowed reports whether a request with the Origin header origin may
// connect. A request without an Origin (a Node.js client, curl) is allowed:
// CORS protects browsers, and browsers always send one.
func (c Config) OriginAllowed(origin string) bool {
	if origin == "" || slices.Contains(c.CORSOrigins, "*") {
		return true
	}
	return slices.Contains(c.CORSOrigins, strings.ToLower(origin))
}

// TrustedProxy reports whether peer is in TrustedProxies, so that its
// X-Forwarded-For header names the client.
func (c Config) TrustedProxy(peer netip.Addr) bool {
	peer = peer.Unmap()
	for _, prefix := range c.TrustedProxies {
		if prefix.Contains(peer) {
			return true
		}
	}
	return false
}

// RedisURLRedacted returns RedisURL with any password replaced by "xxxxx".
func (c Config) RedisURLRedacted() string {
	parsed, err := url.Parse(c.RedisURL)
	if err != nil {
		return "(unparsable)"
	}
	return parsed.Redacted()
}

// jwtSecretKind says which HS256 secret is in use, for the log: "development"
// (the public DevelopmentSecret), "set" (JWT_SECRET) or "none" (only a
// public key verifies tokens). A plain "set" for the development secret
// would hide that anyone can mint tokens.
func (c Config) jwtSecretKind() string {
	switch {
	case c.DevelopmentSecret:
		return "development"
	case len(c.JWTSecret) > 0:
		return "set"
	}
	return "none"
}

// LogValue lists the effective settings for the start-up log, durations in
// the units of their variables. The JWT secret and the Redis password never
// appear; only which kind of secret is in use (jwtSecretKind).
func (c Config) LogValue() slog.Value {
	proxies := make([]string, len(c.TrustedProxies))
	for index, prefix := range c.TrustedProxies {
		proxies[index] = prefix.String()
	}
	return slog.GroupValue(
		slog.Int("port", c.Port),
		slog.Int("metrics_port", c.MetricsPort),
		slog.String("node_env", c.Environment),
		slog.String("cors_origin", strings.Join(c.CORSOrigins, ",")),
		slog.String("jwt_secret", c.jwtSecretKind()),
		slog.String("jwt_public_key_file", c.JWTPublicKeyFile),
		slog.String("jwt_algorithms", strings.Join(c.JWTAlgorithms(), ",")),
		slog.String("jwt_issuer", c.JWTIssuer),
		slog.String("jwt_audience", c.JWTAudience),
		slog.Int64("jwt_leeway_ms", c.JWTLeeway.Milliseconds()),
		slog.String("redis_url", c.RedisURLRedacted()),
		slog.Bool("allow_embedded_bus", c.AllowEmbeddedBus),
		slog.String("redis_prefix", c.RedisPrefix),
		slog.Bool("redis_sharded", c.RedisSharded),
		slog.Bool("emitter", c.Emitter),
		slog.String("emitter_key", c.EmitterKey),
		slog.String("redis_tls_ca_file", c.RedisTLSCAFile),
		slog.String("user_streams", c.UserStreams.String()),
		slog.Int64("recovery_window_ms", c.RecoveryWindow.Milliseconds()),
		slog.Int("recovery_max_events", c.RecoveryMaxEvents),
		slog.Int("recovery_max_bytes", c.RecoveryMaxBytes),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_dir", c.LogDirectory),
		slog.Int("log_max_size_mb", c.LogMaxSizeMegabytes),
		slog.Int("log_max_age_days", c.LogMaxAgeDays),
		slog.Int("log_max_backups", c.LogMaxBackups),
		slog.String("socketio_path", c.SocketIOPath),
		slog.Int64("ping_interval_ms", c.PingInterval.Milliseconds()),
		slog.Int64("ping_timeout_ms", c.PingTimeout.Milliseconds()),
		slog.Int64("connect_timeout_ms", c.ConnectTimeout.Milliseconds()),
		slog.Int("max_http_buffer_size", c.MaxHTTPBufferSize),
		slog.Int("max_connections", c.MaxConnections),
		slog.Int("max_connections_per_ip", c.MaxConnectionsPerIP),
		slog.Int("connection_rate_per_ip", c.ConnectionRatePerIP),
		slog.String("trusted_proxies", strings.Join(proxies, ",")),
		slog.Bool("tls", c.TLSCertificate != nil),
		slog.Int("max_symbols_per_socket", c.MaxSymbolsPerSocket),
		slog.Int("max_pending_bytes", c.MaxPendingBytes),
		slog.Int64("write_timeout_ms", c.WriteTimeout.Milliseconds()),
		slog.Int64("write_coalesce_us", c.WriteCoalesce.Microseconds()),
		slog.Int64("handshake_timeout_ms", c.HandshakeTimeout.Milliseconds()),
		slog.Int("event_rate_per_socket", c.EventRatePerSocket),
		slog.Int("pre_auth_frames", c.PreAuthFrames),
		slog.Int("pre_auth_bytes", c.PreAuthBytes),
		slog.Int("shards", c.Shards),
		slog.Int64("pnl_interval_ms", c.PnLInterval.Milliseconds()),
		slog.Bool("demo_feed", c.DemoFeed),
		slog.String("demo_user", c.DemoUser),
		slog.Int64("drain_timeout_ms", c.DrainTimeout.Milliseconds()),
	)
}
