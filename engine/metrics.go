package engine

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/protrader5/ws-gateway/engine/auth"
)

// metrics are plain atomics read at scrape time by Collector, so that the
// hot path pays one atomic add at most and never allocates.
type metrics struct {
	connections      atomic.Int64 // TCP connections held by the event loop
	accepted         atomic.Uint64
	upgrades         atomic.Uint64
	sockets          atomic.Int64 // Socket.IO sockets joined to "/"
	subscriptions    atomic.Int64
	ticks            atomic.Uint64
	userMessages     [streamCount]atomic.Uint64
	unknownEvents    atomic.Uint64
	protocolErrors   atomic.Uint64
	tokenExpiries    atomic.Uint64
	httpConnections  atomic.Int64  // connections handed to net/http and still open
	replayed         atomic.Uint64 // user messages replayed to recovered sockets
	symbolTableFull  atomic.Uint64
	snapshotsSkipped atomic.Uint64
	disconnects      [closeReasonCount]atomic.Uint64
	pendingBytes     atomic.Int64 // user bytes queued or in flight, all sockets
	writers          atomic.Int64 // writer goroutines (writeSlowly) running

	// msgpackUntranslatable counts server packets left out for msgpack
	// sockets because they could not be translated (msgpack.go).
	msgpackUntranslatable atomic.Uint64

	labelledMu sync.Mutex
	labelled   map[[2]string]*atomic.Uint64 // guarded by labelledMu; {metric, label} -> count
}

// knownLabels are the label values each labelled counter is created with,
// at 0, so that a series exists from start-up: a rate() or an alert over
// it sees its first occurrence as an increase, not as a new series. A label
// value not listed here still gets its series when it first occurs.
var knownLabels = map[string][]string{
	"auth_failures": {string(auth.TokenMissing), string(auth.TokenInvalid), string(auth.TokenExpired)},
	"refusals":      {"INVALID_PAYLOAD", "INVALID_SYMBOL", "NOT_CONNECTED", "RATE_LIMITED", "TOO_MANY_SYMBOLS"},
	"recoveries": {recoveryRecovered, recoveryExpired, recoveryUnknown, recoveryForeignUser,
		recoveryOffsetTrimmed, recoveryDisabled},
	"handshake_refusals": append([]string{refusedMaxConnections, refusedPerIP, refusedRate,
		"bad_upgrade", "header_too_large", "draining", "poll_overlap", "post_overlap"}, engineIORefusalNames[:]...),
}

func newMetrics() *metrics {
	m := &metrics{labelled: make(map[[2]string]*atomic.Uint64)}
	for metric, labels := range knownLabels {
		for _, label := range labels {
			m.labelled[[2]string{metric, label}] = new(atomic.Uint64)
		}
	}
	return m
}

func (m *metrics) closed(reason closeReason) {
	if reason < closeReasonCount {
		m.disconnects[reason].Add(1)
	}
}

// count adds one to a labelled counter. Labels come from small fixed sets
// (auth codes, refusal codes), so the map stays small.
func (m *metrics) count(metric, label string) {
	key := [2]string{metric, label}
	m.labelledMu.Lock()
	counter := m.labelled[key]
	if counter == nil {
		counter = new(atomic.Uint64)
		m.labelled[key] = counter
	}
	m.labelledMu.Unlock()
	counter.Add(1)
}

func (m *metrics) authFailures(code auth.Code) { m.count("auth_failures", string(code)) }
func (m *metrics) refusals(code string)        { m.count("refusals", code) }
func (m *metrics) recoveries(result string)    { m.count("recoveries", result) }
func (m *metrics) handshakeRefusals(reason string) {
	m.count("handshake_refusals", reason)
}

// Collector returns a prometheus.Collector for the engine's metrics.
func (e *Engine) Collector() prometheus.Collector { return engineCollector{e} }

type engineCollector struct{ engine *Engine }

var (
	descConnections      = prometheus.NewDesc("protrader5_connections", "TCP connections held by the event loop.", nil, nil)
	descSockets          = prometheus.NewDesc("protrader5_sockets", "Socket.IO sockets connected to the main namespace.", nil, nil)
	descSubscriptions    = prometheus.NewDesc("protrader5_subscriptions", "Market symbol subscriptions.", nil, nil)
	descThrottled        = prometheus.NewDesc("protrader5_throttled_subscriptions", "Market symbol subscriptions with a throttle (included in protrader5_subscriptions).", nil, nil)
	descSymbols          = prometheus.NewDesc("protrader5_symbols", "Symbols tracked by this node.", nil, nil)
	descAccepted         = prometheus.NewDesc("protrader5_connections_accepted_total", "TCP connections accepted.", nil, nil)
	descUpgrades         = prometheus.NewDesc("protrader5_websocket_upgrades_total", "WebSocket handshakes completed.", nil, nil)
	descDeliveries       = prometheus.NewDesc("protrader5_deliveries_total", "Frames handed to client sockets.", nil, nil)
	descConflated        = prometheus.NewDesc("protrader5_conflated_ticks_total", "Ticks skipped for a lagging client because a newer tick of the symbol replaced them.", nil, nil)
	descTicks            = prometheus.NewDesc("protrader5_ticks_total", "Market ticks published into the engine.", nil, nil)
	descUserMessages     = prometheus.NewDesc("protrader5_user_messages_total", "User messages published into the engine.", []string{"stream"}, nil)
	descDisconnects      = prometheus.NewDesc("protrader5_disconnects_total", "Connections ended, by reason (slow_consumer, write_timeout, ping_timeout, ...).", []string{"reason"}, nil)
	descUnknownEvents    = prometheus.NewDesc("protrader5_unknown_events_total", "Client events ignored because their name is unknown.", nil, nil)
	descProtocol         = prometheus.NewDesc("protrader5_protocol_errors_total", "Malformed Socket.IO packets received.", nil, nil)
	descMsgpackDropped   = prometheus.NewDesc("protrader5_msgpack_untranslatable_total", "Server packets left out for msgpack clients because they could not be translated.", nil, nil)
	descTokenExpiries    = prometheus.NewDesc("protrader5_token_expiries_total", "Sockets disconnected because their token expired.", nil, nil)
	descHTTPConns        = prometheus.NewDesc("protrader5_http_connections", "Plain HTTP connections (probes, scrapes, long-polling) held by net/http.", nil, nil)
	descPolling          = prometheus.NewDesc("protrader5_polling_sessions", "Long-polling sessions known by id.", nil, nil)
	descSymbolsFull      = prometheus.NewDesc("protrader5_symbol_table_full_total", "Ticks and subscriptions refused because the node tracks MaxSymbols symbols already.", nil, nil)
	descSnapshotsSkip    = prometheus.NewDesc("protrader5_snapshot_reads_skipped_total", "Latest-tick reads skipped because as many were in flight as allowed.", nil, nil)
	descReplayed         = prometheus.NewDesc("protrader5_replayed_messages_total", "User messages replayed to recovered sockets.", nil, nil)
	descHistory          = prometheus.NewDesc("protrader5_recovery_history_messages", "User messages kept for replay.", nil, nil)
	descHistoryBytes     = prometheus.NewDesc("protrader5_recovery_history_bytes", "Bytes of the user messages kept for replay (bounded by RECOVERY_MAX_BYTES).", nil, nil)
	descLiveSessions     = prometheus.NewDesc("protrader5_recoverable_sessions", "Connected sockets with a recoverable session.", nil, nil)
	descTimerEntries     = prometheus.NewDesc("protrader5_timer_entries", "Entries in the connection timer wheel (one per live connection at most).", nil, nil)
	descStreamDeliveries = prometheus.NewDesc("protrader5_stream_deliveries_total",
		"Message frames handed to client sockets, by stream (market, orders, positions, notifications).", []string{"stream"}, nil)
	descSentBytes    = prometheus.NewDesc("protrader5_sent_bytes_total", "Bytes written to client sockets (WebSocket frames and polling payloads).", nil, nil)
	descPendingBytes = prometheus.NewDesc("protrader5_pending_bytes", "User message bytes queued or being written, over all sockets (each bounded by MAX_PENDING_BYTES).", nil, nil)
	descWriters      = prometheus.NewDesc("protrader5_writers", "Sockets with a writer goroutine now: their send buffer was full and a goroutine waits to finish the write.", nil, nil)
	descUsers        = prometheus.NewDesc("protrader5_users", "Distinct users with at least one socket connected to this node.", nil, nil)
	descTransports   = prometheus.NewDesc("protrader5_transport_sockets",
		"Socket.IO sockets connected, by the transport carrying them now (a polling session that upgraded counts as websocket).", []string{"transport"}, nil)
	descLatency = prometheus.NewDesc("protrader5_delivery_latency_seconds",
		"From a tick or user message's receipt from Redis (or its arrival in the engine) to the first socket write carrying it.", nil, nil)
	descBursts = prometheus.NewDesc("protrader5_fanout_burst_seconds",
		"How long a shard's fanout burst takes, from marking subscribers to the last socket write.", nil, nil)
	descLabelled = map[string]*prometheus.Desc{
		"auth_failures":      prometheus.NewDesc("protrader5_auth_failures_total", "Refused CONNECTs by reason.", []string{"reason"}, nil),
		"refusals":           prometheus.NewDesc("protrader5_event_refusals_total", "Client events refused, by error code.", []string{"code"}, nil),
		"recoveries":         prometheus.NewDesc("protrader5_recoveries_total", "CONNECTs that presented a session to recover, by result (recovered, expired, unknown, foreign_user, offset_trimmed, disabled).", []string{"result"}, nil),
		"handshake_refusals": prometheus.NewDesc("protrader5_handshake_refusals_total", "HTTP/WebSocket handshakes refused, by reason.", []string{"reason"}, nil),
	}
)

func (c engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{descConnections, descSockets, descSubscriptions, descThrottled, descSymbols, descAccepted, descUpgrades,
		descDeliveries, descConflated, descTicks, descUserMessages, descDisconnects, descUnknownEvents, descProtocol, descMsgpackDropped, descTokenExpiries,
		descHTTPConns, descPolling, descTimerEntries, descReplayed, descHistory, descHistoryBytes, descLiveSessions, descSymbolsFull, descSnapshotsSkip,
		descStreamDeliveries, descSentBytes, descPendingBytes, descWriters, descUsers, descTransports, descLatency, descBursts} {
		ch <- desc
	}
	for _, desc := range descLabelled {
		ch <- desc
	}
}

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	e, m := c.engine, c.engine.metrics
	gauge := func(desc *prometheus.Desc, value float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, value, labels...)
	}
	counter := func(desc *prometheus.Desc, value uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(value), labels...)
	}
	gauge(descConnections, float64(m.connections.Load()))
	gauge(descSockets, float64(m.sockets.Load()))
	gauge(descSubscriptions, float64(m.subscriptions.Load()))
	e.symbolsMu.RLock()
	gauge(descSymbols, float64(len(e.symbols)))
	e.symbolsMu.RUnlock()
	counter(descAccepted, m.accepted.Load())
	counter(descUpgrades, m.upgrades.Load())
	var (
		deliveries      [deliveryKinds]uint64
		conflated, sent uint64
		throttled       int64
		latency, bursts histogramSnapshot
		totalDeliveries uint64
		users           int
	)
	for _, s := range e.shards {
		for kind := range s.deliveries {
			deliveries[kind] += s.deliveries[kind].Load()
		}
		conflated += s.conflated.Load()
		sent += s.sentBytes.Load()
		throttled += s.throttled.Load()
		latency.add(&s.latency)
		bursts.add(&s.bursts)
		s.mu.Lock()
		users += len(s.users)
		s.mu.Unlock()
	}
	for kind, count := range deliveries {
		totalDeliveries += count
		if name := deliveryKindNames[kind]; name != "" {
			counter(descStreamDeliveries, count, name)
		}
	}
	counter(descDeliveries, totalDeliveries)
	counter(descConflated, conflated)
	gauge(descThrottled, float64(throttled))
	counter(descSentBytes, sent)
	gauge(descPendingBytes, float64(m.pendingBytes.Load()))
	gauge(descWriters, float64(m.writers.Load()))
	gauge(descUsers, float64(users))
	polling := e.pollingSockets()
	gauge(descTransports, float64(max(m.sockets.Load()-int64(polling), 0)), "websocket")
	gauge(descTransports, float64(polling), "polling")
	ch <- latency.metric(descLatency)
	ch <- bursts.metric(descBursts)
	counter(descTicks, m.ticks.Load())
	for stream := StreamOrders; stream < streamCount; stream++ {
		counter(descUserMessages, m.userMessages[stream].Load(), stream.String())
	}
	for reason := closeReason(0); reason < closeReasonCount; reason++ {
		counter(descDisconnects, m.disconnects[reason].Load(), reason.String())
	}
	counter(descUnknownEvents, m.unknownEvents.Load())
	counter(descProtocol, m.protocolErrors.Load())
	counter(descMsgpackDropped, m.msgpackUntranslatable.Load())
	counter(descTokenExpiries, m.tokenExpiries.Load())
	gauge(descHTTPConns, float64(m.httpConnections.Load()))
	gauge(descPolling, float64(e.pollingSessions()))
	gauge(descTimerEntries, float64(e.wheel.size()))
	counter(descReplayed, m.replayed.Load())
	counter(descSymbolsFull, m.symbolTableFull.Load())
	counter(descSnapshotsSkip, m.snapshotsSkipped.Load())
	historyMessages, historyBytes, liveSessions := 0, 0, 0
	if e.recovery != nil {
		for _, s := range e.shards {
			s.mu.Lock()
			historyMessages += s.history.entries
			historyBytes += s.history.bytes
			s.mu.Unlock()
		}
		liveSessions = e.recovery.liveSessions()
	}
	gauge(descHistory, float64(historyMessages))
	gauge(descHistoryBytes, float64(historyBytes))
	gauge(descLiveSessions, float64(liveSessions))
	m.labelledMu.Lock()
	for key, value := range m.labelled {
		counter(descLabelled[key[0]], value.Load(), key[1])
	}
	m.labelledMu.Unlock()
}

// Stats is a snapshot of the engine's counters, for tests and the load
// generator's in-process runs.
type Stats struct {
	Connections     int64 // connections the engine holds (sockets and polling sessions)
	HTTPConnections int64 // connections handed to net/http and still open
	PollingSessions int   // long-polling sessions known by id
	TimerEntries    int   // entries in the timer wheel
	Sockets         int64
	Deliveries      uint64
	Conflated       uint64
	Disconnects     map[string]uint64
	// ThrottledSubscriptions are the subscriptions in throttle buckets;
	// ThrottleTimers the shards whose throttle timer is running (one
	// each at most, whatever the number of throttled subscriptions).
	ThrottledSubscriptions int64
	ThrottleTimers         int
}

// Stats returns the engine's counters now.
func (e *Engine) Stats() Stats {
	stats := Stats{
		Connections:     e.metrics.connections.Load(),
		HTTPConnections: e.metrics.httpConnections.Load(),
		PollingSessions: e.pollingSessions(),
		TimerEntries:    e.wheel.size(),
		Sockets:         e.metrics.sockets.Load(),
		Disconnects:     make(map[string]uint64),
	}
	for _, s := range e.shards {
		for kind := range s.deliveries {
			stats.Deliveries += s.deliveries[kind].Load()
		}
		stats.Conflated += s.conflated.Load()
		stats.ThrottledSubscriptions += s.throttled.Load()
		if s.timerArmed.Load() {
			stats.ThrottleTimers++
		}
	}
	for reason := closeReason(0); reason < closeReasonCount; reason++ {
		if n := e.metrics.disconnects[reason].Load(); n > 0 {
			stats.Disconnects[reason.String()] = n
		}
	}
	return stats
}
