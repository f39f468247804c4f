package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond for up to five seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func subscribe(t testing.TB, e *Engine, c *clientConn, symbols ...string) {
	t.Helper()
	if _, _, failure := e.subscribeMarket(c, symbols); failure != nil {
		t.Fatalf("subscribe %v: %s", symbols, failure.code)
	}
}

func TestFastReaderGetsEveryTickInOrder(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 2})
	sinks := make([]*memorySink, 10)
	for i := range sinks {
		sinks[i] = newMemorySink(true)
		c := attachTestConn(t, e, fmt.Sprintf("user%d", i), sinks[i])
		subscribe(t, e, c, "AAA", "BBB")
	}
	const ticks = 2000
	for i := 1; i <= ticks; i++ {
		e.PublishTick("AAA", tick("AAA", i))
		e.PublishTick("BBB", tick("BBB", i))
		if i%(ringSize/2) == 0 {
			// Give the workers a moment: a reader that is more than a
			// ring behind is, by definition, not keeping up.
			for _, sink := range sinks {
				waitFor(t, "delivery", func() bool {
					return len(tickSeqs(sink.snapshot(), "AAA")) >= i && len(tickSeqs(sink.snapshot(), "BBB")) >= i
				})
			}
		}
	}
	for i, sink := range sinks {
		for _, symbol := range []string{"AAA", "BBB"} {
			waitFor(t, "all ticks", func() bool { return len(tickSeqs(sink.snapshot(), symbol)) >= ticks })
			seqs := tickSeqs(sink.snapshot(), symbol)
			if len(seqs) != ticks {
				t.Fatalf("sink %d %s got %d ticks; want %d", i, symbol, len(seqs), ticks)
			}
			for j, seq := range seqs {
				if seq != j+1 {
					t.Fatalf("sink %d %s tick %d has seq %d; want %d (order or duplicate)", i, symbol, j, seq, j+1)
				}
			}
		}
	}
	if conflated := e.Stats().Conflated; conflated != 0 {
		t.Fatalf("conflated = %d; want 0 for fast readers", conflated)
	}
}

func TestStalledReaderGetsNewestThenEveryTick(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1})
	sink := newMemorySink(true)
	c := attachTestConn(t, e, "slow", sink)
	subscribe(t, e, c, "AAA", "BBB")
	e.PublishTick("AAA", tick("AAA", 1))
	e.PublishTick("BBB", tick("BBB", 1))
	waitFor(t, "first ticks", func() bool { return len(sink.snapshot()) == 2 })

	sink.setStalled(true)
	for i := 2; i <= 500; i++ {
		e.PublishTick("AAA", tick("AAA", i))
		e.PublishTick("BBB", tick("BBB", i))
	}
	time.Sleep(50 * time.Millisecond) // let the workers reach the stalled socket
	sink.setStalled(false)
	waitFor(t, "newest ticks", func() bool {
		a, b := tickSeqs(sink.snapshot(), "AAA"), tickSeqs(sink.snapshot(), "BBB")
		return len(a) > 0 && a[len(a)-1] == 500 && len(b) > 0 && b[len(b)-1] == 500
	})
	for i := 501; i <= 600; i++ {
		e.PublishTick("AAA", tick("AAA", i))
		e.PublishTick("BBB", tick("BBB", i))
		// Both symbols: each has its own ring, and BBB's tick may follow AAA's.
		waitFor(t, "live tick", func() bool {
			a, b := tickSeqs(sink.snapshot(), "AAA"), tickSeqs(sink.snapshot(), "BBB")
			return a[len(a)-1] == i && b[len(b)-1] == i
		})
	}
	for _, symbol := range []string{"AAA", "BBB"} {
		seqs := tickSeqs(sink.snapshot(), symbol)
		// Strictly increasing: nothing twice, nothing out of order.
		for j := 1; j < len(seqs); j++ {
			if seqs[j] <= seqs[j-1] {
				t.Fatalf("%s: seq %d after %d", symbol, seqs[j], seqs[j-1])
			}
		}
		// At most what was in flight when it stalled plus one ring: conflated.
		if len(seqs) > 2*ringSize+100+1 {
			t.Fatalf("%s: %d ticks delivered; the stall was not conflated", symbol, len(seqs))
		}
		// After the stall, every tick.
		tail := seqs[len(seqs)-101:]
		for j, seq := range tail {
			if seq != 500+j {
				t.Fatalf("%s: after resuming got %v; want 500..600", symbol, tail)
			}
		}
	}
	if e.Stats().Conflated == 0 {
		t.Fatal("conflated counter did not move")
	}
}

func TestUserMessagesKeepOrderAndAreNeverConflated(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 2})
	sinks := []*memorySink{newMemorySink(true), newMemorySink(true)}
	for _, sink := range sinks {
		c := attachTestConn(t, e, "alice", sink)
		e.setStream(c, StreamOrders, true)
	}
	other := newMemorySink(true)
	e.setStream(attachTestConn(t, e, "bob", other), StreamOrders, true)
	sinks[1].setStalled(true)
	const messages = 300
	for i := 1; i <= messages; i++ {
		e.PublishUser(StreamOrders, "alice", []byte(fmt.Sprintf(`{"userId":"alice","n":%d}`, i)))
	}
	time.Sleep(20 * time.Millisecond)
	sinks[1].setStalled(false)
	for _, sink := range sinks {
		waitFor(t, "all orders", func() bool { return len(sink.snapshot()) >= messages })
		for i, payload := range sink.snapshot() {
			want := fmt.Sprintf(`42["order:update",{"userId":"alice","n":%d}]`, i+1)
			if payload != want {
				t.Fatalf("message %d = %s; want %s", i, payload, want)
			}
		}
	}
	if len(other.snapshot()) != 0 {
		t.Fatalf("bob received alice's orders: %v", other.snapshot()[:1])
	}
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1, MaxPendingBytes: 4096})
	slow, fast := newMemorySink(false), newMemorySink(true)
	slowConn := attachTestConn(t, e, "alice", slow)
	e.setStream(slowConn, StreamNotifications, true)
	e.setStream(attachTestConn(t, e, "alice", fast), StreamNotifications, true)
	slow.setStalled(true)
	message := []byte(`{"userId":"alice","text":"` + strings.Repeat("x", 200) + `"}`)
	for i := 0; i < 100; i++ {
		e.PublishUser(StreamNotifications, "alice", message)
	}
	waitFor(t, "slow consumer close", func() bool { return e.Stats().Disconnects["slow_consumer"] == 1 })
	waitFor(t, "fast delivery", func() bool { return len(fast.snapshot()) == 100 })
	slowConn.mu.Lock()
	state := slowConn.state
	slowConn.mu.Unlock()
	if state != stateClosed {
		t.Fatalf("slow conn state = %d; want closed", state)
	}
}

func TestPositionRefreshesConflatePerPosition(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 1})
	sink := newMemorySink(true)
	c := attachTestConn(t, e, "alice", sink)
	e.setStream(c, StreamPositions, true)
	sink.setStalled(true)
	e.PublishUser(StreamPositions, "alice", []byte(`{"positionId":"p1","v":0}`)) // in flight when it stalls
	time.Sleep(20 * time.Millisecond)
	for i := 1; i <= 50; i++ {
		e.PublishPositionRefresh("alice", "p1", []byte(fmt.Sprintf(`{"positionId":"p1","v":%d}`, i)))
		e.PublishPositionRefresh("alice", "p2", []byte(fmt.Sprintf(`{"positionId":"p2","v":%d}`, i)))
	}
	time.Sleep(20 * time.Millisecond)
	sink.setStalled(false)
	want := []string{
		`42["position:update",{"positionId":"p1","v":0}]`,
		`42["position:update",{"positionId":"p1","v":50}]`,
		`42["position:update",{"positionId":"p2","v":50}]`,
	}
	waitFor(t, "refreshes", func() bool { return len(sink.snapshot()) >= len(want) })
	time.Sleep(20 * time.Millisecond)
	if got := sink.snapshot(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v; want %v", got, want)
	}
}

func TestConcurrentSubscribeUnsubscribeDuringFanout(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 2})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 3000; i++ {
			e.PublishTick("AAA", tick("AAA", i))
			e.PublishUser(StreamOrders, fmt.Sprintf("user%d", i%7), []byte(`{"userId":"x"}`))
		}
	}()
	for round := 0; round < 50; round++ {
		var conns []*clientConn
		for i := 0; i < 7; i++ {
			c := attachTestConn(t, e, fmt.Sprintf("user%d", i), newMemorySink(false))
			subscribe(t, e, c, "AAA", "BBB")
			e.setStream(c, StreamOrders, true)
			conns = append(conns, c)
		}
		for i, c := range conns {
			if i%2 == 0 {
				e.unsubscribeMarket(c, []string{"AAA"})
			}
			c.closeWith(reasonClientClosed)
		}
	}
	<-done
	if stats := e.Stats(); stats.Sockets != 0 {
		t.Fatalf("sockets = %d after every conn closed", stats.Sockets)
	}
}
