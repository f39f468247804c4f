package main

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// soakProcess is a server process the soak started and must stop: only
// this one, by its pid.
type soakProcess struct {
	name    string
	command *exec.Cmd
	exited  chan struct{}
	logPath string
}

func startSoakProcess(name, directory string, environment []string, binary string, arguments ...string) (*soakProcess, error) {
	logPath := filepath.Join(directory, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	command := exec.Command(binary, arguments...)
	// Its own directory, so that a .env file where the soak was started is
	// not read by the gateway: the soak sets what the gateway runs with.
	command.Dir = directory
	command.Env = environment
	command.Stdout, command.Stderr = logFile, logFile
	if err := command.Start(); err != nil {
		return nil, fmt.Errorf("soak: start %s: %w", name, err)
	}
	process := &soakProcess{name: name, command: command, exited: make(chan struct{}), logPath: logPath}
	go func() { command.Wait(); close(process.exited) }()
	return process, nil
}

func (p *soakProcess) pid() int { return p.command.Process.Pid }

func (p *soakProcess) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop asks the process to end (SIGTERM: the gateway drains) and kills it
// when it has not within grace.
func (p *soakProcess) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	p.command.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.command.Process.Kill()
		<-p.exited
	}
}

// logTail returns the last lines of the process's output, for an error.
func (p *soakProcess) logTail() string {
	data, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// waitUntil polls ready every 50 ms until it holds, the process exits or
// timeout passes.
func (p *soakProcess) waitUntil(ready func() bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !ready() {
		if !p.running() {
			return fmt.Errorf("soak: %s exited at start-up:\n%s", p.name, p.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("soak: %s not ready after %v:\n%s", p.name, timeout, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// freePort returns a port free on 127.0.0.1 now, below Linux's ephemeral
// range (32768 and up) so that no outgoing connection of the soak's own
// thousands can be holding it by the time the server binds it.
func freePort() (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		listener.Close()
		return port, nil
	}
	return 0, errors.New("soak: no free port below the ephemeral range")
}

// startSoakRedis runs a private redis-server without persistence.
func startSoakRedis(directory string) (*soakProcess, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	process, err := startSoakProcess("redis", directory, os.Environ(), "redis-server",
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", directory, "--loglevel", "warning")
	if err != nil {
		return nil, "", err
	}
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := process.waitUntil(func() bool { return redisAnswers(address) }, 10*time.Second); err != nil {
		process.stop(time.Second)
		return nil, "", err
	}
	return process, "redis://" + address, nil
}

func redisAnswers(address string) bool {
	conn, err := net.DialTimeout("tcp", address, time.Second)
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

// startSoakGateway runs "<binary> serve" on a free port against redisURL,
// in production mode, and waits until /health answers. Variables the soak
// does not set (MAX_PENDING_BYTES, WRITE_TIMEOUT, ...) come from the
// soak's own environment.
func startSoakGateway(directory, binary, redisURL, secret string) (*soakProcess, string, error) {
	// The gateway runs in directory; a relative path would be looked up there.
	binary, err := filepath.Abs(binary)
	if err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	environment := append(os.Environ(),
		"PORT="+strconv.Itoa(port), "REDIS_URL="+redisURL, "JWT_SECRET="+secret,
		"NODE_ENV=production", "DEMO_FEED=false", "LOG_DIR="+filepath.Join(directory, "logs"))
	process, err := startSoakProcess("gateway", directory, environment, binary, "serve")
	if err != nil {
		return nil, "", err
	}
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	client := &http.Client{Timeout: time.Second}
	healthy := func() bool {
		response, err := client.Get("http://" + address + "/ready")
		if err != nil {
			return false
		}
		response.Body.Close()
		return response.StatusCode == http.StatusOK
	}
	if err := process.waitUntil(healthy, 20*time.Second); err != nil {
		process.stop(time.Second)
		return nil, "", err
	}
	client.CloseIdleConnections()
	return process, address, nil
}
