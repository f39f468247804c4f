package engine

import "time"

// Stream names a per-user stream a socket can subscribe to (docs/protocol.md).
type Stream uint8

const (
	// StreamOrders carries "order:update" events.
	StreamOrders Stream = iota + 1
	// StreamPositions carries "position:update" events.
	StreamPositions
	// StreamNotifications carries "notification" events.
	StreamNotifications
)

// streamCount is one more than the highest Stream, for arrays indexed by Stream.
const streamCount = 4

// EventName returns the Socket.IO event name the stream is delivered as.
func (s Stream) EventName() string {
	switch s {
	case StreamOrders:
		return "order:update"
	case StreamPositions:
		return "position:update"
	case StreamNotifications:
		return "notification"
	}
	return ""
}

// String returns the stream's short name, as used in metrics labels.
func (s Stream) String() string {
	switch s {
	case StreamOrders:
		return "orders"
	case StreamPositions:
		return "positions"
	case StreamNotifications:
		return "notifications"
	}
	return "unknown"
}

// Publisher is what message sources (package ingest) hand ready messages to.
// Every method is safe for concurrent use and never blocks on a client socket.
//
// The byte slices passed in are owned by the engine after the call: the caller
// must not modify them afterwards. They must hold one complete JSON object that
// the caller has already validated; the engine never re-encodes them.
type Publisher interface {
	// PublishTick delivers tick, a JSON object with a "symbol" field equal to
	// symbol, as "market:data" to the subscribers of symbol. Ticks conflate
	// per symbol per connection (docs/delivery.md).
	PublishTick(symbol string, tick []byte)
	// SeedTick records tick as the latest tick of symbol only when this node
	// has none yet (a snapshot read from Redis must never overwrite a live tick).
	SeedTick(symbol string, tick []byte)
	// PublishUser delivers message to userID's sockets subscribed to stream, in
	// publish order per user, never conflated or dropped.
	PublishUser(stream Stream, userID string, message []byte)
	// PublishUserEntry is PublishUser for a message read from a durable
	// stream (Redis Streams) as entry id; the ids of one stream must
	// increase, and one at or below the last is dropped as already
	// delivered. Its recovery offset names the entry, so every node that
	// reads the same streams can replay after it (Config.StreamOffsets).
	PublishUserEntry(stream Stream, userID string, message []byte, id EntryID)
	// HistoryFrom says that from now on the engine sees every message of
	// stream after entry id: where a durable reader starts, or restarts
	// after a gap it could not fill. A zero id means after the next message
	// (Pub/Sub: what was published before a resubscription is lost).
	// Recovery refuses offsets from before it.
	HistoryFrom(stream Stream, id EntryID)
	// PublishPositionRefresh delivers a live P&L "position:update" for one
	// position. Unlike PublishUser, a refresh still waiting in a socket's queue
	// is replaced by a newer refresh of the same position (docs/delivery.md).
	PublishPositionRefresh(userID, positionID string, message []byte)
	// Subscribed reports whether any socket on this node is subscribed to
	// userID's stream; sources use it to skip work nobody would receive.
	Subscribed(stream Stream, userID string) bool
}

// ReceivedPublisher is a Publisher that is also told when each message was
// received from its source, so that protrader5_delivery_latency_seconds
// covers the time the message spent in ingest before reaching the engine.
// The engine implements it; package ingest uses it when its publisher does,
// and the plain Publisher methods stamp messages as they enter the engine.
type ReceivedPublisher interface {
	Publisher
	// PublishTickReceived is PublishTick for a tick received at received.
	PublishTickReceived(symbol string, tick []byte, received time.Time)
	// PublishUserReceived is PublishUser for a message received at received.
	PublishUserReceived(stream Stream, userID string, message []byte, received time.Time)
	// PublishUserEntryReceived is PublishUserEntry for an entry read at
	// received.
	PublishUserEntryReceived(stream Stream, userID string, message []byte, id EntryID, received time.Time)
}

// SnapshotSource answers the reads the engine makes when a socket subscribes
// (docs/ingest.md, keys read). Calls are made off the hot path, at most a few at a time.
type SnapshotSource interface {
	// LastTick returns the latest tick JSON of symbol, or nil when unknown.
	LastTick(symbol string) ([]byte, error)
	// Positions returns the current open positions of userID, one JSON object
	// each, or none.
	Positions(userID string) ([][]byte, error)
}
