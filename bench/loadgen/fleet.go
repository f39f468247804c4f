package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// latencyShards spreads the recording of deliveries over several histograms
// and counters so that thousands of reader goroutines do not all hit one
// cache line.
const latencyShards = 16

type latencyShard struct {
	ticks            Histogram
	throttledTicks   Histogram // ticks of throttled clients, apart from ticks
	throttledWindow  atomic.Uint64
	received         atomic.Uint64
	advanced         atomic.Uint64 // see fleet.advanced
	windowDeliveries atomic.Uint64
	_                [64]byte
}

// fleetResult is what one process's clients measured. Children send it to
// the parent as JSON; merge is exact (histograms included).
type fleetResult struct {
	Clients           int            `json:"clients"`
	Stalled           int            `json:"stalled"`
	Connected         int            `json:"connected"`
	ConnectedByTarget map[string]int `json:"connected_by_target,omitempty"`
	Failed            int            `json:"failed"`
	FailReasons       map[string]int `json:"fail_reasons"`
	ConnectTime       *Histogram     `json:"connect_time"`
	Disconnected      int            `json:"disconnected"` // reading clients the server closed early
	Ticks             sequenceStats  `json:"ticks"`
	ForeignMessages   uint64         `json:"foreign_messages"` // from another run or unparsable
	WindowDeliveries  uint64         `json:"window_deliveries"`
	TickLatency       *Histogram     `json:"tick_latency"`
	Orders            orderStats     `json:"orders"`
	OrderLatency      *Histogram     `json:"order_latency"`
	ClientRatioMin    float64        `json:"client_ratio_min"`   // lowest per-client in-order/expected
	ClientsIncomplete int            `json:"clients_incomplete"` // reading clients below ratio 1
	Reconnects        reconnectStats `json:"reconnects"`
	// TickSeconds, in storm runs: the tick latency of the clients on the
	// surviving targets, by second of the window (by sentAt).
	TickSeconds []*Histogram `json:"tick_seconds,omitempty"`

	// Throttled clients' ticks are in ThrottledDeliveries and
	// ThrottledLatency (and WindowDeliveries), not in Ticks or TickLatency.
	Throttled           int        `json:"throttled,omitempty"`
	ThrottledDeliveries uint64     `json:"throttled_deliveries,omitempty"`
	ThrottledLatency    *Histogram `json:"throttled_latency,omitempty"`
}

func (r *fleetResult) merge(other *fleetResult) {
	if r.FailReasons == nil {
		r.FailReasons = map[string]int{}
	}
	for _, target := range []**Histogram{&r.ConnectTime, &r.TickLatency, &r.OrderLatency, &r.ThrottledLatency} {
		if *target == nil {
			*target = &Histogram{}
		}
	}
	hadClients := r.Connected-r.Stalled > 0
	r.Clients += other.Clients
	r.Stalled += other.Stalled
	r.Throttled += other.Throttled
	r.ThrottledDeliveries += other.ThrottledDeliveries
	r.ThrottledLatency.Merge(other.ThrottledLatency)
	r.Connected += other.Connected
	if r.ConnectedByTarget == nil {
		r.ConnectedByTarget = map[string]int{}
	}
	for target, count := range other.ConnectedByTarget {
		r.ConnectedByTarget[target] += count
	}
	r.Failed += other.Failed
	for reason, count := range other.FailReasons {
		r.FailReasons[reason] += count
	}
	r.ConnectTime.Merge(other.ConnectTime)
	r.Disconnected += other.Disconnected
	r.Ticks.add(other.Ticks)
	r.ForeignMessages += other.ForeignMessages
	r.WindowDeliveries += other.WindowDeliveries
	r.TickLatency.Merge(other.TickLatency)
	r.Orders.add(other.Orders)
	r.OrderLatency.Merge(other.OrderLatency)
	if !hadClients || other.ClientRatioMin < r.ClientRatioMin {
		r.ClientRatioMin = other.ClientRatioMin
	}
	r.ClientsIncomplete += other.ClientsIncomplete
	r.Reconnects.add(other.Reconnects)
	for len(r.TickSeconds) < len(other.TickSeconds) {
		r.TickSeconds = append(r.TickSeconds, &Histogram{})
	}
	for second, histogram := range other.TickSeconds {
		r.TickSeconds[second].Merge(histogram)
	}
}

// publication is what the feeder published, sent to every fleet at the end.
type publication struct {
	TickSeq []uint32 `json:"tick_seq"` // highest seq per symbol index
	Orders  uint64   `json:"orders"`   // order indices 0..Orders-1
}

// fleet runs this process's clients.
type fleet struct {
	config *config
	minter *tokenMinter

	clients      []*client
	shards       []latencyShard
	orderLatency Histogram
	connectTime  Histogram
	orders       *orderChecker
	foreign      atomic.Uint64
	connected    atomic.Int64
	windowStart  atomic.Int64 // unix ns; deliveries sent in [start,end) are measured
	windowEnd    atomic.Int64
	shuttingDown atomic.Bool
	closing      chan struct{} // closed by close, wakes clients waiting to reconnect
	closeOnce    sync.Once
	readers      sync.WaitGroup
	// tickSeconds, in storm runs: see fleetResult.TickSeconds.
	tickSeconds []Histogram
	downtime    Histogram

	mu          sync.Mutex
	failReasons map[string]int // guarded by mu
	reconnects  reconnectStats // guarded by mu; Downtime is the downtime field
}

func newFleet(c *config) *fleet {
	f := &fleet{
		config:      c,
		minter:      newTokenMinter(c.JWTSecret, 2*time.Hour),
		shards:      make([]latencyShard, latencyShards),
		orders:      newOrderChecker(c.orderUsers()),
		failReasons: map[string]int{},
		closing:     make(chan struct{}),
	}
	f.windowStart.Store(math.MaxInt64)
	if c.KillAfter > 0 {
		f.tickSeconds = make([]Histogram, stormWindowSeconds(c))
	}
	for index := c.FirstClient; index < c.FirstClient+c.ClientCount; index++ {
		symbols := c.symbolsOf(index)
		f.clients = append(f.clients, &client{
			index:     index,
			target:    c.targetOf(index),
			symbols:   symbols,
			orders:    c.ordersOf(index),
			stalled:   c.isStalled(index),
			msgpack:   c.usesMsgpack(index),
			sequences: newSequenceChecker(len(symbols)),
			lastOrder: -1,
		})
		f.clients[len(f.clients)-1].throttleMs = c.throttleOf(index)
	}
	return f
}

// received returns how many deliveries this process's clients have taken.
func (f *fleet) received() uint64 {
	var total uint64
	for index := range f.shards {
		total += f.shards[index].received.Load()
	}
	return total
}

// advanced returns how much of what is expected (fleet.expected) has come:
// each order's first copy to its user, and each tick that moved its
// symbol's sequence on, with the ticks it skipped. Unlike received, no
// duplicate counts (a recovered client gets the latest tick of each of its
// symbols again), so that finish does not stop waiting too early.
func (f *fleet) advanced() uint64 {
	var total uint64
	for index := range f.shards {
		total += f.shards[index].advanced.Load()
	}
	return total
}

// connect opens every client at the configured ramp rate and returns once
// each is subscribed or has failed.
func (f *fleet) connect() {
	var ready sync.WaitGroup
	start := time.Now()
	for position, c := range f.clients {
		due := start.Add(time.Duration(float64(position) / f.config.RampPerSecond * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		ready.Add(1)
		f.readers.Add(1)
		go f.runClient(c, &ready)
	}
	ready.Wait()
}

func (f *fleet) runClient(c *client, ready *sync.WaitGroup) {
	defer f.readers.Done()
	handle := func(message inboundMessage) { f.handle(c, message) }
	connectTime, _, err := c.setup(f.config, c.target, f.minter.mint(userID(c.index)), handle)
	if err != nil {
		reason := "other"
		var setup *setupError
		if errors.As(err, &setup) {
			reason = setup.reason
		}
		f.mu.Lock()
		first := f.failReasons[reason] == 0
		f.failReasons[reason]++
		f.mu.Unlock()
		if first {
			fmt.Fprintf(os.Stderr, "loadgen: client %d: %v\n", c.index, err)
		}
		c.closeConn(false)
		ready.Done()
		return
	}
	f.connectTime.Record(int64(connectTime))
	c.connected = true
	f.connected.Add(1)
	ready.Done()
	if c.stalled {
		// Keep the socket open and never read again: the server's buffers
		// toward this client fill up, which is the point.
		return
	}
	for {
		c.readLoop(handle)
		if f.shuttingDown.Load() {
			return
		}
		c.closed = true
		if !f.config.Reconnect || !f.reconnect(c, handle) {
			return
		}
	}
}

func (f *fleet) handle(c *client, message inboundMessage) {
	if message.offset != nil {
		// What the stock client keeps as its last offset.
		c.offset = string(message.offset)
	}
	switch string(message.event) {
	case "market:data":
		f.handleTick(c, message.body)
	case "order:update":
		f.handleOrder(c, message.body)
	}
}

func (f *fleet) handleTick(c *client, body []byte) {
	run, ok := jsonIntField(body, "run")
	if !ok || run != f.config.RunID {
		f.foreign.Add(1)
		return
	}
	symbol, ok := jsonStringField(body, "symbol")
	seq, seqOK := jsonIntField(body, "seq")
	sentAt, sentOK := jsonIntField(body, "sentAt")
	if !ok || !seqOK || !sentOK || seq < 1 || seq > math.MaxUint32 || !bytes.HasPrefix(symbol, []byte(f.config.SymbolPrefix)) {
		f.foreign.Add(1)
		return
	}
	symbolIndex, err := strconv.Atoi(string(symbol[len(f.config.SymbolPrefix):]))
	slot := -1
	for candidate, subscribed := range c.symbols {
		if subscribed == symbolIndex {
			slot = candidate
			break
		}
	}
	if err != nil || slot < 0 {
		// A symbol this client never asked for is a misroute; count it
		// with the foreign messages so a ratio of 1 stays honest.
		f.foreign.Add(1)
		return
	}
	if c.throttleMs > 0 {
		shard := &f.shards[c.index%latencyShards]
		if _, measured := f.record(c, sentAt, &shard.throttledTicks); measured {
			shard.throttledWindow.Add(1)
		}
		return
	}
	f.shards[c.index%latencyShards].advanced.Add(c.sequences.observe(slot, uint32(seq)))
	latency, measured := f.record(c, sentAt, &f.shards[c.index%latencyShards].ticks)
	if measured && f.tickSeconds != nil && f.config.survivor(c.index) {
		second := (sentAt - f.windowStart.Load()) / int64(time.Second)
		if second < int64(len(f.tickSeconds)) {
			f.tickSeconds[second].Record(latency)
		}
	}
}

func (f *fleet) handleOrder(c *client, body []byte) {
	run, ok := jsonIntField(body, "run")
	index, indexOK := jsonIntField(body, "seq")
	sentAt, sentOK := jsonIntField(body, "sentAt")
	if !ok || run != f.config.RunID || !indexOK || !sentOK || index < 0 {
		f.foreign.Add(1)
		return
	}
	if f.orders.observe(uint64(index), c.index, c.lastOrder) {
		f.shards[c.index%latencyShards].advanced.Add(1)
	}
	c.lastOrder = index
	f.record(c, sentAt, &f.orderLatency)
}

// record counts one delivery and, when it was sent in the window, records
// its latency in histogram and returns it.
func (f *fleet) record(c *client, sentAt int64, histogram *Histogram) (latency int64, measured bool) {
	shard := &f.shards[c.index%latencyShards]
	shard.received.Add(1)
	if sentAt >= f.windowStart.Load() && sentAt < f.windowEnd.Load() {
		latency = time.Now().UnixNano() - sentAt
		histogram.Record(latency)
		shard.windowDeliveries.Add(1)
		return latency, true
	}
	return 0, false
}

// setWindow sets the measurement window, in unix nanoseconds of sentAt.
func (f *fleet) setWindow(start, end int64) {
	f.windowEnd.Store(end)
	f.windowStart.Store(start)
}

// checkedClient tells whether a client's deliveries are accounted: it holds
// a subscribed connection and keeps reading.
// Throttled clients get a tick per interval, not every tick.
func (c *client) checked() bool { return c.connected && !c.stalled && c.throttleMs == 0 }

// expected returns how many deliveries this process's reading clients should
// get for what was published.
func (f *fleet) expected(published *publication) uint64 {
	var total uint64
	for _, c := range f.clients {
		if !c.checked() {
			continue
		}
		for _, symbol := range c.symbols {
			if symbol < len(published.TickSeq) {
				total += uint64(published.TickSeq[symbol])
			}
		}
	}
	if published.Orders > 0 {
		checked := f.checkedUsers()
		for index := uint64(0); index < published.Orders; index++ {
			if checked(orderTarget(index, f.orders.users)) {
				total++
			}
		}
	}
	return total
}

func (f *fleet) checkedUsers() func(user int) bool {
	return func(user int) bool {
		position := user - f.config.FirstClient
		return position >= 0 && position < len(f.clients) && f.clients[position].checked()
	}
}

// finish waits (at most Drain) for the deliveries still in flight, closes
// every connection and returns the books.
func (f *fleet) finish(published *publication) *fleetResult {
	expected := f.expected(published)
	deadline := time.Now().Add(f.config.Drain)
	for f.advanced() < expected && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	f.close()
	f.readers.Wait()

	result := &fleetResult{
		Clients:         len(f.clients),
		FailReasons:     map[string]int{},
		ConnectTime:     &f.connectTime,
		TickLatency:     &Histogram{},
		OrderLatency:    &f.orderLatency,
		ForeignMessages: f.foreign.Load(),
		ClientRatioMin:  1,
	}
	result.ConnectedByTarget = map[string]int{}
	result.ThrottledLatency = &Histogram{}
	f.mu.Lock()
	for reason, count := range f.failReasons {
		result.FailReasons[reason] = count
		result.Failed += count
	}
	result.Reconnects = f.reconnects
	f.mu.Unlock()
	result.Reconnects.Downtime = &f.downtime
	for second := range f.tickSeconds {
		result.TickSeconds = append(result.TickSeconds, &f.tickSeconds[second])
	}
	for index := range f.shards {
		result.TickLatency.Merge(&f.shards[index].ticks)
		result.WindowDeliveries += f.shards[index].windowDeliveries.Load()
		result.ThrottledLatency.Merge(&f.shards[index].throttledTicks)
		result.ThrottledDeliveries += f.shards[index].throttledWindow.Load()
	}
	for _, c := range f.clients {
		if c.stalled {
			result.Stalled++
		}
		if !c.connected {
			continue
		}
		result.Connected++
		result.ConnectedByTarget[c.target]++
		if c.throttleMs > 0 {
			result.Throttled++
		}
		if c.stalled || c.throttleMs > 0 {
			continue
		}
		if c.closed {
			result.Disconnected++
		}
		if c.recovery.away {
			result.Reconnects.NeverBack++
		}
		highest := make([]uint32, len(c.symbols))
		for slot, symbol := range c.symbols {
			if symbol < len(published.TickSeq) {
				highest[slot] = published.TickSeq[symbol]
			}
		}
		stats := c.sequences.finish(highest)
		result.Ticks.add(stats)
		if stats.Expected > 0 {
			ratio := float64(stats.InOrder) / float64(stats.Expected)
			result.ClientRatioMin = min(result.ClientRatioMin, ratio)
			if stats.InOrder < stats.Expected {
				result.ClientsIncomplete++
			}
		}
	}
	result.Orders = f.orders.finish(published.Orders, f.checkedUsers())
	return result
}

// close ends every connection and stops every reconnection; safe to call
// more than once.
func (f *fleet) close() {
	f.shuttingDown.Store(true)
	f.closeOnce.Do(func() { close(f.closing) })
	for _, c := range f.clients {
		c.closeConn(true)
	}
}
