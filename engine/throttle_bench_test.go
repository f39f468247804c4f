package engine

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkThrottledHalf publishes rounds of ticks on 100 symbols, one
// round per 50 ms (20 ticks/s per symbol), through the shard workers to
// 5,000 in-memory sockets of one symbol each: all of them unthrottled, or
// half of them (every other row of 100) throttled to 250 ms. It reports the
// process CPU per delivery: throttled sockets should cost in proportion to
// what they are sent, not to what is published. Run with a fixed count,
// e.g. -benchtime 60x.
func BenchmarkThrottledHalf(b *testing.B) {
	for _, half := range []bool{false, true} {
		b.Run(fmt.Sprintf("throttled=%v", half), func(b *testing.B) {
			e := newTestEngine(b, Config{Shards: 2})
			for i := 0; i < 5000; i++ {
				c := attachTestConn(b, e, fmt.Sprintf("user%d", i), &countingSink{})
				var throttle uint16
				if half && (i/100)%2 == 1 {
					throttle = 250
				}
				if _, _, failure := e.subscribeMarketThrottled(c, []string{fmt.Sprintf("S%03d", i%100)}, throttle); failure != nil {
					b.Fatal(failure.code)
				}
			}
			names := make([]string, 100)
			for i := range names {
				names[i] = fmt.Sprintf("S%03d", i)
			}
			payload := tick("S000", 1)
			deliveriesBefore, cpuBefore := e.Stats().Deliveries, processCPU()
			ticker := time.NewTicker(50 * time.Millisecond)
			defer ticker.Stop()
			b.ResetTimer()
			for b.Loop() {
				<-ticker.C
				for _, name := range names {
					e.PublishTick(name, payload)
				}
			}
			e.deliverPending(b.Context())
			b.StopTimer()
			cpu := processCPU() - cpuBefore
			deliveries := float64(e.Stats().Deliveries - deliveriesBefore)
			b.ReportMetric(deliveries/float64(b.N), "deliveries/op")
			b.ReportMetric(float64(cpu)/deliveries, "cpu-ns/delivery")
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
