package engine

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// idleConnections is how many sockets TestIdleConnectionMemory holds: enough
// that a per-connection structure shows as a multiple of itself in the live
// heap, few enough for the shared test machine.
const idleConnections = 400

// netpollBytesPerIdleConnection bounds what netpoll keeps live for one idle,
// subscribed connection. Measured at about 1,100 B: the connection struct,
// its two link buffers and their empty nodes, its FD operator, and its
// server's connection map. Upstream netpoll also keeps an output barrier
// (32 slices and 32 iovecs, ~1,300 B), the last node of its input buffer
// (512 B here), two trigger channels (~230 B) and, once a read has waited,
// a timer (~250 B) for the connection's whole life: 3,400-3,650 B here.
// The patched netpoll (engine/netpollpatch) keeps none of them between
// messages, and this bound fails if a connection holds any one again.
const netpollBytesPerIdleConnection = 1500

// TestIdleConnectionMemory holds idle, authenticated connections subscribed
// to five symbols each and reads, from an exact heap profile (every
// allocation sampled), what the server side keeps live for each: netpoll's
// share and the engine's. HEAP_PROFILE=<file> also writes the profile, for
// `go tool pprof`.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("holds hundreds of sockets")
	}
	previousRate := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = previousRate }()

	e := startEngine(t, Config{})
	// Warm up: the first connection brings netpoll's pollers, pools and the
	// engine's shards to life; they are not per-connection costs.
	warm := dialClient(t, e, nil)
	warm.connect(testToken(t, "warm", time.Hour))
	warm.emitAck(1, "subscribe:market", `{"symbols":["W1","W2","W3","W4","W5"]}`)
	before := liveServerHeap()

	clients := make([]*testClient, 0, idleConnections)
	for index := range idleConnections {
		client := dialClient(t, e, nil)
		client.connect(testToken(t, fmt.Sprintf("user%d", index), time.Hour))
		symbols := make([]string, 5)
		for slot := range symbols {
			symbols[slot] = fmt.Sprintf(`"S%d"`, (index+slot*7)%100)
		}
		client.emitAck(1, "subscribe:market", `{"symbols":[`+strings.Join(symbols, ",")+`]}`)
		clients = append(clients, client)
	}
	after := liveServerHeap()
	if path := os.Getenv("HEAP_PROFILE"); path != "" {
		writeHeapProfile(t, path)
	}
	netpollBytes := (after.netpoll - before.netpoll) / idleConnections
	engineBytes := (after.engine - before.engine) / idleConnections
	t.Logf("live per idle connection: netpoll %d B, engine %d B (%d connections); netpoll's event array grew by %d B",
		netpollBytes, engineBytes, len(clients), after.poller-before.poller)
	if netpollBytes > netpollBytesPerIdleConnection {
		t.Errorf("netpoll keeps %d B live per idle connection; want at most %d (does it hold a barrier, a read buffer, triggers or a timer between messages again?)",
			netpollBytes, netpollBytesPerIdleConnection)
	}
	if netpollBytes <= 0 || engineBytes <= 0 {
		t.Errorf("the profile attributed nothing to netpoll (%d B) or the engine (%d B): the attribution is broken", netpollBytes, engineBytes)
	}
}

// serverHeap is live heap bytes by the server-side code that allocated them.
type serverHeap struct{ netpoll, poller, engine int64 }

// liveServerHeap collects and then sums the heap profile's in-use bytes by
// the innermost frame that is netpoll's or the engine's own (not a test
// file's: the test clients share the process). Memory allocated by a
// helper (the standard library, an allocator, gobwas/ws) counts for the
// first of those frames that called it.
func liveServerHeap() serverHeap {
	// A profile reflects the heap as of the last completed cycle but one.
	for range 5 {
		runtime.GC()
	}
	var records []runtime.MemProfileRecord
	count, _ := runtime.MemProfile(nil, true)
	for {
		records = make([]runtime.MemProfileRecord, count+100)
		n, ok := runtime.MemProfile(records, true)
		if ok {
			records = records[:n]
			break
		}
		count = n
	}
	var heap serverHeap
	for index := range records {
		record := &records[index]
		switch ownerOf(record.Stack()) {
		case "netpoll":
			heap.netpoll += record.InUseBytes()
		case "poller":
			heap.poller += record.InUseBytes()
		case "engine":
			heap.engine += record.InUseBytes()
		}
	}
	return heap
}

// ownerOf returns "netpoll", "poller", "engine" or "" for an allocation's
// stack. "poller" is netpoll's per-poller event array, sized by the largest
// burst of ready sockets seen, not by the connections held. Objects from
// gobwas/ws's buffer pools are nobody's: the server returns them at the end
// of each handshake, and the test clients, in the same process, take them
// from the same pools and keep them. Neither is netpoll's race-only
// operator registry.
func ownerOf(stack []uintptr) string {
	frames := runtime.CallersFrames(stack)
	for {
		frame, more := frames.Next()
		switch {
		case strings.HasSuffix(frame.File, "_test.go"), strings.Contains(frame.Function, "/enginetest."),
			strings.HasPrefix(frame.Function, "github.com/gobwas/ws/internal/pool."),
			// Race builds only: netpoll keeps its operators in a sync.Map
			// (poll_default_linux_race.go) where release builds put the
			// pointer in epoll's event data.
			strings.HasPrefix(frame.Function, "github.com/cloudwego/netpoll.(*defaultPoll).setOperator"):
			return ""
		case strings.HasPrefix(frame.Function, "github.com/cloudwego/netpoll.(*pollArgs)."):
			return "poller"
		case strings.HasPrefix(frame.Function, "github.com/cloudwego/netpoll."):
			return "netpoll"
		case strings.HasPrefix(frame.Function, "github.com/protrader5/ws-gateway/engine."):
			return "engine"
		}
		if !more {
			return ""
		}
	}
}

func writeHeapProfile(t *testing.T, path string) {
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if err := pprof.Lookup("heap").WriteTo(file, 0); err != nil {
		t.Fatal(err)
	}
}
