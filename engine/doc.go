// Package engine is the gateway's server: the netpoll event loop that speaks
// Engine.IO v4 and Socket.IO v5 to stock socket.io-client 4.x clients, and
// the fanout engine that delivers market ticks and per-user messages to them.
//
// # Connections
//
// netpoll accepts every TCP connection and reads its HTTP request head
// (handshake.go). An Engine.IO WebSocket handshake is upgraded in place with
// gobwas/ws and stays on the event loop: no goroutine exists for it while it
// is idle. Every other request (health, readiness, metrics, long-polling,
// Engine.IO errors, Config.Pages) is detached from netpoll and served by net/http
// (http.go, polling.go); a polling session can later upgrade to WebSocket
// (upgrade.go). With TLS the standard library accepts instead (tls.go).
//
// Every connection enters and leaves the engine through lifecycle.go
// (accept, track, handOff, retire): what the engine holds for it is let go
// of in one place. What a connection may send before it authenticates, and
// how much unhandled input any may leave buffered, is in budget.go.
//
// One timer wheel (wheel.go, timers.go) serves every connection's heartbeat,
// connect and handshake timeouts and token expiry. Socket.IO packets are
// handled in socket.go: CONNECT with JWT authentication (package auth), the
// client events and their acks. Clients on socket.io-msgpack-parser are
// told apart by their first packet and get every packet translated, built
// once per message and parser (msgpack.go). An Application (application.go, set with
// WithApplication) may serve sessions instead, at the paths it names: the
// protocol test server in bench/conformance plugs its echo in that way.
//
// # Recovery
//
// With Config.RecoveryWindow, user messages carry offsets (offset.go), each
// shard keeps its users' recent messages (history.go), sessions go to a
// SessionStore (session.go), and a CONNECT that presents its pid and offset
// gets back its socket and what it missed (recovery.go).
//
// # Fanout
//
// Publisher (publish.go) is what package ingest calls. A tick becomes one
// outboundFrame (frame.go): the complete WebSocket frame, built once, whose payload is
// also the polling form. It is pushed into its symbol's ring (ring.go), and
// each shard with subscribers of the symbol is told (fanout.go). A shard's
// worker marks the subscribers and flushes each dirty connection once per
// burst: conn.go collects the queued user frames and every ring frame newer
// than the connection's last one (or only the newest, when it fell more than
// a ring behind: conflation) and writes them with one non-blocking writev.
// Throttled subscriptions (throttle.go) are not among a symbol's
// subscribers: each shard keeps them in one bucket per interval and, at the
// end of each window, marks those with a newer tick and flushes them once.
// A socket whose buffer is full gets a goroutine that waits on netpoll until
// its queue is empty; user data queued past MaxPendingBytes ends the
// connection as a slow consumer. Nothing on this path allocates per
// delivery or takes a lock shared across shards. What it counts
// (latency.go: deliveries, bytes, the delivery latency from each message's
// receive stamp to the first write carrying it) goes to per-shard atomics
// that metrics.go reads at scrape time. LOCKING.md lists the locks and
// their order.
//
// Room emissions (emit.go, the RoomPublisher that package ingest feeds
// from @socket.io/redis-emitter) are framed once too and go through the
// same shard workers, in order with user messages: each shard queues the
// frame to its sockets in the rooms (a user's, a user stream's, a
// symbol's subscribers, or all), each once, minus the except rooms.
package engine
