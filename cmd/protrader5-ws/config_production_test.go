package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/rueidis"
)

// TestProductionWithoutRedisIsRefused: a production gateway on the embedded
// bus can be reached by no backend, so it does not start unless
// ALLOW_EMBEDDED_BUS=true says that is meant.
func TestProductionWithoutRedisIsRefused(t *testing.T) {
	production := map[string]string{"NODE_ENV": "production", "JWT_SECRET": "a private secret"}
	_, err := LoadConfig(lookupFrom(production), "")
	if err == nil || !strings.Contains(err.Error(), "config: REDIS_URL: is required when NODE_ENV=production") ||
		!strings.Contains(err.Error(), "ALLOW_EMBEDDED_BUS=true") {
		t.Fatalf("production without REDIS_URL: error = %v; want one naming REDIS_URL and ALLOW_EMBEDDED_BUS", err)
	}

	// The serve command stops before anything listens.
	c, _, stderr := newTestCLI(production)
	served := false
	c.serve = func(context.Context, Config, *slog.Logger) error { served = true; return nil }
	t.Chdir(t.TempDir()) // no log directory left behind in the source tree
	if code := c.run([]string{"serve"}); code != exitFailure || served {
		t.Fatalf("serve exit %d, served %v; want %d before serving", code, served, exitFailure)
	}
	if !strings.Contains(stderr.String(), "ALLOW_EMBEDDED_BUS") {
		t.Errorf("serve stderr = %q; want it to name ALLOW_EMBEDDED_BUS", stderr.String())
	}

	allowed := map[string]string{"NODE_ENV": "production", "JWT_SECRET": "a private secret", "ALLOW_EMBEDDED_BUS": "true"}
	if config := mustLoad(t, allowed); !config.AllowEmbeddedBus || config.RedisURL != "" {
		t.Errorf("ALLOW_EMBEDDED_BUS=true: config = %+v; want the embedded bus allowed", config)
	}
	withRedis := map[string]string{"NODE_ENV": "production", "JWT_SECRET": "a private secret", "REDIS_URL": "redis://redis:6379"}
	mustLoad(t, withRedis)
	for _, environment := range []string{EnvironmentDevelopment, EnvironmentTest} {
		mustLoad(t, map[string]string{"NODE_ENV": environment})
	}
}

// TestRedisURLForms: what node-redis and ioredis accept is accepted, and
// handed on in the form rueidis reads, to the same address and database.
func TestRedisURLForms(t *testing.T) {
	cases := []struct {
		value, want, address string
		database             int
		username, password   string
	}{
		{"redis://host:6379", "redis://host:6379", "host:6379", 0, "", ""},
		{"redis://host:6379/", "redis://host:6379", "host:6379", 0, "", ""},
		{"redis://host", "redis://host", "host:6379", 0, "", ""},
		{"redis://host/", "redis://host", "host:6379", 0, "", ""},
		{"redis://host:6379/0", "redis://host:6379/0", "host:6379", 0, "", ""},
		{"redis://host:6379/3", "redis://host:6379/3", "host:6379", 3, "", ""},
		{"rediss://host:6380/", "rediss://host:6380", "host:6380", 0, "", ""},
		{"redis://:secret@host:6379/", "redis://:secret@host:6379", "host:6379", 0, "", "secret"},
		{"redis://user:secret@host:6379/2", "redis://user:secret@host:6379/2", "host:6379", 2, "user", "secret"},
		{"redis://user:p%40ss@host", "redis://user:p%40ss@host", "host:6379", 0, "user", "p@ss"},
		{"redis://host:6379/?db=4", "redis://host:6379?db=4", "host:6379", 4, "", ""},
		{"redis://host:6379?client_name=gateway", "redis://host:6379?client_name=gateway", "host:6379", 0, "", ""},
		{"redis://[::1]:6379/", "redis://[::1]:6379", "[::1]:6379", 0, "", ""},
		{"REDIS://host:6379/", "redis://host:6379", "host:6379", 0, "", ""},
		{"redis://", "redis://localhost:6379", "localhost:6379", 0, "", ""},
		{"redis:///", "redis://localhost:6379", "localhost:6379", 0, "", ""},
	}
	for _, tc := range cases {
		config := mustLoad(t, map[string]string{"REDIS_URL": tc.value})
		if config.RedisURL != tc.want {
			t.Errorf("REDIS_URL=%s: RedisURL = %q; want %q", tc.value, config.RedisURL, tc.want)
			continue
		}
		options, err := rueidis.ParseURL(config.RedisURL)
		if err != nil {
			t.Errorf("REDIS_URL=%s: rueidis refuses %q: %v", tc.value, config.RedisURL, err)
			continue
		}
		if options.InitAddress[0] != tc.address || options.SelectDB != tc.database ||
			options.Username != tc.username || options.Password != tc.password {
			t.Errorf("REDIS_URL=%s: address %s, database %d, user %q, password %q; want %s, %d, %q, %q", tc.value,
				options.InitAddress[0], options.SelectDB, options.Username, options.Password, tc.address, tc.database, tc.username, tc.password)
		}
	}

	refused := []struct{ value, message string }{
		{"http://host:6379", `scheme "http" is not redis:// or rediss://`},
		{"host:6379", `is not redis:// or rediss://`},
		{"redis://host:6379/zero", "invalid database number"},
		{"redis://host:6379/0/", "invalid URL path"},
		{"redis://:pa#ss@host:6379", "percent-encode it"},
	}
	for _, tc := range refused {
		_, err := LoadConfig(lookupFrom(map[string]string{"REDIS_URL": tc.value}), "")
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("REDIS_URL=%s: error = %v; want one saying %q", tc.value, err, tc.message)
		}
	}
	// A password never appears whole in a problem.
	_, err := LoadConfig(lookupFrom(map[string]string{"REDIS_URL": "redis://:hunter2@host:6379/x"}), "")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error = %v; want one that hides the password", err)
	}
}

// TestEnvExampleIsSafeForContainers: `docker run --env-file .env` with the
// example copied as is runs in production, so it can never start with the
// public development secret; docker reads each line literally, so every
// value is plain. Its development block, uncommented, gives development.
func TestEnvExampleIsSafeForContainers(t *testing.T) {
	data, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for number, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, "=")
		if strings.ContainsAny(value, `"'#`) || strings.TrimSpace(line) != line || strings.TrimSpace(name) != name {
			t.Errorf(".env.example line %d %q: docker's --env-file would take it literally; want a plain NAME=value", number+1, line)
		}
	}
	variables, err := parseDotenv(data)
	if err != nil {
		t.Fatal(err)
	}
	if variables["NODE_ENV"] != EnvironmentProduction {
		t.Errorf(".env.example NODE_ENV = %q; want production, safe for docker run --env-file", variables["NODE_ENV"])
	}
	// docker run --env-file .env with nothing else: refused, naming what is missing.
	_, err = LoadConfig(lookupFrom(variables), "")
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf(".env.example alone: error = %v; want JWT_SECRET and REDIS_URL required", err)
	}

	uncommented := strings.ReplaceAll(string(data), "\n# NODE_ENV=development", "\nNODE_ENV=development")
	if uncommented == string(data) {
		t.Fatal(".env.example has no `# NODE_ENV=development` line to uncomment")
	}
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte(uncommented), 0o600); err != nil {
		t.Fatal(err)
	}
	config, err := LoadConfig(lookupFrom(nil), path)
	if err != nil {
		t.Fatalf("the development block uncommented: %v", err)
	}
	if !config.IsDevelopment() || !config.DevelopmentSecret || !config.DemoFeed {
		t.Errorf("the development block uncommented: config = %+v; want development with the demo feed", config)
	}
}
