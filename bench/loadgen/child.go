package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The -procs protocol, one line per message. Parent → child on stdin:
// "CONFIG <json config>", "WINDOW <start ns> <end ns>", "END <json publication>".
// Child → parent on stdout: "PROGRESS <connected> <received>", "READY",
// "RESULT <json fleetResult>", "ERROR <text>". Diagnostics go to stderr.

// childEnvironment marks a re-executed child; a test binary honours it in
// TestMain, so -procs works under `go test` too.
const childEnvironment = "LOADGEN_CHILD"

// childHandle is the parent's end of one child process.
type childHandle struct {
	command   *exec.Cmd
	stdin     io.WriteCloser
	ready     chan error
	results   chan *fleetResult
	failures  chan error
	connected atomic.Int64
	received  atomic.Uint64
	closeOnce sync.Once
}

func startChild(c *config) (*childHandle, error) {
	executable, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("loadgen: find own executable: %w", err)
	}
	command := exec.Command(executable)
	command.Env = append(os.Environ(), childEnvironment+"=1")
	command.Stderr = os.Stderr
	stdin, err := command.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := command.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := command.Start(); err != nil {
		return nil, fmt.Errorf("loadgen: start child: %w", err)
	}
	handle := &childHandle{
		command:  command,
		stdin:    stdin,
		ready:    make(chan error, 1),
		results:  make(chan *fleetResult, 1),
		failures: make(chan error, 2),
	}
	encoded, _ := json.Marshal(c)
	if _, err := fmt.Fprintf(stdin, "CONFIG %s\n", encoded); err != nil {
		handle.close()
		return nil, err
	}
	go handle.readLines(stdout)
	return handle, nil
}

func (h *childHandle) readLines(stdout io.Reader) {
	scanner := bufio.NewScanner(stdout)
	scanner.Buffer(make([]byte, 64*1024), 64<<20)
	for scanner.Scan() {
		kind, rest, _ := strings.Cut(scanner.Text(), " ")
		switch kind {
		case "PROGRESS":
			var connected int64
			var received uint64
			if _, err := fmt.Sscan(rest, &connected, &received); err == nil {
				h.connected.Store(connected)
				h.received.Store(received)
			}
		case "READY":
			h.ready <- nil
		case "RESULT":
			var result fleetResult
			if err := json.Unmarshal([]byte(rest), &result); err != nil {
				h.failures <- fmt.Errorf("loadgen: child result: %w", err)
				return
			}
			h.results <- &result
			return
		case "ERROR":
			h.failures <- errors.New(rest)
			return
		}
	}
	h.failures <- fmt.Errorf("loadgen: child %d ended early", h.command.Process.Pid)
}

func (h *childHandle) connect() error {
	select {
	case err := <-h.ready:
		return err
	case err := <-h.failures:
		return err
	}
}

func (h *childHandle) setWindow(start, end int64) error {
	_, err := fmt.Fprintf(h.stdin, "WINDOW %d %d\n", start, end)
	return err
}

func (h *childHandle) counters() (int64, uint64) { return h.connected.Load(), h.received.Load() }

func (h *childHandle) finish(published *publication) (*fleetResult, error) {
	encoded, _ := json.Marshal(published)
	if _, err := fmt.Fprintf(h.stdin, "END %s\n", encoded); err != nil {
		return nil, err
	}
	select {
	case result := <-h.results:
		return result, nil
	case err := <-h.failures:
		return nil, err
	}
}

func (h *childHandle) pids() []int { return []int{h.command.Process.Pid} }

// close ends the child: closing stdin asks it to stop; a child that does not
// within a few seconds is killed (it is ours, by pid).
func (h *childHandle) close() {
	h.closeOnce.Do(func() {
		h.stdin.Close()
		exited := make(chan struct{})
		go func() { h.command.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			h.command.Process.Kill()
			<-exited
		}
	})
}

// childMain is a -procs child: it reads its orders on stdin and answers on
// stdout, holding one slice of the clients.
func childMain(stdin io.Reader, stdout io.Writer) error {
	var writeMu sync.Mutex
	send := func(format string, arguments ...any) {
		writeMu.Lock()
		defer writeMu.Unlock()
		fmt.Fprintf(stdout, format+"\n", arguments...)
	}
	lines := bufio.NewScanner(stdin)
	lines.Buffer(make([]byte, 64*1024), 64<<20)
	next := func(want string) (string, error) {
		if !lines.Scan() {
			return "", fmt.Errorf("loadgen child: stdin closed waiting for %s", want)
		}
		kind, rest, _ := strings.Cut(lines.Text(), " ")
		if kind != want {
			return "", fmt.Errorf("loadgen child: got %q, want %s", kind, want)
		}
		return rest, nil
	}
	fail := func(err error) error { send("ERROR %s", strings.ReplaceAll(err.Error(), "\n", " ")); return err }

	encoded, err := next("CONFIG")
	if err != nil {
		return fail(err)
	}
	var c config
	if err := json.Unmarshal([]byte(encoded), &c); err != nil {
		return fail(err)
	}
	f := newFleet(&c)
	defer f.close()
	stopProgress := make(chan struct{})
	defer close(stopProgress)
	go func() {
		ticker := time.NewTicker(250 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-ticker.C:
				send("PROGRESS %d %d", f.connected.Load(), f.received())
			}
		}
	}()
	f.connect()
	send("PROGRESS %d %d", f.connected.Load(), f.received())
	send("READY")

	window, err := next("WINDOW")
	if err != nil {
		return fail(err)
	}
	var start, end int64
	if _, err := fmt.Sscan(window, &start, &end); err != nil {
		return fail(err)
	}
	f.setWindow(start, end)
	encoded, err = next("END")
	if err != nil {
		return fail(err)
	}
	var published publication
	if err := json.Unmarshal([]byte(encoded), &published); err != nil {
		return fail(err)
	}
	result, err := json.Marshal(f.finish(&published))
	if err != nil {
		return fail(err)
	}
	send("RESULT %s", result)
	return nil
}
