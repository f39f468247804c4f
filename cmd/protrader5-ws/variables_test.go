package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLookalikeVariables(t *testing.T) {
	environment := []string{
		"LOG_LEVL=debug",         // one letter short
		"REDIS_URI=redis://x",    // one letter off
		"jwt_secret=s",           // another case
		"REDIS_HOST=redis",       // the family, not a setting
		"JWT_SECRET_FILE=/run/x", // the family
		"PORTS=4000",             // one edit from a short name
		"LOG_LEVEL=info",         // a setting
		// Nothing of the gateway's: the usual environment of a container
		// or a shell, Node.js's own, Go's, and Kubernetes service links.
		"PATH=/usr/bin", "HOME=/root", "HOSTNAME=pod-1", "HOST=0.0.0.0", "TERM=xterm", "LANG=C.UTF-8",
		"PWD=/app", "SHLVL=1", "TZ=UTC", "USER=app", "SSL_CERT_FILE=/etc/ssl/ca.pem", "HTTP_PROXY=http://proxy",
		"NODE_OPTIONS=--max-old-space-size=4096", "NODE_EXTRA_CA_CERTS=/ca.pem", "NODE_VERSION=20",
		"GOMEMLIMIT=1GiB", "GOMAXPROCS=2", "GODEBUG=x=1", "GOGC=100",
		"KUBERNETES_SERVICE_HOST=10.0.0.1", "KUBERNETES_PORT=tcp://10.0.0.1:443",
		"REDIS_SERVICE_HOST=10.0.0.2", "REDIS_SERVICE_PORT=6379", "REDIS_PORT=tcp://10.0.0.2:6379",
		"REDIS_PORT_6379_TCP_ADDR=10.0.0.2", "REDIS_PORT_6379_TCP=tcp://10.0.0.2:6379",
	}
	found := lookalikeVariables(environment, []string{"DEMO_FEEED", "PORT"})
	want := []lookalike{
		{"DEMO_FEEED", "DEMO_FEED"},
		{"JWT_SECRET_FILE", "JWT_SECRET"},
		{"LOG_LEVL", "LOG_LEVEL"},
		{"PORTS", "PORT"},
		{"REDIS_HOST", "REDIS_URL"},
		{"REDIS_URI", "REDIS_URL"},
		{"jwt_secret", "JWT_SECRET"},
	}
	if !slices.Equal(found, want) {
		t.Errorf("lookalikeVariables =\n%v\nwant\n%v", found, want)
	}
}

// TestServeWarnsAboutLookalikes: the warning reaches the log at start-up,
// from the environment and from .env alike.
func TestServeWarnsAboutLookalikes(t *testing.T) {
	directory := t.TempDir()
	t.Chdir(directory)
	if err := os.WriteFile(filepath.Join(directory, ".env"), []byte("LOG_LEVEL=warn\nDRAIN_TIMOUT=5000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, stderr := newTestCLI(map[string]string{"NODE_ENV": "test", "LOG_DIR": ""})
	c.dotenvPath = ".env"
	c.environ = func() []string { return []string{"NODE_ENV=test", "LOG_DIR=", "LOG_LEVL=debug"} }
	c.serve = func(context.Context, Config, *slog.Logger) error { return nil }
	if code := c.run([]string{"serve"}); code != exitSuccess {
		t.Fatalf("serve exit %d; stderr %s", code, stderr)
	}
	for _, want := range []string{
		`"msg":"LOG_LEVL is not a setting of the gateway; did you mean LOG_LEVEL?","variable":"LOG_LEVL","did_you_mean":"LOG_LEVEL"`,
		`"variable":"DRAIN_TIMOUT","did_you_mean":"DRAIN_TIMEOUT"`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %s:\n%s", want, stderr)
		}
	}
}

// TestStartupLogIsReadable: durations are strings in JSON ("10s", not
// 10000000000), and the development secret is named as such.
func TestStartupLogIsReadable(t *testing.T) {
	config := mustLoad(t, map[string]string{"NODE_ENV": "test", "LOG_DIR": ""})
	var console bytes.Buffer
	logger, closeFiles, err := newLogger(config, &console)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFiles()
	c, _, _ := newTestCLI(nil)
	c.serve = func(context.Context, Config, *slog.Logger) error { return nil }
	if err := c.serveUntilDone(context.Background(), config, logger); err != nil {
		t.Fatal(err)
	}
	// Every duration, whoever logs it, as the shutdown logs DRAIN_TIMEOUT.
	logger.Info("shutting down", slog.Duration("drain_timeout", config.DrainTimeout))
	for _, want := range []string{`"jwt_secret":"development"`, `"msg":"shutting down","drain_timeout":"10s"`} {
		if !strings.Contains(console.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, console.String())
		}
	}
	if strings.Contains(console.String(), "jwt_secret_set") {
		t.Errorf("log still says jwt_secret_set:\n%s", console.String())
	}
	withSecret := mustLoad(t, map[string]string{"JWT_SECRET": "a private secret"})
	if kind := withSecret.jwtSecretKind(); kind != "set" {
		t.Errorf("with JWT_SECRET: jwt_secret = %q; want set", kind)
	}
}
