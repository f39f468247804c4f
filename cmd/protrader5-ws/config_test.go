package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/ingest"
)

// lookupFrom turns a map into an os.LookupEnv stand-in.
func lookupFrom(variables map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		value, ok := variables[name]
		return value, ok
	}
}

func mustLoad(t *testing.T, variables map[string]string) Config {
	t.Helper()
	config, err := LoadConfig(lookupFrom(variables), "")
	if err != nil {
		t.Fatalf("LoadConfig(%q) error:\n%v", variables, err)
	}
	return config
}

func TestLoadConfigDefaults(t *testing.T) {
	config := mustLoad(t, nil)
	want := defaultConfig(EnvironmentDevelopment)
	want.JWTSecret = []byte(DevelopmentSecret)
	want.DevelopmentSecret = true
	if !reflect.DeepEqual(config, want) {
		t.Errorf("LoadConfig() = %+v\nwant %+v", config, want)
	}
	// The documented defaults (docs/configuration.md), spelled out once more so
	// that a changed constant is noticed.
	checks := []struct {
		name      string
		got, want any
	}{
		{"Port", config.Port, 4000},
		{"MetricsPort", config.MetricsPort, 0},
		{"Environment", config.Environment, "development"},
		{"CORSOrigins", config.CORSOrigins, []string{"*"}},
		{"JWTLeeway", config.JWTLeeway, 5 * time.Second},
		{"LogLevel", config.LogLevel, slog.LevelInfo},
		{"LogDirectory", config.LogDirectory, "logs"},
		{"LogMaxSizeMegabytes", config.LogMaxSizeMegabytes, 100},
		{"LogMaxAgeDays", config.LogMaxAgeDays, 7},
		{"LogMaxBackups", config.LogMaxBackups, 5},
		{"SocketIOPath", config.SocketIOPath, "/socket.io/"},
		{"PingInterval", config.PingInterval, 25 * time.Second},
		{"PingTimeout", config.PingTimeout, 20 * time.Second},
		{"ConnectTimeout", config.ConnectTimeout, 45 * time.Second},
		{"MaxHTTPBufferSize", config.MaxHTTPBufferSize, 1000000},
		{"MaxConnections", config.MaxConnections, 0},
		{"MaxSymbolsPerSocket", config.MaxSymbolsPerSocket, 200},
		{"MaxPendingBytes", config.MaxPendingBytes, 1048576},
		{"WriteTimeout", config.WriteTimeout, 10 * time.Second},
		{"WriteCoalesce", config.WriteCoalesce, time.Duration(0)},
		{"HandshakeTimeout", config.HandshakeTimeout, 10 * time.Second},
		{"EventRatePerSocket", config.EventRatePerSocket, 50},
		{"PreAuthFrames", config.PreAuthFrames, 32},
		{"RecoveryMaxEvents", config.RecoveryMaxEvents, 1000},
		{"RecoveryMaxBytes", config.RecoveryMaxBytes, 64 << 20},
		{"PreAuthBytes", config.PreAuthBytes, 32768},
		{"Shards", config.Shards, 0},
		{"PnLInterval", config.PnLInterval, 250 * time.Millisecond},
		{"DemoFeed", config.DemoFeed, true},
		{"DemoPage", config.DemoPage, true},
		{"DemoUser", config.DemoUser, "demo"},
		{"DrainTimeout", config.DrainTimeout, 10 * time.Second},
		{"UserStreams", config.UserStreams, ingest.PubSub},
		{"RecoveryWindow", config.RecoveryWindow, 2 * time.Minute},
		{"Emitter", config.Emitter, false},
		{"EmitterKey", config.EmitterKey, "socket.io"},
		{"JWTAlgorithms", config.JWTAlgorithms(), []string{"HS256"}},
	}
	for _, check := range checks {
		if !reflect.DeepEqual(check.got, check.want) {
			t.Errorf("default %s = %v; want %v", check.name, check.got, check.want)
		}
	}
}

func TestLoadConfigValues(t *testing.T) {
	config := mustLoad(t, map[string]string{
		"PORT":                   "8080",
		"METRICS_PORT":           "9464",
		"NODE_ENV":               "test",
		"CORS_ORIGIN":            "https://App.example.com, http://localhost:3000/",
		"JWT_SECRET":             " keep blanks ",
		"JWT_ISSUER":             "auth",
		"JWT_AUDIENCE":           "gateway",
		"JWT_LEEWAY_MS":          "0",
		"REDIS_URL":              "rediss://:pw@redis:6380/2",
		"REDIS_PREFIX":           "pt5:",
		"REDIS_SHARDED":          "yes",
		"EMITTER":                "true",
		"EMITTER_KEY":            "app",
		"LOG_LEVEL":              "DEBUG",
		"LOG_DIR":                "/var/log/pt5",
		"LOG_MAX_SIZE_MB":        "20",
		"LOG_MAX_AGE_DAYS":       "0",
		"LOG_MAX_BACKUPS":        "3",
		"SOCKETIO_PATH":          "ws",
		"PING_INTERVAL":          "300",
		"PING_TIMEOUT":           "200",
		"CONNECT_TIMEOUT":        "1000",
		"MAX_HTTP_BUFFER_SIZE":   "2048",
		"MAX_CONNECTIONS":        "19000",
		"MAX_CONNECTIONS_PER_IP": "10",
		"CONNECTION_RATE_PER_IP": "5",
		"TRUSTED_PROXIES":        "10.0.0.0/8, 192.168.1.7,::1, ::ffff:10.1.2.3",
		"MAX_SYMBOLS_PER_SOCKET": "10",
		"MAX_PENDING_BYTES":      "65536",
		"WRITE_TIMEOUT":          "500",
		"WRITE_COALESCE_US":      "200",
		"HANDSHAKE_TIMEOUT":      "3000",
		"EVENT_RATE_PER_SOCKET":  "0",
		"PRE_AUTH_FRAMES":        "8",
		"PRE_AUTH_BYTES":         "4096",
		"SHARDS":                 "4",
		"PNL_INTERVAL_MS":        "0",
		"DEMO_FEED":              "1",
		"DEMO_PAGE":              "false",
		"DEMO_USER":              "alice",
		"DRAIN_TIMEOUT":          "0",
		"USER_STREAMS":           "Streams",
		"RECOVERY_WINDOW_MS":     "0",
	})
	checks := []struct {
		name      string
		got, want any
	}{
		{"Port", config.Port, 8080},
		{"MetricsPort", config.MetricsPort, 9464},
		{"Environment", config.Environment, "test"},
		{"CORSOrigins", config.CORSOrigins, []string{"https://app.example.com", "http://localhost:3000"}},
		{"JWTSecret", string(config.JWTSecret), " keep blanks "},
		{"DevelopmentSecret", config.DevelopmentSecret, false},
		{"JWTIssuer", config.JWTIssuer, "auth"},
		{"JWTAudience", config.JWTAudience, "gateway"},
		{"JWTLeeway", config.JWTLeeway, time.Duration(0)},
		{"RedisURL", config.RedisURL, "rediss://:pw@redis:6380/2"},
		{"RedisURLRedacted", config.RedisURLRedacted(), "rediss://:xxxxx@redis:6380/2"},
		{"RedisPrefix", config.RedisPrefix, "pt5:"},
		{"RedisSharded", config.RedisSharded, true},
		{"Emitter", config.Emitter, true},
		{"EmitterKey", config.EmitterKey, "app"},
		{"LogLevel", config.LogLevel, slog.LevelDebug},
		{"LogDirectory", config.LogDirectory, "/var/log/pt5"},
		{"LogMaxSizeMegabytes", config.LogMaxSizeMegabytes, 20},
		{"LogMaxAgeDays", config.LogMaxAgeDays, 0},
		{"LogMaxBackups", config.LogMaxBackups, 3},
		{"SocketIOPath", config.SocketIOPath, "/ws/"},
		{"PingInterval", config.PingInterval, 300 * time.Millisecond},
		{"PingTimeout", config.PingTimeout, 200 * time.Millisecond},
		{"ConnectTimeout", config.ConnectTimeout, time.Second},
		{"MaxHTTPBufferSize", config.MaxHTTPBufferSize, 2048},
		{"MaxConnections", config.MaxConnections, 19000},
		{"MaxConnectionsPerIP", config.MaxConnectionsPerIP, 10},
		{"ConnectionRatePerIP", config.ConnectionRatePerIP, 5},
		{"TrustedProxies", config.TrustedProxies, []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.1.2.3/32"),
		}},
		{"MaxSymbolsPerSocket", config.MaxSymbolsPerSocket, 10},
		{"MaxPendingBytes", config.MaxPendingBytes, 65536},
		{"WriteTimeout", config.WriteTimeout, 500 * time.Millisecond},
		{"WriteCoalesce", config.WriteCoalesce, 200 * time.Microsecond},
		{"HandshakeTimeout", config.HandshakeTimeout, 3 * time.Second},
		{"EventRatePerSocket", config.EventRatePerSocket, 0},
		{"PreAuthFrames", config.PreAuthFrames, 8},
		{"PreAuthBytes", config.PreAuthBytes, 4096},
		{"Shards", config.Shards, 4},
		{"PnLInterval", config.PnLInterval, time.Duration(0)},
		{"DemoFeed", config.DemoFeed, true},
		{"DemoPage", config.DemoPage, false},
		{"DemoUser", config.DemoUser, "alice"},
		{"DrainTimeout", config.DrainTimeout, time.Duration(0)},
		{"UserStreams", config.UserStreams, ingest.Streams},
		{"RecoveryWindow", config.RecoveryWindow, time.Duration(0)},
	}
	for _, check := range checks {
		if !reflect.DeepEqual(check.got, check.want) {
			t.Errorf("%s = %v; want %v", check.name, check.got, check.want)
		}
	}
	if !config.OriginAllowed("https://app.example.com") || config.OriginAllowed("https://evil.example.com") {
		t.Errorf("OriginAllowed does not follow CORSOrigins %v", config.CORSOrigins)
	}
	if !config.TrustedProxy(netip.MustParseAddr("10.9.9.9")) || !config.TrustedProxy(netip.MustParseAddr("::ffff:192.168.1.7")) ||
		config.TrustedProxy(netip.MustParseAddr("192.168.1.8")) {
		t.Errorf("TrustedProxy does not follow TrustedProxies %v", config.TrustedProxies)
	}
}

func TestLoadConfigDemoFeedDefaultFollowsEnvironment(t *testing.T) {
	for environment, want := range map[string]bool{"development": true, "test": false, "production": false} {
		config := mustLoad(t, map[string]string{"NODE_ENV": environment, "JWT_SECRET": "s", "ALLOW_EMBEDDED_BUS": "true"})
		if config.DemoFeed != want {
			t.Errorf("NODE_ENV=%s: DemoFeed = %v; want %v", environment, config.DemoFeed, want)
		}
		if config.DemoPage != want {
			t.Errorf("NODE_ENV=%s: DemoPage = %v; want %v", environment, config.DemoPage, want)
		}
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		variable, value, want string
	}{
		{"PORT", "abc", `"abc" is not a port number (0-65535)`},
		{"PORT", "70000", `"70000" is not a port number`},
		{"METRICS_PORT", "metrics", `"metrics" is not a port number (0-65535)`},
		{"METRICS_PORT", "-1", `"-1" is not a port number`},
		{"METRICS_PORT", "65536", `"65536" is not a port number`},
		{"METRICS_PORT", "4000", "4000 is PORT too; /metrics needs a port of its own"},
		{"NODE_ENV", "staging", `"staging" is not one of development, production, test`},
		{"CORS_ORIGIN", "example.com", `"example.com" is not an origin`},
		{"CORS_ORIGIN", "https://a.com/path", `"https://a.com/path" is not an origin`},
		{"JWT_PUBLIC_KEY_FILE", "/nonexistent/key.pem", "no such file"},
		{"JWT_LEEWAY_MS", "5s", `"5s" is not a whole number of milliseconds`},
		{"REDIS_URL", "http://redis:6379", `scheme "http" is not redis:// or rediss://`},
		{"REDIS_URL", "redis://:secretpw@h/1/2", `"redis://:xxxxx@h/1/2": redis: invalid URL path`},
		{"REDIS_URL", "redis://:secretpw@h:6379/x y%zz", "is not a valid URL"},
		{"REDIS_SHARDED", "maybe", `"maybe" is not a boolean (true/false, 1/0, yes/no)`},
		{"EMITTER", "maybe", `"maybe" is not a boolean (true/false, 1/0, yes/no)`},
		{"EMITTER", "true", "needs REDIS_URL: the emitter publishes through Redis"},
		{"REDIS_TLS_CA_FILE", "/nonexistent/ca.pem", "no such file"},
		{"USER_STREAMS", "stream", `"stream" is not one of pubsub, streams`},
		{"USER_STREAMS", "kafka", `"kafka" is not one of pubsub, streams`},
		{"RECOVERY_WINDOW_MS", "2m", `"2m" is not a whole number of milliseconds`},
		{"RECOVERY_WINDOW_MS", "-1", "is negative"},
		{"LOG_LEVEL", "verbose", `"verbose" is not one of debug, info, warn, error`},
		{"LOG_MAX_SIZE_MB", "0", `"0" must be at least 1 (megabytes)`},
		{"LOG_MAX_SIZE_MB", "1.5", `"1.5" is not a whole number of megabytes`},
		{"LOG_MAX_SIZE_MB", "100MB", `"100MB" is not a whole number of megabytes`},
		{"LOG_MAX_SIZE_MB", "8796093022208", `"8796093022208" is too large; at most 8796093022207 megabytes`},
		{"LOG_MAX_AGE_DAYS", "-1", `"-1" is negative; want a whole number of days`},
		{"LOG_MAX_AGE_DAYS", "7d", `"7d" is not a whole number of days`},
		{"LOG_MAX_AGE_DAYS", "106752", `"106752" is too large; at most 106751 days`},
		{"LOG_MAX_BACKUPS", "0", `"0" must be at least 1 (files)`},
		{"LOG_MAX_BACKUPS", "all", `"all" is not a whole number of files`},
		{"SOCKETIO_PATH", "/a?b", `"/a?b" is not a plain URL path`},
		{"PING_INTERVAL", "abc", `"abc" is not a whole number of milliseconds`},
		{"PING_INTERVAL", "-5", `"-5" is negative; want a whole number of milliseconds`},
		{"PING_INTERVAL", "0", `"0" must be at least 1 (milliseconds)`},
		{"PING_INTERVAL", "99999999999999999999", `"99999999999999999999" is too large`},
		{"PING_TIMEOUT", "1.5", `"1.5" is not a whole number of milliseconds`},
		{"CONNECT_TIMEOUT", "x", "is not a whole number of milliseconds"},
		{"MAX_HTTP_BUFFER_SIZE", "1e6", `"1e6" is not a whole number of bytes`},
		{"MAX_HTTP_BUFFER_SIZE", "0", `"0" must be at least 1 (bytes)`},
		{"MAX_CONNECTIONS", "-1", `"-1" is negative`},
		{"MAX_CONNECTIONS_PER_IP", "ten", "is not a whole number of connections"},
		{"CONNECTION_RATE_PER_IP", "0.5", "is not a whole number of connections per second"},
		{"TRUSTED_PROXIES", "10.0.0.1, not-an-ip", `"not-an-ip" is not an IP address or CIDR`},
		{"TRUSTED_PROXIES", "10.0.0.0/33", `"10.0.0.0/33" is not an IP address or CIDR`},
		{"MAX_SYMBOLS_PER_SOCKET", "0", "must be at least 1 (symbols)"},
		{"MAX_PENDING_BYTES", "1MiB", "is not a whole number of bytes"},
		{"WRITE_TIMEOUT", "0", "must be at least 1 (milliseconds)"},
		{"WRITE_COALESCE_US", "-1", "is negative; want a whole number of microseconds"},
		{"HANDSHAKE_TIMEOUT", "10s", "is not a whole number of milliseconds"},
		{"EVENT_RATE_PER_SOCKET", "-50", "is negative"},
		{"PRE_AUTH_FRAMES", "0", "must be at least 1 (frames)"},
		{"RECOVERY_MAX_EVENTS", "0", "must be at least 1 (messages)"},
		{"PRE_AUTH_BYTES", "32KiB", "is not a whole number of bytes"},
		{"SHARDS", "auto", "is not a whole number of shards"},
		{"PNL_INTERVAL_MS", "-1", "is negative"},
		{"DEMO_FEED", "on", "is not a boolean"},
		{"DRAIN_TIMEOUT", "10 s", "is not a whole number of milliseconds"},
	}
	for _, test := range tests {
		t.Run(test.variable+"="+test.value, func(t *testing.T) {
			_, err := LoadConfig(lookupFrom(map[string]string{test.variable: test.value}), "")
			var configError *ConfigError
			if !errors.As(err, &configError) {
				t.Fatalf("LoadConfig(%s=%q) error = %v; want a *ConfigError", test.variable, test.value, err)
			}
			want := "config: " + test.variable + ": "
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), test.want) {
				t.Errorf("LoadConfig(%s=%q) error = %q; want %q...%q", test.variable, test.value, err, want, test.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error %q leaks the Redis password", err)
			}
		})
	}
}

func TestLoadConfigCollectsEveryProblem(t *testing.T) {
	_, err := LoadConfig(lookupFrom(map[string]string{
		"PORT": "x", "PING_INTERVAL": "y", "DEMO_FEED": "z", "TLS_CERT_FILE": "cert.pem",
	}), "")
	var configError *ConfigError
	if !errors.As(err, &configError) {
		t.Fatalf("LoadConfig error = %v; want a *ConfigError", err)
	}
	var variables []string
	for _, problem := range configError.Problems {
		variables = append(variables, problem.Variable)
	}
	want := []string{"PORT", "PING_INTERVAL", "TLS_KEY_FILE", "DEMO_FEED"}
	if !reflect.DeepEqual(variables, want) {
		t.Errorf("problems name %v; want %v\n%v", variables, want, err)
	}
	if lines := strings.Count(err.Error(), "\n") + 1; lines != len(want) {
		t.Errorf("error has %d lines; want %d:\n%v", lines, len(want), err)
	}
}

func TestLoadConfigMetricsPortBesidePort(t *testing.T) {
	tests := []struct {
		port, metricsPort string
		wantError         string
	}{
		{"8080", "8080", "config: METRICS_PORT: 8080 is PORT too"},
		{"", "4000", "config: METRICS_PORT: 4000 is PORT too"},
		// Zero is no metrics port, and PORT=0 a port chosen at start-up:
		// neither can clash.
		{"8080", "0", ""},
		{"0", "9464", ""},
		{"0", "0", ""},
		// A bad PORT is reported once, not again as a clash.
		{"x", "9464", "config: PORT: "},
	}
	for _, test := range tests {
		_, err := LoadConfig(lookupFrom(map[string]string{"PORT": test.port, "METRICS_PORT": test.metricsPort}), "")
		switch {
		case test.wantError == "" && err != nil:
			t.Errorf("PORT=%q METRICS_PORT=%q: error %v", test.port, test.metricsPort, err)
		case test.wantError != "" && (err == nil || !strings.HasPrefix(err.Error(), test.wantError) || strings.Contains(err.Error(), "\n")):
			t.Errorf("PORT=%q METRICS_PORT=%q: error %v; want the one problem %q...", test.port, test.metricsPort, err, test.wantError)
		}
	}
}

func TestLoadConfigEmptyValueKeepsDefault(t *testing.T) {
	config := mustLoad(t, map[string]string{"PORT": "", "PING_INTERVAL": "  ", "JWT_SECRET": ""})
	if config.Port != engine.DefaultPort || config.PingInterval != engine.DefaultPingInterval || !config.DevelopmentSecret {
		t.Errorf("empty values changed defaults: port %d, ping %v, development secret %v",
			config.Port, config.PingInterval, config.DevelopmentSecret)
	}
}

func TestLoadConfigDotenvPrecedence(t *testing.T) {
	directory := t.TempDir()
	dotenvPath := filepath.Join(directory, ".env")
	dotenv := "PORT=5000\nLOG_LEVEL=debug\nexport JWT_SECRET=\"from file\"\n"
	if err := os.WriteFile(dotenvPath, []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	config, err := LoadConfig(lookupFrom(map[string]string{"PORT": "6000"}), dotenvPath)
	if err != nil {
		t.Fatal(err)
	}
	if config.Port != 6000 {
		t.Errorf("Port = %d; want 6000 from the environment, which wins over .env", config.Port)
	}
	if config.LogLevel != slog.LevelDebug || string(config.JWTSecret) != "from file" {
		t.Errorf("LogLevel = %v, JWTSecret = %q; want debug and \"from file\" from .env", config.LogLevel, config.JWTSecret)
	}

	// Missing file: no error.
	if _, err := LoadConfig(lookupFrom(nil), filepath.Join(directory, "absent.env")); err != nil {
		t.Errorf("LoadConfig with a missing .env: %v", err)
	}
	// Broken file: the error names the file and the line.
	if err := os.WriteFile(dotenvPath, []byte("PORT=1\nbroken line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(lookupFrom(nil), dotenvPath)
	if err == nil || !strings.Contains(err.Error(), dotenvPath) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("LoadConfig with a broken .env error = %v; want the path and line 2", err)
	}
}

func TestLoadConfigProductionRequiresKey(t *testing.T) {
	_, err := LoadConfig(lookupFrom(map[string]string{"NODE_ENV": "production"}), "")
	if err == nil || !strings.Contains(err.Error(), "config: JWT_SECRET: is required when NODE_ENV=production") {
		t.Errorf("production without secret: error = %v", err)
	}
	_, err = LoadConfig(lookupFrom(map[string]string{"NODE_ENV": "production", "JWT_SECRET": DevelopmentSecret}), "")
	if err == nil || !strings.Contains(err.Error(), "public development secret") {
		t.Errorf("production with the development secret: error = %v", err)
	}
	config := mustLoad(t, map[string]string{"NODE_ENV": "production", "JWT_SECRET": "prod", "REDIS_URL": "redis://redis:6379"})
	if config.DevelopmentSecret || config.DemoFeed || !config.IsProduction() {
		t.Errorf("production config = %+v", config)
	}
}

func writePEM(t *testing.T, blockType string, bytes []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: bytes}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, contents string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func marshalPKIX(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestLoadConfigPublicKeyFile(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec384Key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		path          string
		wantAlgorithm string
		wantKey       any
	}{
		{"rsa pkix", writePEM(t, "PUBLIC KEY", marshalPKIX(t, &rsaKey.PublicKey)), "RS256", &rsaKey.PublicKey},
		{"rsa pkcs1", writePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)), "RS256", &rsaKey.PublicKey},
		{"ec p256", writePEM(t, "PUBLIC KEY", marshalPKIX(t, &ecKey.PublicKey)), "ES256", &ecKey.PublicKey},
		{"ec p384", writePEM(t, "PUBLIC KEY", marshalPKIX(t, &ec384Key.PublicKey)), "ES384", &ec384Key.PublicKey},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			for _, environment := range []string{"development", "production"} {
				config := mustLoad(t, map[string]string{"NODE_ENV": environment, "JWT_PUBLIC_KEY_FILE": test.path, "ALLOW_EMBEDDED_BUS": "true"})
				if config.JWTPublicKeyAlgorithm != test.wantAlgorithm {
					t.Errorf("%s: algorithm = %q; want %q", environment, config.JWTPublicKeyAlgorithm, test.wantAlgorithm)
				}
				if !reflect.DeepEqual(config.JWTPublicKey, test.wantKey) {
					t.Errorf("%s: key differs from the one written", environment)
				}
				// A key file alone means no HS256, not the development secret.
				if config.DevelopmentSecret || len(config.JWTSecret) != 0 {
					t.Errorf("%s: key file set, yet JWTSecret = %q", environment, config.JWTSecret)
				}
				if got := config.JWTAlgorithms(); !reflect.DeepEqual(got, []string{test.wantAlgorithm}) {
					t.Errorf("%s: JWTAlgorithms() = %v", environment, got)
				}
			}
		})
	}

	config := mustLoad(t, map[string]string{"JWT_SECRET": "s", "JWT_PUBLIC_KEY_FILE": tests[0].path})
	if got := config.JWTAlgorithms(); !reflect.DeepEqual(got, []string{"HS256", "RS256"}) {
		t.Errorf("secret and key: JWTAlgorithms() = %v; want [HS256 RS256]", got)
	}

	shortKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privateDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	failures := []struct {
		name, path, want string
	}{
		{"short rsa", writePEM(t, "PUBLIC KEY", marshalPKIX(t, &shortKey.PublicKey)), "1024 bits is too short"},
		{"ed25519", writePEM(t, "PUBLIC KEY", marshalPKIX(t, edKey.Public())), "ed25519.PublicKey keys are not supported"},
		{"private key", writePEM(t, "PRIVATE KEY", privateDER), "holds a private key"},
		{"garbage block", writePEM(t, "PUBLIC KEY", []byte("nonsense")), "PUBLIC KEY block"},
		{"no pem", writeFile(t, "not pem"), "holds no PEM public key"},
	}
	for _, failure := range failures {
		t.Run(failure.name, func(t *testing.T) {
			_, err := LoadConfig(lookupFrom(map[string]string{"JWT_PUBLIC_KEY_FILE": failure.path}), "")
			if err == nil || !strings.HasPrefix(err.Error(), "config: JWT_PUBLIC_KEY_FILE: ") || !strings.Contains(err.Error(), failure.want) {
				t.Errorf("key %s: error = %v; want %q", failure.name, err, failure.want)
			}
		})
	}
}

func TestLoadConfigRedisTLSCAFile(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	path := writePEM(t, "CERTIFICATE", der)
	config := mustLoad(t, map[string]string{"REDIS_URL": "rediss://redis:6380", "REDIS_TLS_CA_FILE": path})
	if config.RedisTLSRoots == nil {
		t.Error("RedisTLSRoots is nil with a CA file set")
	}
	_, err = LoadConfig(lookupFrom(map[string]string{"REDIS_URL": "redis://redis", "REDIS_TLS_CA_FILE": path}), "")
	if err == nil || !strings.Contains(err.Error(), "config: REDIS_TLS_CA_FILE: is set but REDIS_URL is not rediss://") {
		t.Errorf("CA file with redis:// error = %v", err)
	}
	// The same certificate with its key serves https/wss.
	keyDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := writePEM(t, "PRIVATE KEY", keyDER)
	config = mustLoad(t, map[string]string{"TLS_CERT_FILE": path, "TLS_KEY_FILE": keyPath})
	if config.TLSCertificate == nil {
		t.Error("TLSCertificate is nil with both files set")
	}
	_, err = LoadConfig(lookupFrom(map[string]string{"TLS_CERT_FILE": keyPath, "TLS_KEY_FILE": path}), "")
	if err == nil || !strings.HasPrefix(err.Error(), "config: TLS_CERT_FILE: with TLS_KEY_FILE: ") {
		t.Errorf("swapped TLS files: error = %v", err)
	}
	_, err = LoadConfig(lookupFrom(map[string]string{"TLS_KEY_FILE": keyPath}), "")
	if err == nil || err.Error() != "config: TLS_CERT_FILE: is required when TLS_KEY_FILE is set" {
		t.Errorf("key without certificate: error = %v", err)
	}

	// A certificate also serves as a JWT public key file.
	config = mustLoad(t, map[string]string{"JWT_PUBLIC_KEY_FILE": path})
	if config.JWTPublicKeyAlgorithm != "ES256" {
		t.Errorf("certificate as key file: algorithm %q; want ES256", config.JWTPublicKeyAlgorithm)
	}
}

func TestConfigLogValueHidesSecrets(t *testing.T) {
	config := mustLoad(t, map[string]string{"JWT_SECRET": "topsecret", "REDIS_URL": "redis://:hunter2@redis:6379"})
	var out strings.Builder
	slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "config", config)
	if strings.Contains(out.String(), "topsecret") || strings.Contains(out.String(), "hunter2") {
		t.Errorf("config log leaks a secret: %s", out.String())
	}
	if !strings.Contains(out.String(), `"jwt_secret":"set"`) || !strings.Contains(out.String(), `"ping_interval_ms":25000`) ||
		!strings.Contains(out.String(), `"metrics_port":0`) {
		t.Errorf("config log lacks settings: %s", out.String())
	}
}

// TestEnvExampleListsEverySetting keeps /.env.example in step with LoadConfig:
// it must parse, give the defaults, and name every variable LoadConfig reads.
func TestEnvExampleListsEverySetting(t *testing.T) {
	const examplePath = "../../.env.example"
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := parseDotenv(data)
	if err != nil {
		t.Fatalf("%s: %v", examplePath, err)
	}
	read := map[string]bool{}
	recording := func(name string) (string, bool) {
		read[name] = true
		return "", false
	}
	if _, err := LoadConfig(recording, ""); err != nil {
		t.Fatal(err)
	}
	for name := range read {
		if _, ok := listed[name]; !ok {
			t.Errorf("%s does not list %s", examplePath, name)
		}
	}
	for name := range listed {
		if !read[name] {
			t.Errorf("%s lists %s, which LoadConfig never reads", examplePath, name)
		}
	}
	// The example runs in production, which needs a secret and Redis from
	// the environment; everything else it sets is the default.
	environment := map[string]string{"JWT_SECRET": "a private secret", "REDIS_URL": "redis://redis:6379"}
	fromExample, err := LoadConfig(lookupFrom(environment), examplePath)
	if err != nil {
		t.Fatalf("LoadConfig(%s): %v", examplePath, err)
	}
	environment["NODE_ENV"] = EnvironmentProduction
	if defaults := mustLoad(t, environment); !reflect.DeepEqual(fromExample, defaults) {
		t.Errorf("%s gives %+v\nwant the production defaults %+v", examplePath, fromExample, defaults)
	}
}
