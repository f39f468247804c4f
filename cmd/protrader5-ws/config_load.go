package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest"
)

// Problem is one invalid setting found by LoadConfig.
type Problem struct {
	// Variable is the environment variable at fault, or the .env file path.
	Variable string
	// Message says what is wrong with its value, without echoing secrets.
	Message string
}

// ConfigError is returned by LoadConfig when any setting is invalid. It
// lists every problem, so one start-up attempt reports them all.
type ConfigError struct {
	Problems []Problem
}

// Error prints one "config: VARIABLE: message" line per problem.
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for index, problem := range e.Problems {
		lines[index] = "config: " + problem.Variable + ": " + problem.Message
	}
	return strings.Join(lines, "\n")
}

// onlyPrefixed returns the problems of variables whose name starts with one
// of prefixes, or nil when there are none. Subcommands that need only part of
// the configuration use it to ignore problems they are not concerned with.
func (e *ConfigError) onlyPrefixed(prefixes ...string) error {
	var kept []Problem
	for _, problem := range e.Problems {
		for _, prefix := range prefixes {
			if strings.HasPrefix(problem.Variable, prefix) {
				kept = append(kept, problem)
				break
			}
		}
	}
	if kept == nil {
		return nil
	}
	return &ConfigError{Problems: kept}
}

// LoadConfig reads the settings of docs/configuration.md. lookup is os.LookupEnv in
// production; dotenvPath names a .env file whose assignments apply only to
// variables lookup does not know (the environment wins). A missing .env file
// is not an error; an empty dotenvPath skips it.
//
// On a bad value LoadConfig returns a *ConfigError listing every problem,
// together with the Config as far as it could be parsed; callers must not
// serve with it, but subcommands may use the parts they need.
func LoadConfig(lookup func(string) (string, bool), dotenvPath string) (Config, error) {
	if dotenvPath != "" {
		data, err := os.ReadFile(dotenvPath)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return Config{}, fmt.Errorf("config: %w", err)
		default:
			fileVariables, err := parseDotenv(data)
			if err != nil {
				return Config{}, fmt.Errorf("config: %s: %w", dotenvPath, err)
			}
			environmentLookup := lookup
			lookup = func(name string) (string, bool) {
				if value, ok := environmentLookup(name); ok {
					return value, true
				}
				value, ok := fileVariables[name]
				return value, ok
			}
		}
	}
	p := configParser{lookup: lookup}
	config := p.parse()
	if len(p.problems) > 0 {
		return config, &ConfigError{Problems: p.problems}
	}
	return config, nil
}

// configParser reads variables and collects every problem found.
type configParser struct {
	lookup   func(string) (string, bool)
	problems []Problem
}

func (p *configParser) fail(variable, format string, arguments ...any) {
	p.problems = append(p.problems, Problem{Variable: variable, Message: fmt.Sprintf(format, arguments...)})
}

// value returns the trimmed value of variable; ok is false when it is unset
// or blank, so that `KEY=` in a .env file keeps the default.
func (p *configParser) value(variable string) (value string, ok bool) {
	raw, _ := p.lookup(variable)
	value = strings.TrimSpace(raw)
	return value, value != ""
}

func (p *configParser) parse() Config {
	environment := defaultEnvironment
	if value, ok := p.value("NODE_ENV"); ok {
		switch value {
		case EnvironmentDevelopment, EnvironmentProduction, EnvironmentTest:
			environment = value
		default:
			p.fail("NODE_ENV", "%q is not one of development, production, test", value)
		}
	}
	config := defaultConfig(environment)

	portValid := p.port("PORT", &config.Port)
	metricsPortValid := p.port("METRICS_PORT", &config.MetricsPort)
	// Caught here rather than as "address already in use" at start-up, which
	// would not say that the two settings clash.
	if portValid && metricsPortValid && config.MetricsPort != 0 && config.MetricsPort == config.Port {
		p.fail("METRICS_PORT", "%d is PORT too; /metrics needs a port of its own (0 serves it on PORT)", config.MetricsPort)
	}
	p.origins(&config)
	p.jwt(&config)
	p.redis(&config)

	if value, ok := p.value("LOG_LEVEL"); ok {
		switch strings.ToLower(value) {
		case "debug":
			config.LogLevel = slog.LevelDebug
		case "info":
			config.LogLevel = slog.LevelInfo
		case "warn", "warning":
			config.LogLevel = slog.LevelWarn
		case "error":
			config.LogLevel = slog.LevelError
		default:
			p.fail("LOG_LEVEL", "%q is not one of debug, info, warn, error", value)
		}
	}
	p.logFiles(&config)
	if value, ok := p.value("SOCKETIO_PATH"); ok {
		config.SocketIOPath = p.socketIOPath(value)
	}

	p.milliseconds("PING_INTERVAL", &config.PingInterval, true)
	p.milliseconds("PING_TIMEOUT", &config.PingTimeout, true)
	p.milliseconds("CONNECT_TIMEOUT", &config.ConnectTimeout, true)
	p.wholeNumber("MAX_HTTP_BUFFER_SIZE", &config.MaxHTTPBufferSize, 1, "bytes")
	p.wholeNumber("MAX_CONNECTIONS", &config.MaxConnections, 0, "connections")
	p.wholeNumber("MAX_CONNECTIONS_PER_IP", &config.MaxConnectionsPerIP, 0, "connections")
	p.wholeNumber("CONNECTION_RATE_PER_IP", &config.ConnectionRatePerIP, 0, "connections per second")
	p.trustedProxies(&config)
	p.tls(&config)
	p.wholeNumber("MAX_SYMBOLS_PER_SOCKET", &config.MaxSymbolsPerSocket, 1, "symbols")
	p.wholeNumber("MAX_PENDING_BYTES", &config.MaxPendingBytes, 1, "bytes")
	p.milliseconds("WRITE_TIMEOUT", &config.WriteTimeout, true)
	p.microseconds("WRITE_COALESCE_US", &config.WriteCoalesce)
	p.milliseconds("HANDSHAKE_TIMEOUT", &config.HandshakeTimeout, true)
	p.wholeNumber("EVENT_RATE_PER_SOCKET", &config.EventRatePerSocket, 0, "events per second")
	p.wholeNumber("PRE_AUTH_FRAMES", &config.PreAuthFrames, 1, "frames")
	p.wholeNumber("PRE_AUTH_BYTES", &config.PreAuthBytes, 1, "bytes")
	p.wholeNumber("SHARDS", &config.Shards, 0, "shards")
	p.milliseconds("PNL_INTERVAL_MS", &config.PnLInterval, false)
	p.boolean("DEMO_FEED", &config.DemoFeed)
	p.boolean("DEMO_PAGE", &config.DemoPage)
	if value, ok := p.value("DEMO_USER"); ok {
		config.DemoUser = value
	}
	p.milliseconds("DRAIN_TIMEOUT", &config.DrainTimeout, false)
	return config
}

// The largest rotation limits: lumberjack turns them into bytes and a
// duration, int64 both, which larger values would overflow.
const (
	maxLogSizeMegabytes = math.MaxInt64 / (1 << 20)
	maxLogAgeDays       = math.MaxInt64 / int64(24*time.Hour)
)

// logFiles parses where the log files go and when they are rotated.
func (p *configParser) logFiles(config *Config) {
	// Read raw, unlike the other variables: LOG_DIR set to nothing is how a
	// container asks for stderr only, so it must not fall back to the default.
	if value, set := p.lookup("LOG_DIR"); set {
		config.LogDirectory = strings.TrimSpace(value)
	}
	p.wholeNumberAtMost("LOG_MAX_SIZE_MB", &config.LogMaxSizeMegabytes, 1, maxLogSizeMegabytes, "megabytes")
	p.wholeNumberAtMost("LOG_MAX_AGE_DAYS", &config.LogMaxAgeDays, 0, maxLogAgeDays, "days")
	p.wholeNumber("LOG_MAX_BACKUPS", &config.LogMaxBackups, 1, "files")
}

// port parses a TCP port number into target. It reports false only when
// the value is set and invalid, so that checks between ports skip it.
func (p *configParser) port(variable string, target *int) bool {
	value, ok := p.value(variable)
	if !ok {
		return true
	}
	port, err := strconv.Atoi(value)
	if err != nil || port < 0 || port > math.MaxUint16 {
		p.fail(variable, "%q is not a port number (0-65535)", value)
		return false
	}
	*target = port
	return true
}

// wholeNumber parses a base-10 integer of at least minimum.
func (p *configParser) wholeNumber(variable string, target *int, minimum int, unit string) {
	value, ok := p.value(variable)
	if !ok {
		return
	}
	number, err := strconv.Atoi(value)
	switch {
	case errors.Is(err, strconv.ErrRange):
		p.fail(variable, "%q is too large", value)
	case err != nil:
		p.fail(variable, "%q is not a whole number of %s", value, unit)
	case number < minimum && minimum == 1:
		p.fail(variable, "%q must be at least 1 (%s)", value, unit)
	case number < minimum:
		p.fail(variable, "%q is negative; want a whole number of %s", value, unit)
	default:
		*target = number
	}
}

// wholeNumberAtMost is wholeNumber with an upper bound too.
func (p *configParser) wholeNumberAtMost(variable string, target *int, minimum int, maximum int64, unit string) {
	number, problems := *target, len(p.problems)
	p.wholeNumber(variable, &number, minimum, unit)
	if len(p.problems) > problems {
		return
	}
	if int64(number) > maximum {
		value, _ := p.value(variable)
		p.fail(variable, "%q is too large; at most %d %s", value, maximum, unit)
		return
	}
	*target = number
}

// milliseconds parses a whole, non-negative number of milliseconds; positive
// also rejects zero, for periods where zero would mean a busy loop.
func (p *configParser) milliseconds(variable string, target *time.Duration, positive bool) {
	p.duration(variable, target, positive, time.Millisecond, "milliseconds")
}

func (p *configParser) microseconds(variable string, target *time.Duration) {
	p.duration(variable, target, false, time.Microsecond, "microseconds")
}

func (p *configParser) duration(variable string, target *time.Duration, positive bool, unit time.Duration, unitName string) {
	value, ok := p.value(variable)
	if !ok {
		return
	}
	number, err := strconv.ParseInt(value, 10, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		p.fail(variable, "%q is not a whole number of %s", value, unitName)
	case number < 0 || strings.HasPrefix(value, "-"):
		p.fail(variable, "%q is negative; want a whole number of %s", value, unitName)
	case err != nil || number > math.MaxInt64/int64(unit):
		p.fail(variable, "%q is too large", value)
	case number == 0 && positive:
		p.fail(variable, "%q must be at least 1 (%s)", value, unitName)
	default:
		*target = time.Duration(number) * unit
	}
}

func (p *configParser) boolean(variable string, target *bool) {
	value, ok := p.value(variable)
	if !ok {
		return
	}
	switch strings.ToLower(value) {
	case "true", "1", "yes":
		*target = true
	case "false", "0", "no":
		*target = false
	default:
		p.fail(variable, "%q is not a boolean (true/false, 1/0, yes/no)", value)
	}
}

// origins parses CORS_ORIGIN. Browsers send Origin as a lower-case
// scheme://host[:port] with no path, so anything else could never match and
// is reported rather than silently refusing every browser.
func (p *configParser) origins(config *Config) {
	value, ok := p.value("CORS_ORIGIN")
	if !ok {
		return
	}
	var origins []string
	for entry := range strings.SplitSeq(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if entry == "*" {
			origins = append(origins, entry)
			continue
		}
		parsed, err := url.Parse(entry)
		if err != nil || parsed.Scheme == "" || parsed.Host == "" || parsed.User != nil ||
			(parsed.Path != "" && parsed.Path != "/") || parsed.RawQuery != "" || parsed.Fragment != "" {
			p.fail("CORS_ORIGIN", "%q is not an origin (scheme://host[:port]) or *", entry)
			continue
		}
		origins = append(origins, strings.ToLower(parsed.Scheme+"://"+parsed.Host))
	}
	if len(origins) > 0 {
		config.CORSOrigins = origins
	}
}

// socketIOPath normalises the path to start and end with '/', as socket.io's
// `path` option does.
func (p *configParser) socketIOPath(value string) string {
	if strings.ContainsAny(value, "?# \t") || strings.Contains(value, "//") || strings.Contains(value, "/../") {
		p.fail("SOCKETIO_PATH", "%q is not a plain URL path such as /socket.io/", value)
		return engine.DefaultPath
	}
	if !strings.HasPrefix(value, "/") {
		value = "/" + value
	}
	if !strings.HasSuffix(value, "/") {
		value += "/"
	}
	return value
}

func (p *configParser) jwt(config *Config) {
	// The secret is taken as is, untrimmed: it is compared byte for byte
	// with what token issuers use.
	secret, _ := p.lookup("JWT_SECRET")
	if secret != "" {
		config.JWTSecret = []byte(secret)
	}
	if path, ok := p.value("JWT_PUBLIC_KEY_FILE"); ok {
		config.JWTPublicKeyFile = path
		key, algorithm, err := loadPublicKey(path)
		if err != nil {
			p.fail("JWT_PUBLIC_KEY_FILE", "%v", err)
		} else {
			config.JWTPublicKey, config.JWTPublicKeyAlgorithm = key, algorithm
		}
	}
	if config.IsProduction() {
		if secret == "" && config.JWTPublicKeyFile == "" {
			p.fail("JWT_SECRET", "is required when NODE_ENV=production (or set JWT_PUBLIC_KEY_FILE)")
		}
		if secret == DevelopmentSecret {
			p.fail("JWT_SECRET", "is the public development secret; set a private one for NODE_ENV=production")
		}
	} else if secret == "" && config.JWTPublicKeyFile == "" {
		config.JWTSecret = []byte(DevelopmentSecret)
		config.DevelopmentSecret = true
	}
	if value, ok := p.value("JWT_ISSUER"); ok {
		config.JWTIssuer = value
	}
	if value, ok := p.value("JWT_AUDIENCE"); ok {
		config.JWTAudience = value
	}
	p.milliseconds("JWT_LEEWAY_MS", &config.JWTLeeway, false)
}

// loadPublicKey reads the first public key of a PEM file: "PUBLIC KEY"
// (PKIX), "RSA PUBLIC KEY" (PKCS #1) or the key of a "CERTIFICATE".
func loadPublicKey(path string) (crypto.PublicKey, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var key any
	for rest := data; key == nil; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, "", fmt.Errorf("%q holds no PEM public key", path)
		}
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var certificate *x509.Certificate
			if certificate, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = certificate.PublicKey
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			// The gateway only verifies; a private key on its disk is a leak
			// waiting to happen, so say so instead of deriving the public key.
			return nil, "", fmt.Errorf("%q holds a private key; give the gateway only the public key", path)
		}
		if err != nil {
			return nil, "", fmt.Errorf("%q: %s block: %w", path, block.Type, err)
		}
	}
	switch key := key.(type) {
	case *rsa.PublicKey:
		// Shorter RSA keys can be factored; golang-jwt would accept them.
		if key.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("%q: RSA key of %d bits is too short; want at least 2048", path, key.N.BitLen())
		}
		return key, "RS256", nil
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256():
			return key, "ES256", nil
		case elliptic.P384():
			return key, "ES384", nil
		case elliptic.P521():
			return key, "ES512", nil
		}
		return nil, "", fmt.Errorf("%q: EC curve %s is not P-256, P-384 or P-521", path, key.Curve.Params().Name)
	}
	return nil, "", fmt.Errorf("%q: %T keys are not supported; use an RSA or EC key", path, key)
}

func (p *configParser) redis(config *Config) {
	if value, ok := p.value("REDIS_URL"); ok {
		if normalized, ok := p.redisURL(value); ok {
			config.RedisURL = normalized
		}
	}
	p.boolean("ALLOW_EMBEDDED_BUS", &config.AllowEmbeddedBus)
	if config.IsProduction() && config.RedisURL == "" && !config.AllowEmbeddedBus {
		// Checked only when REDIS_URL has no problem of its own, so that a
		// bad URL is not reported twice.
		if _, set := p.value("REDIS_URL"); !set {
			p.fail("REDIS_URL", "is required when NODE_ENV=production: on the embedded bus no backend can reach this gateway "+
				"(set ALLOW_EMBEDDED_BUS=true to run without Redis anyway)")
		}
	}
	if value, ok := p.value("REDIS_PREFIX"); ok {
		config.RedisPrefix = value
	}
	p.boolean("REDIS_SHARDED", &config.RedisSharded)
	p.boolean("EMITTER", &config.Emitter)
	if value, ok := p.value("EMITTER_KEY"); ok {
		config.EmitterKey = value
	}
	if config.Emitter && config.RedisURL == "" {
		if _, set := p.value("REDIS_URL"); !set {
			p.fail("EMITTER", "needs REDIS_URL: the emitter publishes through Redis")
		}
	}
	if value, ok := p.value("USER_STREAMS"); ok {
		if mode, valid := ingest.ParseUserStreams(strings.ToLower(value)); valid {
			config.UserStreams = mode
		} else {
			p.fail("USER_STREAMS", "%q is not one of pubsub, streams", value)
		}
	}
	p.milliseconds("RECOVERY_WINDOW_MS", &config.RecoveryWindow, false)
	p.wholeNumber("RECOVERY_MAX_EVENTS", &config.RecoveryMaxEvents, 1, "messages")
	p.wholeNumber("RECOVERY_MAX_BYTES", &config.RecoveryMaxBytes, 1, "bytes")
	if path, ok := p.value("REDIS_TLS_CA_FILE"); ok {
		config.RedisTLSCAFile = path
		data, err := os.ReadFile(path)
		roots := x509.NewCertPool()
		switch {
		case err != nil:
			p.fail("REDIS_TLS_CA_FILE", "%v", err)
		case !roots.AppendCertsFromPEM(data):
			p.fail("REDIS_TLS_CA_FILE", "%q holds no PEM certificate", path)
		default:
			config.RedisTLSRoots = roots
		}
		// A CA for a plain connection is a sign the operator believes the
		// link is encrypted when it is not.
		if config.RedisURL != "" && !strings.HasPrefix(config.RedisURL, "rediss://") {
			p.fail("REDIS_TLS_CA_FILE", "is set but REDIS_URL is not rediss://")
		}
	}
}

func (p *configParser) trustedProxies(config *Config) {
	value, ok := p.value("TRUSTED_PROXIES")
	if !ok {
		return
	}
	for entry := range strings.SplitSeq(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if strings.Contains(entry, "/") {
			prefix, err := netip.ParsePrefix(entry)
			if err != nil {
				p.fail("TRUSTED_PROXIES", "%q is not an IP address or CIDR", entry)
				continue
			}
			config.TrustedProxies = append(config.TrustedProxies, prefix.Masked())
			continue
		}
		address, err := netip.ParseAddr(entry)
		if err != nil {
			p.fail("TRUSTED_PROXIES", "%q is not an IP address or CIDR", entry)
			continue
		}
		address = address.Unmap()
		config.TrustedProxies = append(config.TrustedProxies, netip.PrefixFrom(address, address.BitLen()))
	}
}

func (p *configParser) tls(config *Config) {
	certificateFile, hasCertificate := p.value("TLS_CERT_FILE")
	keyFile, hasKey := p.value("TLS_KEY_FILE")
	switch {
	case hasCertificate && !hasKey:
		p.fail("TLS_KEY_FILE", "is required when TLS_CERT_FILE is set")
	case hasKey && !hasCertificate:
		p.fail("TLS_CERT_FILE", "is required when TLS_KEY_FILE is set")
	case hasCertificate && hasKey:
		config.TLSCertFile, config.TLSKeyFile = certificateFile, keyFile
		certificate, err := tls.LoadX509KeyPair(certificateFile, keyFile)
		if err != nil {
			p.fail("TLS_CERT_FILE", "with TLS_KEY_FILE: %v", err)
			return
		}
		config.TLSCertificate = &certificate
	}
}
