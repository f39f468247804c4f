package engine

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countingSink takes every byte at once and only counts, so that the
// benchmark measures the engine, not a socket.
type countingSink struct {
	bytes atomic.Int64
}

func (s *countingSink) writeNow(buffers [][]byte, _ []syscall.Iovec) (int, error) {
	n := 0
	for _, buffer := range buffers {
		n += len(buffer)
	}
	s.bytes.Add(int64(n))
	return n, nil
}

func (s *countingSink) writeWait(buffers [][]byte) error {
	_, err := s.writeNow(buffers, nil)
	return err
}

func (s *countingSink) close() {}

// BenchmarkFanout measures one tick fanned out to its subscribers over
// in-memory sinks: marking, collecting from the ring and the write call,
// without the syscall. Each connection follows 5 of the symbols.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{1000, 10000} {
		for _, symbols := range []int{1, 100} {
			b.Run(fmt.Sprintf("subs=%d/symbols=%d", subs, symbols), func(b *testing.B) {
				e := newTestEngine(b, Config{Shards: 1})
				perConn := min(5, symbols)
				names := make([]string, symbols)
				for i := range names {
					names[i] = fmt.Sprintf("S%03d", i)
				}
				for i := 0; i < subs; i++ {
					c := attachTestConn(b, e, fmt.Sprintf("user%d", i), &countingSink{})
					mine := make([]string, perConn)
					for j := range mine {
						mine[j] = names[(i+j)%symbols]
					}
					subscribe(b, e, c, mine...)
				}
				rings := make([]*symbolRing, symbols)
				for i, name := range names {
					rings[i] = e.ring(name, false)
				}
				payload := tick("S000", 1)
				s := e.shards[0]
				events := make([]shardEvent, 1)
				deliveriesBefore := e.Stats().Deliveries
				cpuBefore := processCPU()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					ring := rings[i%symbols]
					ring.push(newEventFrame("market:data", payload), false)
					events[0] = shardEvent{ring: ring}
					s.deliver(events)
				}
				b.StopTimer()
				cpu := processCPU() - cpuBefore
				deliveries := float64(e.Stats().Deliveries - deliveriesBefore)
				// CPU time, unlike wall time, does not count the time the
				// process waited for a core: on a shared machine it is the
				// steadier figure.
				b.ReportMetric(float64(cpu)/deliveries, "cpu-ns/delivery")
				b.ReportMetric(deliveries/float64(b.N), "deliveries/op")
				b.ReportMetric(b.Elapsed().Seconds()*1e9/deliveries, "ns/delivery")
				b.ReportMetric(deliveries/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// BenchmarkBuildFrame measures turning a tick into its shared frame.
func BenchmarkBuildFrame(b *testing.B) {
	payload := []byte(`{"symbol":"BTCUSD","price":50123.45,"volume":1234567.89,"high24h":51000,"low24h":49000,"change24h":123.45,"changePercent24h":0.25,"timestamp":1764057600000}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		newEventFrame("market:data", payload)
	}
}
