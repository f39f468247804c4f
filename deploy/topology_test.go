package deploy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/protrader5/ws-gateway/ingest/redistest"

	"github.com/protrader5/ws-gateway/engine/enginetest"
)

// The compose topology without containers: redis-server, three gateway
// processes built with the Dockerfile's command and configured from the
// compose file, and haproxy running deploy/haproxy.cfg with only its
// addresses moved to loopback ports.

const topologySecret = "deploy-topology-secret"

// process is a child process whose output is kept for failure reports.
type process struct {
	name    string
	command *exec.Cmd
	output  *enginetest.LockedBuffer
	exited  chan struct{}
	err     error // set before exited is closed
}

// startProcess starts a child that the test's cleanup stops (SIGTERM, then
// SIGKILL) and reaps, logging its output when the test failed.
func startProcess(t *testing.T, name, directory string, environment []string, path string, arguments ...string) *process {
	t.Helper()
	p := &process{name: name, command: exec.Command(path, arguments...), output: &enginetest.LockedBuffer{}, exited: make(chan struct{})}
	p.command.Dir = directory
	p.command.Env = environment
	p.command.Stdout, p.command.Stderr = p.output, p.output
	if err := p.command.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.command.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(5 * time.Second)
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, tail(p.output.String(), 3000))
		}
	})
	return p
}

// stop sends SIGTERM and waits up to grace before SIGKILL.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.command.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.command.Process.Kill()
		<-p.exited
	}
}

func tail(text string, size int) string {
	if len(text) > size {
		return "..." + text[len(text)-size:]
	}
	return text
}

// waitFor polls check until it returns nil or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(url string) (int, string, error) {
	client := http.Client{Timeout: 2 * time.Second}
	response, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	return response.StatusCode, string(body), err
}

// ensureHAProxy returns haproxy's path, installing the Debian package when
// it is missing and the test runs as root.
func ensureHAProxy(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("haproxy"); err == nil {
		return path
	}
	if os.Geteuid() != 0 {
		t.Fatal("haproxy is not installed and the test is not root: apt-get install haproxy (or run with -short)")
	}
	for _, arguments := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "haproxy"}} {
		command := exec.Command("apt-get", arguments...)
		command.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if output, err := command.CombinedOutput(); err != nil {
			t.Fatalf("installing haproxy: apt-get %s: %v\n%s", strings.Join(arguments, " "), err, tail(string(output), 2000))
		}
	}
	path, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("apt-get installed haproxy but it is not on PATH")
	}
	return path
}

// redisCommand sends one command in RESP and returns the first reply line.
func redisCommand(port int, arguments ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	request := fmt.Sprintf("*%d\r\n", len(arguments))
	for _, argument := range arguments {
		request += fmt.Sprintf("$%d\r\n%s\r\n", len(argument), argument)
	}
	if _, err := io.WriteString(conn, request); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("redis: %s", strings.TrimSpace(line))
	}
	return strings.TrimSpace(line), nil
}

// interpolate resolves Compose's ${NAME}, ${NAME:-default} and
// ${NAME:?message} from variables.
func interpolate(t *testing.T, value string, variables map[string]string) string {
	t.Helper()
	return composeVariable.ReplaceAllStringFunc(value, func(match string) string {
		parts := composeVariable.FindStringSubmatch(match)
		if resolved, ok := variables[parts[1]]; ok && resolved != "" {
			return resolved
		}
		if parts[2] == ":?" {
			t.Fatalf("docker-compose.yml needs %s: %s", parts[1], parts[3])
		}
		return parts[3]
	})
}

var composeVariable = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}`)

// gatewayNode is one gateway process of the topology.
type gatewayNode struct {
	name        string
	port        int
	metricsPort int // METRICS_PORT, moved like PORT
	process     *process
}

func (n *gatewayNode) url(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(n.port) + path
}

func (n *gatewayNode) metricsURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(n.metricsPort) + "/metrics"
}

// sockets reads the node's protrader5_sockets gauge.
func (n *gatewayNode) sockets() (int, error) {
	status, body, err := httpGet(n.metricsURL())
	if err != nil || status != http.StatusOK {
		return 0, fmt.Errorf("%s /metrics: %d %v", n.name, status, err)
	}
	match := regexp.MustCompile(`(?m)^protrader5_sockets (\S+)$`).FindStringSubmatch(body)
	if match == nil {
		return 0, fmt.Errorf("%s /metrics has no protrader5_sockets", n.name)
	}
	value, err := strconv.ParseFloat(match[1], 64)
	return int(value), err
}

// topology is the running stack.
type topology struct {
	redisPort int
	balancer  string // host:port of haproxy
	nodes     []*gatewayNode
}

func startTopology(t *testing.T) *topology {
	t.Helper()
	haproxy := ensureHAProxy(t)
	binary := buildGateway(t)
	// A throw-away redis-server; without one the test fails, never skips.
	top := &topology{redisPort: redistest.Start(t, redistest.Required()).Port()}

	// The gateways: each compose service's own environment, with the
	// addresses moved to this machine. The working directory is empty, so
	// no .env is read and LOG_DIR's default lands in it.
	services := composeGateways(t)
	names := sortedKeys(services)
	backends := map[string]int{}
	for _, name := range names {
		environment := composeEnvironment(t, services[name])
		node := &gatewayNode{name: name, port: redistest.FreePort(t), metricsPort: redistest.FreePort(t)}
		environment["PORT"] = strconv.Itoa(node.port)
		if environment["METRICS_PORT"] == "" {
			t.Fatalf("docker-compose.yml %s sets no METRICS_PORT", name)
		}
		environment["METRICS_PORT"] = strconv.Itoa(node.metricsPort)
		environment["REDIS_URL"] = fmt.Sprintf("redis://127.0.0.1:%d", top.redisPort)
		environment["TRUSTED_PROXIES"] = "127.0.0.1"
		variables := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		for _, key := range sortedKeys(environment) {
			variables = append(variables, key+"="+interpolate(t, environment[key], map[string]string{"JWT_SECRET": topologySecret}))
		}
		directory := t.TempDir()
		node.process = startProcess(t, name, directory, variables, binary, "serve")
		// The gateway's own log file (it logs to stderr as well).
		t.Cleanup(func() {
			if t.Failed() {
				data, _ := os.ReadFile(filepath.Join(directory, "logs", "combined.log"))
				t.Logf("--- %s logs/combined.log:\n%s", name, tail(string(data), 3000))
			}
		})
		top.nodes = append(top.nodes, node)
		backends[name] = node.port
	}
	for _, node := range top.nodes {
		waitFor(t, node.name+" /ready", 15*time.Second, func() error {
			status, body, err := httpGet(node.url("/ready"))
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("%d %s %v", status, body, err)
			}
			return nil
		})
	}

	// HAProxy: the committed file with the listener and the three server
	// addresses rewritten, nothing else.
	balancerPort := redistest.FreePort(t)
	configuration := readRepoFile(t, "deploy/haproxy.cfg")
	rewritten := 0
	configuration = haproxyServer.ReplaceAllStringFunc(configuration, func(line string) string {
		parts := haproxyServer.FindStringSubmatch(line)
		port, ok := backends[parts[2]]
		if !ok {
			t.Fatalf("haproxy.cfg server %s is not a compose gateway", parts[2])
		}
		rewritten++
		return strings.Replace(line, parts[2]+":"+parts[3], "127.0.0.1:"+strconv.Itoa(port), 1)
	})
	bind := regexp.MustCompile(`(?m)^(\s*bind\s+):4000\b`)
	if len(bind.FindAllString(configuration, -1)) != 1 || rewritten != len(top.nodes) {
		t.Fatalf("haproxy.cfg: want one `bind :4000` and %d servers, rewrote %d", len(top.nodes), rewritten)
	}
	configuration = bind.ReplaceAllString(configuration, "${1}127.0.0.1:"+strconv.Itoa(balancerPort))
	directory := t.TempDir()
	path := filepath.Join(directory, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(configuration), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "haproxy", directory, []string{"PATH=" + os.Getenv("PATH")}, haproxy, "-db", "-f", path)
	top.balancer = "127.0.0.1:" + strconv.Itoa(balancerPort)
	waitFor(t, "haproxy /ready through the balancer", 10*time.Second, func() error {
		status, _, err := httpGet("http://" + top.balancer + "/ready")
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("%d %v", status, err)
		}
		return nil
	})
	return top
}

func (top *topology) publish(t *testing.T, channel, message string) {
	t.Helper()
	if _, err := redisCommand(top.redisPort, "PUBLISH", channel, message); err != nil {
		t.Fatalf("PUBLISH %s: %v", channel, err)
	}
}

func topologyToken(t *testing.T, userID string) string {
	t.Helper()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": userID, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(topologySecret))
	if err != nil {
		t.Fatal(err)
	}
	return token
}
