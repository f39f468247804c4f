package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// clusterMasters is the size of the cluster StartCluster makes: the
	// fewest masters redis-cli accepts, and enough that keys land on
	// different nodes.
	clusterMasters = 3
	// clusterCreateTimeout bounds redis-cli --cluster create, which alone
	// waits about a second per round while the nodes meet.
	clusterCreateTimeout = 30 * time.Second
	// clusterReadyTimeout bounds the wait for cluster_state:ok on every node
	// after the cluster was created.
	clusterReadyTimeout = 15 * time.Second
)

// Cluster is a Redis Cluster of three masters and no replicas, each a
// private redis-server on 127.0.0.1, that a test started.
type Cluster struct {
	// Nodes are the masters, in the order they were given to redis-cli.
	Nodes []*Server
}

// CLIBinary returns the redis-cli path. Without one the test skips, or
// fails when CI=true, as Binary does for redis-server.
func CLIBinary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-cli not found and CI=true: %v", err)
		}
		t.Skipf("redis-cli not found: %v", err)
	}
	return path
}

// StartCluster starts three cluster-enabled redis-servers on free ports,
// joins them into one cluster with redis-cli --cluster create, and waits
// until every node reports cluster_state:ok. The nodes are killed when the
// test ends. options apply to every node; WithPort, which would put all
// three on one port, must not be among them.
func StartCluster(t testing.TB, options ...Option) *Cluster {
	t.Helper()
	cli := CLIBinary(t)
	Binary(t)
	// The cluster bus port is set explicitly rather than left at the
	// default of port+10000, which for a port drawn by FreePort could fall
	// in the ephemeral range or on another test's server.
	ports := distinctFreePorts(t, 2*clusterMasters)
	cluster := &Cluster{}
	addresses := make([]string, 0, clusterMasters)
	for index := range clusterMasters {
		port, busPort := ports[2*index], ports[2*index+1]
		nodeOptions := append([]Option{WithPort(port)}, options...)
		nodeOptions = append(nodeOptions, func(s *Server) {
			s.args = append(s.args,
				"--cluster-enabled", "yes",
				"--cluster-port", strconv.Itoa(busPort),
				"--cluster-config-file", filepath.Join(s.dir, fmt.Sprintf("nodes-%d.conf", port)))
		})
		cluster.Nodes = append(cluster.Nodes, Start(t, nodeOptions...))
		addresses = append(addresses, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterCreateTimeout)
	defer cancel()
	arguments := append([]string{"--cluster", "create"}, addresses...)
	arguments = append(arguments, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, arguments...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(arguments, " "), err, out)
	}
	cluster.WaitReady(t)
	return cluster
}

// distinctFreePorts returns count different ports, each free at the time
// of the call: FreePort alone may draw the same one twice.
func distinctFreePorts(t testing.TB, count int) []int {
	t.Helper()
	ports := make([]int, 0, count)
	taken := make(map[int]bool, count)
	for len(ports) < count {
		port := FreePort(t)
		if !taken[port] {
			taken[port] = true
			ports = append(ports, port)
		}
	}
	return ports
}

// WaitReady waits until every node says cluster_state:ok: until then a
// node may still answer CLUSTERDOWN, or a client that discovers the
// cluster through it may find slots without an owner. A restarted master
// answers CLUSTERDOWN for about two seconds: Redis waits that long before
// taking writes again, in case the cluster reconfigured it meanwhile.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(clusterReadyTimeout)
	for _, node := range c.Nodes {
		for {
			info, err := node.Query("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis cluster node on port %d not ok within %v: %q, %v", node.Port(), clusterReadyTimeout, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// URL is the redis:// URL of the first node: a cluster client finds the
// others from it.
func (c *Cluster) URL() string { return c.Nodes[0].URL() }

// Query sends one command to the server's plain port on a connection of
// its own and returns the reply when it is a string (simple or bulk). It
// needs no client library, so it works on a cluster node before the
// cluster is formed.
func (s *Server) Query(arguments ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var request strings.Builder
	fmt.Fprintf(&request, "*%d\r\n", len(arguments))
	for _, argument := range arguments {
		fmt.Fprintf(&request, "$%d\r\n%s\r\n", len(argument), argument)
	}
	if _, err := io.WriteString(conn, request.String()); err != nil {
		return "", err
	}
	reader := bufio.NewReader(conn)
	line, err := reader.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("redistest: empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		length, err := strconv.Atoi(line[1:])
		if err != nil || length < 0 {
			return "", fmt.Errorf("redistest: reply %q is not a string", line)
		}
		body := make([]byte, length+2) // and its CRLF
		if _, err := io.ReadFull(reader, body); err != nil {
			return "", err
		}
		return string(body[:length]), nil
	}
	return "", fmt.Errorf("redistest: reply %q is not a string", line)
}
