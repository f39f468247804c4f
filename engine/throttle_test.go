package engine

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// manualEngine returns an engine with one shard whose worker does not run:
// the test delivers bursts and ends throttle windows itself, with a clock
// of its own.
func manualEngine(t testing.TB, config Config) (*Engine, *shard) {
	t.Helper()
	config.Shards = 1
	e := newTestEngine(t, config)
	s := newShard(e, 0)
	e.shards = []*shard{s}
	return e, s
}

func subscribeThrottled(t testing.TB, e *Engine, c *clientConn, throttle uint16, symbols ...string) {
	t.Helper()
	if _, _, failure := e.subscribeMarketThrottled(c, symbols, throttle); failure != nil {
		t.Fatalf("subscribe %v throttled %d: %s", symbols, throttle, failure.code)
	}
}

// publish pushes ticks from..to of symbol into its ring and delivers them
// to the unthrottled subscribers, as one burst of the shard's worker.
func publish(s *shard, ring *symbolRing, from, to int) {
	for seq := from; seq <= to; seq++ {
		ring.push(newEventFrame("market:data", tick(ring.name, seq)), false)
	}
	s.deliver([]shardEvent{{ring: ring}})
}

func TestThrottledSubscriptionGetsTheNewestTickAtEachWindowEnd(t *testing.T) {
	e, s := manualEngine(t, Config{})
	ring := e.ring("AAA", true)
	publish(s, ring, 1, 1)
	throttledSink, everySink := newMemorySink(true), newMemorySink(true)
	throttled := attachTestConn(t, e, "dashboard", throttledSink)
	every := attachTestConn(t, e, "screen", everySink)
	subscribeThrottled(t, e, throttled, 200, "AAA")
	subscribe(t, e, every, "AAA")
	throttled.flush() // as the answer to the event does
	every.flush()
	seqs := func(sink *memorySink) string { return fmt.Sprint(tickSeqs(sink.snapshot(), "AAA")) }
	if got := seqs(throttledSink); got != "[1]" {
		t.Fatalf("after subscribing, the throttled socket got %s; want the newest tick at once, [1]", got)
	}
	due := s.throttleDue.Load()
	if due == 0 || due%int64(200*time.Millisecond) != 0 {
		t.Fatalf("first window ends at %d; want a multiple of 200ms", due)
	}

	publish(s, ring, 2, 5)
	throttled.flush() // a flush for any other reason sends no throttled tick
	s.releaseThrottled(due - 1)
	if got := seqs(throttledSink); got != "[1]" {
		t.Fatalf("before the window ended the throttled socket got %s; want [1]", got)
	}
	if next := s.releaseThrottled(due); next != due+int64(200*time.Millisecond) {
		t.Fatalf("next window ends at %d; want %d", next, due+int64(200*time.Millisecond))
	}
	if got := seqs(throttledSink); got != "[1 5]" {
		t.Fatalf("at the window's end the throttled socket got %s; want [1 5]", got)
	}
	due += int64(200 * time.Millisecond)
	s.releaseThrottled(due) // a window with no tick sends nothing
	publish(s, ring, 6, 7)
	due += int64(200 * time.Millisecond)
	s.releaseThrottled(due + int64(50*time.Millisecond)) // late: still one tick, the newest
	if got := seqs(throttledSink); got != "[1 5 7]" {
		t.Fatalf("throttled socket got %s; want [1 5 7]", got)
	}
	if got := seqs(everySink); got != "[1 2 3 4 5 6 7]" {
		t.Fatalf("unthrottled socket got %s; want every tick", got)
	}
	if next := s.throttleDue.Load(); next != due+int64(200*time.Millisecond) {
		t.Fatalf("a late window end moved the next one to %d; want %d", next, due+int64(200*time.Millisecond))
	}

	// Unthrottled again: only the newest of what it has not had, then every tick.
	publish(s, ring, 8, 9)
	subscribe(t, e, throttled, "AAA")
	throttled.flush()
	publish(s, ring, 10, 10)
	if got := seqs(throttledSink); got != "[1 5 7 9 10]" {
		t.Fatalf("after dropping the throttle the socket got %s; want [1 5 7 9 10]", got)
	}
	if got := e.Stats().ThrottledSubscriptions; got != 0 {
		t.Fatalf("throttled subscriptions = %d; want 0", got)
	}
	// Throttled again, to a longer interval.
	subscribeThrottled(t, e, throttled, 1000, "AAA")
	throttled.flush()
	publish(s, ring, 11, 12)
	s.mu.Lock()
	due = s.buckets[1000].due
	s.mu.Unlock()
	if due%int64(time.Second) != 0 {
		t.Fatalf("window of the new interval ends at %d; want a multiple of 1s", due)
	}
	s.releaseThrottled(due - 1)
	if got := seqs(throttledSink); got != "[1 5 7 9 10]" {
		t.Fatalf("before the new window ended the socket got %s", got)
	}
	s.releaseThrottled(due)
	if got := seqs(throttledSink); got != "[1 5 7 9 10 12]" {
		t.Fatalf("with the new interval the socket got %s; want [1 5 7 9 10 12]", got)
	}
	if conflated := e.Stats().Conflated; conflated != 0 {
		t.Fatalf("conflated = %d: throttling is not conflation", conflated)
	}
}

func TestThrottledSymbolWithoutATickYet(t *testing.T) {
	e, s := manualEngine(t, Config{})
	sink := newMemorySink(true)
	c := attachTestConn(t, e, "u", sink)
	subscribeThrottled(t, e, c, 100, "NEW")
	c.flush()
	ring := e.ring("NEW", false)
	publish(s, ring, 1, 3)
	s.releaseThrottled(s.throttleDue.Load())
	if got := fmt.Sprint(tickSeqs(sink.snapshot(), "NEW")); got != "[3]" {
		t.Fatalf("got %s; want the newest tick at the first window's end, [3]", got)
	}
}

// checkThrottleIndex verifies that every subscription's slot names its
// entry in the shard's index, and that the counters agree with it.
func checkThrottleIndex(t *testing.T, s *shard, conns []*clientConn) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	members := 0
	for throttle, bucket := range s.buckets {
		if len(bucket.members) == 0 {
			t.Fatalf("bucket %d is empty but kept", throttle)
		}
		members += len(bucket.members)
	}
	if int64(members) != s.throttled.Load() {
		t.Fatalf("buckets hold %d members; counter says %d", members, s.throttled.Load())
	}
	for _, c := range conns {
		// The worker's flushes write lastSeq and due under c.mu.
		c.mu.Lock()
		defer c.mu.Unlock()
		throttled := 0
		for _, sub := range c.subs {
			if sub.throttle != 0 {
				throttled++
			}
		}
		if int(c.throttled) != throttled {
			t.Fatalf("%p counts %d throttled subscriptions; has %d", c, c.throttled, throttled)
		}
		for _, sub := range c.subs {
			if sub.throttle == 0 {
				if list := s.subscribers[sub.ring]; int(sub.slot) >= len(list) || list[sub.slot] != c {
					t.Fatalf("unthrottled %s of %p: slot %d wrong", sub.ring.name, c, sub.slot)
				}
				continue
			}
			bucket := s.buckets[sub.throttle]
			if bucket == nil || int(sub.slot) >= len(bucket.members) {
				t.Fatalf("throttled %s of %p: no bucket entry at %d", sub.ring.name, c, sub.slot)
			}
			if member := bucket.members[sub.slot]; member.conn != c || member.ring != sub.ring {
				t.Fatalf("throttled %s of %p: slot %d holds another subscription", sub.ring.name, c, sub.slot)
			}
		}
	}
}

func TestThrottleBucketsAndTimersReturnToZero(t *testing.T) {
	e := newTestEngine(t, Config{Shards: 2})
	random := rand.New(rand.NewPCG(1, 2))
	symbols := []string{"AAA", "BBB", "CCC", "DDD"}
	throttles := []uint16{0, 50, 100, 250}
	conns := make([]*clientConn, 40)
	for i := range conns {
		conns[i] = attachTestConn(t, e, fmt.Sprintf("user%d", i), newMemorySink(false))
	}
	for step := 0; step < 2000; step++ {
		c := conns[random.IntN(len(conns))]
		symbol := symbols[random.IntN(len(symbols))]
		switch random.IntN(4) {
		case 0:
			e.unsubscribeMarket(c, []string{symbol})
		case 1:
			e.PublishTick(symbol, tick(symbol, step))
		default:
			// Two symbols, as one event names them: distinct.
			other := symbols[(slices.Index(symbols, symbol)+1+random.IntN(len(symbols)-1))%len(symbols)]
			subscribeThrottled(t, e, c, throttles[random.IntN(len(throttles))], symbol, other)
		}
	}
	for _, s := range e.shards {
		var mine []*clientConn
		for _, c := range conns {
			if c.shard == s {
				mine = append(mine, c)
			}
		}
		checkThrottleIndex(t, s, mine)
	}
	if e.Stats().ThrottledSubscriptions == 0 {
		t.Fatal("no throttled subscription to let go of")
	}
	waitFor(t, "the throttle timers to run", func() bool { return e.Stats().ThrottleTimers > 0 })
	if timers := e.Stats().ThrottleTimers; timers > len(e.shards) {
		t.Fatalf("%d throttle timers for %d shards; want one per shard at most", timers, len(e.shards))
	}
	for _, c := range conns {
		c.closeWith(reasonClientClosed)
	}
	if stats := e.Stats(); stats.ThrottledSubscriptions != 0 {
		t.Fatalf("throttled subscriptions after every socket closed = %d", stats.ThrottledSubscriptions)
	}
	for _, s := range e.shards {
		s.mu.Lock()
		buckets := len(s.buckets)
		s.mu.Unlock()
		if buckets != 0 {
			t.Fatalf("shard %d keeps %d buckets", s.index, buckets)
		}
	}
	// A timer armed for a bucket that went stops at its next firing.
	waitFor(t, "the throttle timers to stop", func() bool { return e.Stats().ThrottleTimers == 0 })
}

func TestParseThrottle(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		want  uint16
		valid bool
	}{
		{"0", 0, true}, {"-0", 0, true}, {"50", 50, true}, {"200", 200, true}, {"60000", 60000, true},
		{"2e2", 200, true}, {"200.0", 200, true},
		{"-1", 0, false}, {"1", 0, false}, {"49", 0, false}, {"60001", 0, false}, {"65536", 0, false},
		{"1e300", 0, false}, {"200.5", 0, false}, {`"200"`, 0, false}, {"null", 0, false},
		{"true", 0, false}, {"[200]", 0, false}, {"{}", 0, false}, {"", 0, false},
	} {
		got, valid := parseThrottle([]byte(tc.raw))
		if got != tc.want || valid != tc.valid {
			t.Errorf("parseThrottle(%s) = %d, %v; want %d, %v", tc.raw, got, valid, tc.want, tc.valid)
		}
	}
}

func FuzzParseThrottle(f *testing.F) {
	for _, seed := range []string{"0", "50", "200", "60000", "-1", "1.5", `"200"`, "null", "1e2", "9e99", "-0"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		throttle, valid := parseThrottle(raw)
		if !valid {
			if throttle != 0 {
				t.Fatalf("invalid %q gave %d", raw, throttle)
			}
			return
		}
		var number float64
		if err := json.Unmarshal(raw, &number); err != nil {
			t.Fatalf("accepted %q, which is not a JSON number", raw)
		}
		interval := time.Duration(throttle) * time.Millisecond
		if float64(throttle) != number || (throttle != 0 && (interval < MinThrottle || interval > MaxThrottle)) {
			t.Fatalf("accepted %q as %d", raw, throttle)
		}
	})
}

func TestSubscribeMarketThrottleAnswers(t *testing.T) {
	e := startEngine(t, Config{})
	client := dialClient(t, e, nil)
	if got := client.connect(testToken(t, "u1", time.Hour)); !strings.HasPrefix(got, `40{"sid":`) {
		t.Fatalf("CONNECT answer = %s", got)
	}
	invalid := `{"ok":false,"error":{"code":"INVALID_PAYLOAD","message":"throttleMs must be 0 or an integer from 50 to 60000"}}`
	cases := []struct{ payload, want string }{
		{`{"symbols":["a"],"throttleMs":200}`, `{"ok":true,"symbols":["A"],"throttleMs":200}`},
		{`{"symbols":["b"]}`, `{"ok":true,"symbols":["A","B"]}`},
		{`{"symbols":["b"],"throttleMs":0}`, `{"ok":true,"symbols":["A","B"],"throttleMs":0}`},
		{`{"symbols":["a","b"],"throttleMs":60000}`, `{"ok":true,"symbols":["A","B"],"throttleMs":60000}`},
		{`{"symbols":["c"],"throttleMs":-1}`, invalid},
		{`{"symbols":["c"],"throttleMs":1}`, invalid},
		{`{"symbols":["c"],"throttleMs":49}`, invalid},
		{`{"symbols":["c"],"throttleMs":60001}`, invalid},
		{`{"symbols":["c"],"throttleMs":200.5}`, invalid},
		{`{"symbols":["c"],"throttleMs":"200"}`, invalid},
		{`{"symbols":["c"],"throttleMs":null}`, invalid},
		{`{"symbols":["c"],"throttleMs":true}`, invalid},
		{`{"symbols":["c"],"throttleMs":[200]}`, invalid},
	}
	for i, tc := range cases {
		if got := client.emitAck(i+1, "subscribe:market", tc.payload); got != tc.want {
			t.Fatalf("%s: ack = %s; want %s", tc.payload, got, tc.want)
		}
	}
	// A refused value changed nothing; unsubscribing ignores the field.
	if got := e.Stats().ThrottledSubscriptions; got != 2 {
		t.Fatalf("throttled subscriptions = %d; want 2", got)
	}
	if got := client.emitAck(50, "unsubscribe:market", `{"symbols":["a"],"throttleMs":"x"}`); got != `{"ok":true,"symbols":["B"]}` {
		t.Fatalf("unsubscribe ack = %s", got)
	}
	if got := e.Stats().ThrottledSubscriptions; got != 1 {
		t.Fatalf("throttled subscriptions = %d; want 1", got)
	}
}

// throttlesOf returns the throttle of each subscription of the connected
// socket holding pid.
func throttlesOf(e *Engine, pid string) map[string]uint16 {
	e.connsMu.Lock()
	defer e.connsMu.Unlock()
	for c := range e.conns {
		c.mu.Lock()
		if c.connected && c.pid == pid {
			throttles := make(map[string]uint16)
			for _, sub := range c.subs {
				throttles[sub.ring.name] = sub.throttle
			}
			c.mu.Unlock()
			return throttles
		}
		c.mu.Unlock()
	}
	return nil
}

func TestRecoveryRestoresThrottles(t *testing.T) {
	e := startEngine(t, recoveryConfig())
	client := dialClient(t, e, nil)
	_, first := connectWith(t, client, map[string]string{"token": testToken(t, "alice", time.Hour)})
	if ack := client.emitAck(1, "subscribe:market", `{"symbols":["BTCUSD","ETHUSD"],"throttleMs":250}`); ack != `{"ok":true,"symbols":["BTCUSD","ETHUSD"],"throttleMs":250}` {
		t.Fatalf("subscribe:market = %s", ack)
	}
	if ack := client.emitAck(2, "subscribe:market", `{"symbols":["ETHUSD","SOLUSD"]}`); ack != `{"ok":true,"symbols":["BTCUSD","ETHUSD","SOLUSD"]}` {
		t.Fatalf("subscribe:market = %s", ack)
	}
	want := "map[BTCUSD:250 ETHUSD:0 SOLUSD:0]"
	if got := fmt.Sprint(throttlesOf(e, first.PID)); got != want {
		t.Fatalf("throttles = %s; want %s", got, want)
	}
	client.Close()
	waitFor(t, "the socket to close", func() bool { return e.Stats().Sockets == 0 })
	if got := e.Stats().ThrottledSubscriptions; got != 0 {
		t.Fatalf("throttled subscriptions of a closed socket = %d", got)
	}
	again := dialClient(t, e, nil)
	if _, answer := connectWith(t, again, map[string]string{"token": testToken(t, "alice", time.Hour), "pid": first.PID}); answer != first {
		t.Fatalf("recovered as %+v; want %+v", answer, first)
	}
	if got := fmt.Sprint(throttlesOf(e, first.PID)); got != want {
		t.Fatalf("throttles after recovery = %s; want %s", got, want)
	}
	if got := e.Stats().ThrottledSubscriptions; got != 1 {
		t.Fatalf("throttled subscriptions after recovery = %d; want 1", got)
	}
}

func TestSessionsWithoutThrottlesStillRestore(t *testing.T) {
	var session Session
	// As saved before throttles existed.
	if err := json.Unmarshal([]byte(`{"pid":"p","sid":"s","userId":"u","symbols":["AAA","BBB"],"start":"x"}`), &session); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(symbolsByThrottle(session)); got != "map[0:[AAA BBB]]" {
		t.Fatalf("groups = %s", got)
	}
	session.Throttles = map[string]uint16{"BBB": 500, "AAA": 7} // 7: out of range, every tick
	if got := fmt.Sprint(symbolsByThrottle(session)); got != "map[0:[AAA] 500:[BBB]]" {
		t.Fatalf("groups = %s", got)
	}
	data, _ := json.Marshal(Session{PID: "p", Symbols: []string{"AAA"}})
	if strings.Contains(string(data), "throttles") {
		t.Fatalf("a session with no throttle is saved as %s; want it as before", data)
	}
}

// TestThrottledMsgpackSocketGetsMsgpackFrames subscribes a msgpack socket
// to one throttled and one unthrottled symbol: both kinds of tick reach it
// as msgpack packets, never as JSON text.
func TestThrottledMsgpackSocketGetsMsgpackFrames(t *testing.T) {
	e, s := manualEngine(t, Config{})
	throttledRing, everyRing := e.ring("AAA", true), e.ring("BBB", true)
	sink := &frameSink{}
	c := attachParserConn(t, e, "dashboard", parserMsgpack, sink)
	subscribeThrottled(t, e, c, 200, "AAA")
	subscribe(t, e, c, "BBB")
	publish(s, throttledRing, 1, 3)
	publish(s, everyRing, 1, 2)
	s.releaseThrottled(s.throttleDue.Load())
	var got []string
	for _, frame := range sink.frames {
		packet := decodeMsgpackFrame(t, frame)
		data, _ := packet["data"].([]any)
		if len(data) != 2 || data[0] != "market:data" {
			t.Fatalf("packet %s is not market:data", asJSON(t, packet))
		}
		tick, _ := data[1].(map[string]any)
		got = append(got, fmt.Sprint(tick["symbol"], " ", tick["seq"]))
	}
	slices.Sort(got)
	if want := []string{"AAA 3", "BBB 1", "BBB 2"}; !slices.Equal(got, want) {
		t.Fatalf("msgpack socket got %q; want %q", got, want)
	}
}
