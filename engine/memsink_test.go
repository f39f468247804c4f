package engine

import (
	"bytes"
	"log/slog"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// memorySink stands in for a socket: it records the Engine.IO payloads it
// is given and can be stalled like a client that stopped reading.
type memorySink struct {
	mu       sync.Mutex
	cond     *sync.Cond
	stalled  bool
	closed   bool
	record   bool
	bytes    int
	payloads []string
}

func newMemorySink(record bool) *memorySink {
	s := &memorySink{record: record}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *memorySink) take(buffers [][]byte) int {
	n := 0
	for _, buffer := range buffers {
		n += len(buffer)
		if s.record {
			s.payloads = append(s.payloads, string(frameBody(buffer)))
		}
	}
	s.bytes += n
	return n
}

func (s *memorySink) writeNow(buffers [][]byte, _ []syscall.Iovec) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled {
		return 0, errWouldBlock
	}
	return s.take(buffers), nil
}

func (s *memorySink) writeWait(buffers [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.stalled && !s.closed {
		s.cond.Wait()
	}
	if s.closed {
		return errWriteTimeout
	}
	s.take(buffers)
	return nil
}

func (s *memorySink) close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *memorySink) setStalled(stalled bool) {
	s.mu.Lock()
	s.stalled = stalled
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *memorySink) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.payloads...)
}

// attachTestConn adds a connected socket of userID writing to sink.
func attachTestConn(t testing.TB, e *Engine, userID string, sink sink) *clientConn {
	t.Helper()
	c := &clientConn{engine: e, sink: sink, state: stateOpen, sid: newID()}
	e.connsMu.Lock()
	e.conns[c] = struct{}{}
	e.connsMu.Unlock()
	e.metrics.connections.Add(1)
	e.join(c, userID, newID())
	return c
}

func newTestEngine(t testing.TB, config Config, options ...Option) *Engine {
	t.Helper()
	if config.Logger == nil && !testing.Verbose() {
		config.Logger = slog.New(slog.DiscardHandler)
	}
	e, err := New(config, options...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	return e
}

// tick builds a tick with a sequence number.
func tick(symbol string, seq int) []byte {
	return []byte(`{"symbol":"` + symbol + `","seq":` + strconv.Itoa(seq) + `}`)
}

// tickSeqs extracts the seq of each market:data payload of symbol.
func tickSeqs(payloads []string, symbol string) []int {
	var seqs []int
	prefix := []byte(`42["market:data",{"symbol":"` + symbol + `","seq":`)
	for _, payload := range payloads {
		p := []byte(payload)
		if !bytes.HasPrefix(p, prefix) {
			continue
		}
		rest := p[len(prefix):]
		end := bytes.IndexByte(rest, '}')
		n, _ := strconv.Atoi(string(rest[:end]))
		seqs = append(seqs, n)
	}
	return seqs
}
