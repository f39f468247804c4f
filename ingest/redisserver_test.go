package ingest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// redisServer is a redis-server process this test started on 127.0.0.1.
// Tests never use a Redis they did not start unless REDIS_URL says so, and
// never flush one: they isolate themselves with a unique key prefix.
type redisServer struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	url  string
	// exited is closed when the current process has been reaped.
	exited chan struct{}
}

// redisBinary returns the redis-server path; without one the test skips,
// or fails when CI=true (CI must run every Redis test).
func redisBinary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found and CI=true: %v", err)
		}
		t.Skipf("redis-server not found: %v", err)
	}
	return path
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t testing.TB) int {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}

// startRedis starts a private redis-server on a free port (or port, when
// not zero) and stops it when the test ends.
func startRedis(t testing.TB, port int, extra ...string) *redisServer {
	t.Helper()
	if port == 0 {
		port = freePort(t)
	}
	s := &redisServer{t: t, port: port, dir: t.TempDir(), url: fmt.Sprintf("redis://127.0.0.1:%d", port)}
	s.args = append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--loglevel", "warning",
	}, extra...)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(redisBinary(s.t), s.args...)
	s.cmd.Dir = s.dir
	log, err := os.Create(s.dir + "/redis.log")
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	s.exited = exited
	cmd := s.cmd
	go func() {
		cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !s.answers() {
		select {
		case <-exited:
			out, _ := os.ReadFile(s.dir + "/redis.log")
			s.t.Fatalf("redis-server %v exited: %s", s.args, out)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not answer PING", s.port)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop kills the process (only ours, by pid) and waits for it.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// testRedisURL returns REDIS_URL when set, else a private server's URL.
func testRedisURL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		return url
	}
	return startRedis(t, 0).url
}

// testPrefix isolates a test's channels and keys in a shared Redis.
func testPrefix(t testing.TB) string {
	return fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())
}

// newTestClient returns a plain rueidis client for publishing and setting
// keys, closed at the end of the test.
func newTestClient(t testing.TB, url string) rueidis.Client {
	t.Helper()
	option, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	option.DisableCache = true
	client, err := rueidis.NewClient(option)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(client.Close)
	return client
}

// do runs a command that must succeed.
func do(t testing.TB, client rueidis.Client, command rueidis.Completed) rueidis.RedisResult {
	t.Helper()
	result := client.Do(context.Background(), command)
	if err := result.Error(); err != nil {
		t.Fatalf("redis command: %v", err)
	}
	return result
}

// waitReady waits until source reports want.
func waitReady(t testing.TB, source Source, want bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ready, reason := source.Ready()
		if ready == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready() = %v, %q after %v; want %v", ready, reason, timeout, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runRedis runs a Redis source until the test ends.
func runRedis(t testing.TB, options RedisOptions) *Redis {
	t.Helper()
	if options.Logger == nil {
		options.Logger = quietLogger()
	}
	source, err := NewRedis(options)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- source.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	return source
}

// answers reports whether the plain port answers PING.
func (s *redisServer) answers() bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

func itoa(n int) string { return strconv.Itoa(n) }

func splitLines(s string) []string { return strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") }

// parseCommandStat reads "cmdstat_get:calls=12,..." for command.
func parseCommandStat(line, command string) (int64, bool) {
	rest, ok := strings.CutPrefix(line, "cmdstat_"+command+":calls=")
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest, ",")
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}
