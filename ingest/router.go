package ingest

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/wire"
)

// Channel names one of the four ingest channels (docs/ingest.md).
type Channel uint8

const (
	// ChannelTicks is "market:ticks": a tick object or an array of them.
	ChannelTicks Channel = iota
	// ChannelOrders is "order:updates": an order object with "userId".
	ChannelOrders
	// ChannelPositions is "position:updates": a position object with "userId".
	ChannelPositions
	// ChannelNotifications is "notifications": a notification with "userId".
	ChannelNotifications

	channelCount = 4
)

// Channels lists every Channel, in order, for metrics pages.
var Channels = [channelCount]Channel{ChannelTicks, ChannelOrders, ChannelPositions, ChannelNotifications}

var channelNames = [channelCount]string{"market:ticks", "order:updates", "position:updates", "notifications"}

// String returns the channel's name without prefix, e.g. "market:ticks".
func (c Channel) String() string {
	if int(c) < channelCount {
		return channelNames[c]
	}
	return "unknown"
}

// stream is the engine stream a user channel is delivered on.
func (c Channel) stream() engine.Stream {
	switch c {
	case ChannelOrders:
		return engine.StreamOrders
	case ChannelPositions:
		return engine.StreamPositions
	case ChannelNotifications:
		return engine.StreamNotifications
	}
	return 0
}

// Reason says why a message was rejected; it is a metrics label.
type Reason uint8

const (
	// ReasonInvalidJSON: the message is not one complete JSON value.
	ReasonInvalidJSON Reason = iota
	// ReasonInvalidUTF8: the message holds bytes that are not UTF-8.
	ReasonInvalidUTF8
	// ReasonNotObject: the message (or a tick array element) is not an object.
	ReasonNotObject
	// ReasonMissingSymbol: a tick without a "symbol" string.
	ReasonMissingSymbol
	// ReasonInvalidSymbol: a tick whose symbol does not match
	// ^[A-Z0-9][A-Z0-9._:/-]{0,31}$.
	ReasonInvalidSymbol
	// ReasonInvalidPrice: a tick whose "price" is present but not a number.
	ReasonInvalidPrice
	// ReasonMissingUser: a user message without a "userId" string.
	ReasonMissingUser
	// ReasonInvalidUser: an empty, oversized or non-UTF-8 "userId", or a
	// snapshot position of another user.
	ReasonInvalidUser
	// ReasonDuplicateKey: "symbol" or "userId" given twice at the top level,
	// written plainly or with escapes ("user\u0049d"); rejected rather than
	// guessed at, since readers differ: a browser's JSON.parse keeps the
	// last, others (sonic's searcher) the first.
	ReasonDuplicateKey
	// ReasonTooLarge: the message is over RouterOptions.MaxMessageBytes.
	ReasonTooLarge
	// ReasonMissingData: a Redis stream entry without a "data" field, or
	// with two of them (which one a backend meant cannot be told).
	ReasonMissingData

	reasonCount = 11
)

// Reasons lists every Reason, in order, for metrics pages.
var Reasons = [reasonCount]Reason{
	ReasonInvalidJSON, ReasonInvalidUTF8, ReasonNotObject, ReasonMissingSymbol,
	ReasonInvalidSymbol, ReasonInvalidPrice, ReasonMissingUser, ReasonInvalidUser,
	ReasonDuplicateKey, ReasonTooLarge, ReasonMissingData,
}

var reasonNames = [reasonCount]string{
	"invalid_json", "invalid_utf8", "not_object", "missing_symbol",
	"invalid_symbol", "invalid_price", "missing_user", "invalid_user",
	"duplicate_key", "too_large", "missing_data",
}

// String returns the reason's metrics label, e.g. "invalid_json".
func (r Reason) String() string {
	if int(r) < reasonCount {
		return reasonNames[r]
	}
	return "unknown"
}

const (
	// DefaultMaxMessageBytes is the largest message the router accepts.
	DefaultMaxMessageBytes = 1 << 20
	// DefaultPNLInterval is the shortest time between two live P&L refreshes
	// of one position (PNL_INTERVAL_MS).
	DefaultPNLInterval = 250 * time.Millisecond
	// DefaultWarnInterval is the shortest time between two warnings about
	// rejected messages on one channel.
	DefaultWarnInterval = time.Second
)

// RouterOptions configures a Router. The zero value works.
type RouterOptions struct {
	// Logger receives the rate-limited warnings about rejected messages.
	// Nil means slog.Default().
	Logger *slog.Logger
	// MaxMessageBytes bounds one channel message. Zero means
	// DefaultMaxMessageBytes (1 MiB). Larger messages are rejected as
	// too_large before any parsing, so a runaway publisher costs nothing.
	MaxMessageBytes int
	// PNLInterval is the shortest time between two live P&L refreshes of one
	// position. Zero means DefaultPNLInterval (250ms). Shorter intervals mean
	// fresher P&L and more position:update traffic per tick.
	PNLInterval time.Duration
	// WarnInterval is the shortest time between two warnings about rejected
	// messages on one channel; the ones in between are counted and the count
	// is logged with the next warning. Zero means DefaultWarnInterval (1s).
	WarnInterval time.Duration
	// Now is the clock for P&L throttling and log rate limiting. Nil means
	// time.Now. Tests inject a manual clock.
	Now func() time.Time
}

// Router turns channel messages into engine calls: it validates, counts,
// and computes live P&L. It is the only place where a message of one of the
// four channels becomes an engine call, whatever the source.
//
// All methods are safe for concurrent use.
type Router struct {
	publisher engine.Publisher
	// timed is publisher when it takes receive times (the engine does),
	// else nil.
	timed           engine.ReceivedPublisher
	logger          *slog.Logger
	maxMessageBytes int
	warnInterval    time.Duration
	now             func() time.Time

	book    *book
	symbols symbolTable

	accepted  [channelCount]atomic.Uint64
	rejected  [channelCount][reasonCount]atomic.Uint64
	refreshes atomic.Uint64
	warnings  [channelCount]warnLimiter
}

// warnLimiter lets one warning per interval through and counts the others.
type warnLimiter struct {
	lastNanos  atomic.Int64
	suppressed atomic.Uint64
}

// NewRouter returns a Router that hands messages to publisher.
func NewRouter(publisher engine.Publisher, options RouterOptions) *Router {
	if publisher == nil {
		panic("ingest: NewRouter with nil publisher")
	}
	r := &Router{
		publisher:       publisher,
		logger:          options.Logger,
		maxMessageBytes: options.MaxMessageBytes,
		warnInterval:    options.WarnInterval,
		now:             options.Now,
	}
	r.timed, _ = publisher.(engine.ReceivedPublisher)
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if r.maxMessageBytes <= 0 {
		r.maxMessageBytes = DefaultMaxMessageBytes
	}
	if r.warnInterval <= 0 {
		r.warnInterval = DefaultWarnInterval
	}
	if r.now == nil {
		r.now = time.Now
	}
	interval := options.PNLInterval
	if interval <= 0 {
		interval = DefaultPNLInterval
	}
	r.book = newBook(interval)
	return r
}

// Handle routes one message of channel. The router owns payload afterwards:
// the caller must not modify or reuse it (slices of it are handed to the
// engine). Malformed messages are dropped and counted; Handle never fails.
// Handle panics on a Channel outside the four defined ones (programmer error).
func (r *Router) Handle(channel Channel, payload []byte) {
	r.HandleReceived(channel, payload, time.Time{})
}

// HandleReceived is Handle for a message received from its source at
// received, which the engine's delivery latency starts from. The zero time
// means the message's arrival in the engine.
func (r *Router) HandleReceived(channel Channel, payload []byte, received time.Time) {
	if int(channel) >= channelCount {
		panic("ingest: Handle on unknown channel")
	}
	if !r.check(channel, payload) {
		return
	}
	if channel == ChannelTicks {
		r.handleTicks(payload, received)
		return
	}
	r.handleUser(channel, payload, engine.EntryID{}, false, received)
}

// HandleEntry routes one message of a user channel read from a Redis stream
// as entry id, validated as Handle validates; the engine gets it with its
// id (PublishUserEntry), so that a client can resume after it on any node.
// Entries of one channel must be handed over in id order. Ownership and
// rejects are as for Handle. HandleEntry panics on ChannelTicks or an
// unknown channel: ticks are never read from streams.
func (r *Router) HandleEntry(channel Channel, payload []byte, id engine.EntryID) {
	r.HandleEntryReceived(channel, payload, id, time.Time{})
}

// HandleEntryReceived is HandleEntry for an entry read at received (see
// HandleReceived).
func (r *Router) HandleEntryReceived(channel Channel, payload []byte, id engine.EntryID, received time.Time) {
	if channel == ChannelTicks || int(channel) >= channelCount {
		panic("ingest: HandleEntry on a channel that is not a user channel")
	}
	if !r.check(channel, payload) {
		return
	}
	r.handleUser(channel, payload, id, true, received)
}

// check counts and reports what makes payload unusable whatever the channel.
func (r *Router) check(channel Channel, payload []byte) bool {
	if len(payload) > r.maxMessageBytes {
		r.reject(channel, ReasonTooLarge, "")
		return false
	}
	if reason, ok := checkDocument(payload); !ok {
		r.reject(channel, reason, "")
		return false
	}
	return true
}

func (r *Router) handleTicks(payload []byte, received time.Time) {
	start := wire.SkipJSONSpace(payload, 0)
	if payload[start] != '[' {
		r.handleTick(trimSpace(payload), received)
		return
	}
	// An array: each element is validated and published alone, so one bad
	// tick does not cost its neighbours.
	forEachElement(payload, start, func(element []byte) {
		r.handleTick(element, received)
	})
}

func (r *Router) handleTick(tick []byte, received time.Time) {
	decoded, reason, ok := r.decodeTick(tick)
	if !ok {
		r.reject(ChannelTicks, reason, decoded.symbol)
		return
	}
	r.accepted[ChannelTicks].Add(1)
	r.publishTick(decoded, tick, received)
}

// publishTick hands a validated tick to the engine and refreshes the P&L
// of the positions in its symbol: for the ticks channel and for ticks a
// backend emits to a market room alike.
func (r *Router) publishTick(decoded tickFields, tick []byte, received time.Time) {
	if r.timed != nil && !received.IsZero() {
		r.timed.PublishTickReceived(decoded.symbol, tick, received)
	} else {
		r.publisher.PublishTick(decoded.symbol, tick)
	}
	if decoded.hasPrice {
		r.refreshPositions(decoded.symbol, decoded.price, decoded.priceRaw)
	}
}

func (r *Router) handleUser(channel Channel, payload []byte, id engine.EntryID, fromStream bool, received time.Time) {
	userID, reason, ok := decodeUser(payload)
	if !ok {
		r.reject(channel, reason, "")
		return
	}
	r.accepted[channel].Add(1)
	timed := r.timed != nil && !received.IsZero()
	switch {
	case fromStream && timed:
		r.timed.PublishUserEntryReceived(channel.stream(), userID, payload, id, received)
	case fromStream:
		r.publisher.PublishUserEntry(channel.stream(), userID, payload, id)
	case timed:
		r.timed.PublishUserReceived(channel.stream(), userID, payload, received)
	default:
		r.publisher.PublishUser(channel.stream(), userID, payload)
	}
	if channel == ChannelPositions {
		r.book.update(userID, payload)
	}
}

// reject counts a dropped message and logs it at a bounded rate.
func (r *Router) reject(channel Channel, reason Reason, symbol string) {
	r.rejected[channel][reason].Add(1)
	limiter := &r.warnings[channel]
	now := r.now().UnixNano()
	last := limiter.lastNanos.Load()
	if now-last < int64(r.warnInterval) || !limiter.lastNanos.CompareAndSwap(last, now) {
		limiter.suppressed.Add(1)
		return
	}
	if !r.logger.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	attrs := []slog.Attr{
		slog.String("channel", channel.String()),
		slog.String("reason", reason.String()),
		slog.Uint64("suppressed", limiter.suppressed.Swap(0)),
	}
	if symbol != "" {
		attrs = append(attrs, slog.String("symbol", symbol))
	}
	r.logger.LogAttrs(context.Background(), slog.LevelWarn, "ingest: message rejected", attrs...)
}

// RouterStats is a snapshot of a Router's counters.
type RouterStats struct {
	// Accepted counts messages handed to the engine, per channel (each
	// element of a tick array counts once).
	Accepted [channelCount]uint64
	// Rejected counts dropped messages per channel and reason.
	Rejected [channelCount][reasonCount]uint64
	// PositionRefreshes counts live P&L position:update messages published.
	PositionRefreshes uint64
	// OpenPositions is the number of positions tracked for live P&L.
	OpenPositions int
}

// Stats returns the current counters. Each counter is read atomically; the
// snapshot as a whole is not.
func (r *Router) Stats() RouterStats {
	var s RouterStats
	for c := range channelCount {
		s.Accepted[c] = r.accepted[c].Load()
		for reason := range reasonCount {
			s.Rejected[c][reason] = r.rejected[c][reason].Load()
		}
	}
	s.PositionRefreshes = r.refreshes.Load()
	s.OpenPositions = r.book.size()
	return s
}

// Accepted returns how many messages of channel reached the engine.
func (r *Router) Accepted(channel Channel) uint64 {
	if int(channel) >= channelCount {
		return 0
	}
	return r.accepted[channel].Load()
}

// Rejects returns how many messages of channel were dropped for reason.
func (r *Router) Rejects(channel Channel, reason Reason) uint64 {
	if int(channel) >= channelCount || int(reason) >= reasonCount {
		return 0
	}
	return r.rejected[channel][reason].Load()
}
