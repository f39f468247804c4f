// Package redistest starts private redis-server processes for tests.
//
// It is imported only by _test.go files. A test uses the Redis it started,
// or the one REDIS_URL names; it never falls back to :6379 and never
// flushes a Redis: tests isolate themselves with unique key prefixes.
package redistest

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// startTimeout bounds how long Start waits for the server to answer PING.
const startTimeout = 10 * time.Second

// Server is a redis-server process a test started on 127.0.0.1.
type Server struct {
	t        testing.TB
	port     int
	dir      string
	args     []string
	required bool
	cmd      *exec.Cmd
	// exited is closed when the current process has been reaped.
	exited chan struct{}
}

// Option configures New and Start.
type Option func(*Server)

// WithPort runs the server on port instead of a free one.
func WithPort(port int) Option { return func(s *Server) { s.port = port } }

// WithArgs appends redis-server arguments (TLS, persistence, renamed
// commands) after the defaults, so they win over them.
func WithArgs(args ...string) Option {
	return func(s *Server) { s.args = append(s.args, args...) }
}

// Required fails the test when redis-server is missing instead of skipping
// it (see Binary).
func Required() Option { return func(s *Server) { s.required = true } }

// Binary returns the redis-server path. Without one the test skips, or
// fails when CI=true: CI must run every Redis test.
func Binary(t testing.TB) string {
	t.Helper()
	return binary(t, false)
}

func binary(t testing.TB, required bool) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if required {
			t.Fatalf("redis-server is not installed (make test-deps installs it): %v", err)
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found and CI=true: %v", err)
		}
		t.Skipf("redis-server not found: %v", err)
	}
	return path
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
// It is drawn below Linux's ephemeral range (32768 and up): a port the
// kernel hands out as ephemeral could be taken as the source port of some
// parallel test's outgoing connection before the caller binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = listener.Close()
		return port
	}
	t.Fatal("redistest: no free port found below the ephemeral range")
	return 0
}

// URL returns REDIS_URL when set, otherwise the URL of a private server
// started with options for this test.
func URL(t testing.TB, options ...Option) string {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return url
	}
	return Start(t, options...).URL()
}

// New prepares a private server on a free port (or WithPort) without
// starting it; the test's cleanup kills it if it is running then. Call
// Start or Restart to run it.
func New(t testing.TB, options ...Option) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir()}
	for _, option := range options {
		option(s)
	}
	if s.port == 0 {
		s.port = FreePort(t)
	}
	s.args = append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--loglevel", "warning",
	}, s.args...)
	binary(t, s.required) // skip or fail now, not halfway through the test
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			out, _ := os.ReadFile(s.logPath())
			t.Logf("--- redis-server on port %d log:\n%s", s.port, out)
		}
	})
	return s
}

// Start starts a private server and waits until it answers PING; it is
// killed when the test ends.
func Start(t testing.TB, options ...Option) *Server {
	t.Helper()
	s := New(t, options...)
	s.Start()
	return s
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d", s.port) }

// Port is the server's plain TCP port.
func (s *Server) Port() int { return s.port }

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

// Start runs the server on its port and waits until it answers PING.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatalf("redis-server on port %d is already running", s.port)
	}
	cmd := exec.Command(binary(s.t, s.required), s.args...)
	cmd.Dir = s.dir
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(startTimeout)
	for !s.answers() {
		select {
		case <-exited:
			s.cmd = nil
			out, _ := os.ReadFile(s.logPath())
			s.t.Fatalf("redis-server %v exited: %s", s.args, out)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not answer PING within %v", s.port, startTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Kill kills the process (only ours, by pid) and reaps it. It does nothing
// when the server is not running.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Stop shuts the server down with SIGTERM, as an orchestrator would, and
// kills it if it has not exited within five seconds.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Restart kills the server if it is running and starts it again on the
// same port, with the same arguments and directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.Start()
}

// answers reports whether the plain port answers PING.
func (s *Server) answers() bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Client returns a plain rueidis client (no client-side cache) to url for
// publishing and setting keys, closed when the test ends.
func Client(t testing.TB, url string) rueidis.Client {
	t.Helper()
	option, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	option.DisableCache = true
	client, err := rueidis.NewClient(option)
	if err != nil {
		t.Fatalf("redistest: connect to %s: %v", url, err)
	}
	t.Cleanup(client.Close)
	return client
}
