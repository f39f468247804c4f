package ingest

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/protrader5/ws-gateway/engine"
)

// DefaultEmitterKey is the channel prefix of @socket.io/redis-emitter and
// @socket.io/redis-adapter ("key" option; EMITTER_KEY).
const DefaultEmitterKey = "socket.io"

// EmitterOutcome is what became of one emitter message; it is a metrics label.
type EmitterOutcome uint8

const (
	// EmitterUserMessage: an order:update, position:update or notification
	// for one user, delivered as a message of that stream (with a recovery
	// offset, as the channels' messages).
	EmitterUserMessage EmitterOutcome = iota
	// EmitterTick: a market:data tick for one market room, delivered as a
	// tick of that symbol (conflated, the symbol's latest tick).
	EmitterTick
	// EmitterEmitted: any other event, delivered as given to its rooms.
	EmitterEmitted
	// EmitterMalformed: not a notepack emitter message.
	EmitterMalformed
	// EmitterTooLarge: over RouterOptions.MaxMessageBytes.
	EmitterTooLarge
	// EmitterBinary: an event with binary data, which the gateway does not
	// deliver.
	EmitterBinary
	// EmitterNamespace: for a namespace other than "/".
	EmitterNamespace
	// EmitterUnsupportedPacket: a packet other than an EVENT without ack id.
	EmitterUnsupportedPacket
	// EmitterUnknownRoom: every room it names is outside the gateway's model.
	EmitterUnknownRoom

	emitterOutcomeCount = 9
)

// EmitterOutcomes lists every EmitterOutcome, in order, for metrics pages.
var EmitterOutcomes = [emitterOutcomeCount]EmitterOutcome{
	EmitterUserMessage, EmitterTick, EmitterEmitted, EmitterMalformed, EmitterTooLarge,
	EmitterBinary, EmitterNamespace, EmitterUnsupportedPacket, EmitterUnknownRoom,
}

var emitterOutcomeNames = [emitterOutcomeCount]string{
	"user_message", "tick", "emitted", "malformed", "too_large",
	"binary", "namespace", "unsupported_packet", "unknown_room",
}

// String returns the outcome's metrics label, e.g. "malformed".
func (o EmitterOutcome) String() string {
	if int(o) < emitterOutcomeCount {
		return emitterOutcomeNames[o]
	}
	return "unknown"
}

// EmitterRequest names a request on the emitter's request channel; it is a
// metrics label. Only disconnect_sockets is answered.
type EmitterRequest uint8

const (
	// RequestDisconnectSockets: disconnectSockets, answered.
	RequestDisconnectSockets EmitterRequest = iota
	// RequestSocketsJoin: socketsJoin; rooms follow subscriptions here.
	RequestSocketsJoin
	// RequestSocketsLeave: socketsLeave; rooms follow subscriptions here.
	RequestSocketsLeave
	// RequestServerSideEmit: serverSideEmit; the gateway has no listeners.
	RequestServerSideEmit
	// RequestOther: fetchSockets, allRooms and other requests that wait
	// for an answer from Socket.IO servers.
	RequestOther
	// RequestMalformed: not a JSON request, or one over
	// RouterOptions.MaxMessageBytes.
	RequestMalformed

	emitterRequestCount = 6
)

// EmitterRequests lists every EmitterRequest, in order, for metrics pages.
var EmitterRequests = [emitterRequestCount]EmitterRequest{
	RequestDisconnectSockets, RequestSocketsJoin, RequestSocketsLeave,
	RequestServerSideEmit, RequestOther, RequestMalformed,
}

var emitterRequestNames = [emitterRequestCount]string{
	"disconnect_sockets", "sockets_join", "sockets_leave", "server_side_emit", "other", "malformed",
}

// String returns the request's metrics label, e.g. "disconnect_sockets".
func (q EmitterRequest) String() string {
	if int(q) < emitterRequestCount {
		return emitterRequestNames[q]
	}
	return "unknown"
}

// EmitterOptions configures an Emitter. Router and Rooms are required.
type EmitterOptions struct {
	// Key is the emitter's channel prefix (EMITTER_KEY). Empty means
	// DefaultEmitterKey ("socket.io").
	Key string
	// Router validates ticks, keeps live P&L and bounds message size, as
	// for the channels; its publisher gets the user messages and ticks.
	Router *Router
	// Rooms gets every other event, and disconnectSockets requests.
	Rooms engine.RoomPublisher
	// Recoverable sends order:update, position:update and notification
	// events for one user through the publisher's user path, with
	// recovery offsets. Set it with Pub/Sub user channels; with Redis
	// Streams the recovery offsets are stream entry IDs, which an emitter
	// message has none of, so those events go out live only.
	Recoverable bool
	// Logger receives the rate-limited warnings. Nil means slog.Default().
	Logger *slog.Logger
	// WarnInterval is the shortest time between two warnings. Zero means
	// DefaultWarnInterval (1s).
	WarnInterval time.Duration
}

// Emitter turns @socket.io/redis-emitter messages into engine calls
// (docs/ingest.md, the emitter input). Safe for concurrent use.
type Emitter struct {
	options  EmitterOptions
	router   *Router
	rooms    engine.RoomPublisher
	logger   *slog.Logger
	outcomes [emitterOutcomeCount]atomic.Uint64
	requests [emitterRequestCount]atomic.Uint64
	warnings warnLimiter
}

// NewEmitter returns an Emitter.
func NewEmitter(options EmitterOptions) (*Emitter, error) {
	if options.Router == nil || options.Rooms == nil {
		return nil, errors.New("ingest: NewEmitter needs a Router and Rooms")
	}
	if options.Key == "" {
		options.Key = DefaultEmitterKey
	}
	if options.WarnInterval <= 0 {
		options.WarnInterval = DefaultWarnInterval
	}
	e := &Emitter{options: options, router: options.Router, rooms: options.Rooms, logger: options.Logger}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	return e, nil
}

// BroadcastPattern is the PSUBSCRIBE pattern of the emitter's broadcasts
// to namespace "/": "<key>#/#" (no room or several) and "<key>#/#<room>#"
// (exactly one room) both match it. Glob characters of the key are
// escaped.
func (e *Emitter) BroadcastPattern() string {
	var pattern strings.Builder
	for _, r := range e.options.Key {
		if strings.ContainsRune(`*?[]\`, r) {
			pattern.WriteByte('\\')
		}
		pattern.WriteRune(r)
	}
	pattern.WriteString("#/#*")
	return pattern.String()
}

// RequestChannel is the channel of the emitter's requests to namespace "/".
func (e *Emitter) RequestChannel() string { return e.options.Key + "-request#/#" }

// Outcomes returns how many messages ended in each outcome.
func (e *Emitter) Outcomes() [emitterOutcomeCount]uint64 {
	var counts [emitterOutcomeCount]uint64
	for i := range counts {
		counts[i] = e.outcomes[i].Load()
	}
	return counts
}

// Requests returns how many requests of each kind were received.
func (e *Emitter) Requests() [emitterRequestCount]uint64 {
	var counts [emitterRequestCount]uint64
	for i := range counts {
		counts[i] = e.requests[i].Load()
	}
	return counts
}

// HandleMessage handles one broadcast received at received (the zero time:
// now). The Emitter owns payload afterwards. It never fails: what cannot
// be delivered is counted and logged.
func (e *Emitter) HandleMessage(payload []byte, received time.Time) {
	if len(payload) > e.router.maxMessageBytes {
		e.count(EmitterTooLarge, nil)
		return
	}
	message, err := decodeEmitterMessage(payload)
	switch {
	case errors.Is(err, errEmitterBinary):
		e.count(EmitterBinary, err)
		return
	case err != nil:
		e.count(EmitterMalformed, err)
		return
	case message.namespace != "/":
		e.count(EmitterNamespace, nil)
		return
	case message.packetType == packetBinaryEvent:
		e.count(EmitterBinary, nil)
		return
	case message.packetType != packetEvent || message.hasAckID:
		e.count(EmitterUnsupportedPacket, nil)
		return
	}
	rooms := parseRooms(message.rooms)
	if len(message.rooms) > 0 && len(rooms) == 0 {
		e.count(EmitterUnknownRoom, nil)
		return
	}
	except := parseRooms(message.except)
	if len(message.rooms) == 1 && len(rooms) == 1 && len(except) == 0 && e.deliverAsChannel(&message, rooms[0], received) {
		return
	}
	stream := streamOfEvent(message.event)
	for i := range rooms {
		// The stream events follow the channels' rule: a user's
		// subscribers of the stream, whichever user room names them.
		if rooms[i].UserID != "" && rooms[i].Stream == 0 {
			rooms[i].Stream = stream
		}
	}
	e.rooms.Emit(engine.Emission{Event: message.data, Rooms: rooms, Except: except, Volatile: message.volatile}, received)
	e.outcomes[EmitterEmitted].Add(1)
}

// deliverAsChannel sends an event that a channel could have carried the
// way the channel does, and reports whether it did: a stream event with one
// object for one user, a valid tick of the room's symbol.
func (e *Emitter) deliverAsChannel(message *emitterMessage, room engine.Room, received time.Time) bool {
	if len(message.args) != 1 {
		return false
	}
	argument := message.arg(0)
	if room.Symbol != "" {
		if message.event != "market:data" {
			return false
		}
		tick, _, ok := e.router.decodeTick(argument)
		if !ok || tick.symbol != room.Symbol {
			return false
		}
		e.router.publishTick(tick, argument, received)
		e.outcomes[EmitterTick].Add(1)
		return true
	}
	stream := streamOfEvent(message.event)
	if !e.options.Recoverable || stream == 0 || (room.Stream != 0 && room.Stream != stream) || argument[0] != '{' {
		return false
	}
	e.router.publishUser(stream, room.UserID, argument, received)
	e.outcomes[EmitterUserMessage].Add(1)
	return true
}

// HandleRequest handles one message of the request channel.
func (e *Emitter) HandleRequest(ctx context.Context, payload []byte) {
	if len(payload) > e.router.maxMessageBytes {
		e.request(RequestMalformed)
		return
	}
	request, ok := decodeEmitterRequest(payload)
	if !ok {
		e.request(RequestMalformed)
		return
	}
	switch *request.Type {
	case requestRemoteDisconnect:
		e.request(RequestDisconnectSockets)
		rooms := make([]engine.Room, 0, len(request.Opts.Rooms))
		for _, name := range request.Opts.Rooms {
			if room, ok := parseRoom(name); ok {
				rooms = append(rooms, room)
			}
		}
		if len(request.Opts.Rooms) > 0 && len(rooms) == 0 {
			return // rooms with no socket here
		}
		var except []engine.Room
		for _, name := range request.Opts.Except {
			if room, ok := parseRoom(name); ok {
				except = append(except, room)
			}
		}
		count := e.rooms.DisconnectSockets(ctx, rooms, except, request.Close)
		e.logger.LogAttrs(ctx, slog.LevelInfo, "ingest: emitter disconnected sockets",
			slog.Int("sockets", count), slog.Any("rooms", request.Opts.Rooms), slog.Bool("close", request.Close))
	case requestRemoteJoin:
		e.unanswered(RequestSocketsJoin)
	case requestRemoteLeave:
		e.unanswered(RequestSocketsLeave)
	case requestServerSideEmit:
		e.unanswered(RequestServerSideEmit)
	default:
		e.unanswered(RequestOther)
	}
}

func (e *Emitter) request(kind EmitterRequest) { e.requests[kind].Add(1) }

func (e *Emitter) unanswered(kind EmitterRequest) {
	e.request(kind)
	e.warn("ingest: emitter request not supported", slog.String("request", kind.String()))
}

func (e *Emitter) count(outcome EmitterOutcome, err error) {
	e.outcomes[outcome].Add(1)
	attrs := []slog.Attr{slog.String("reason", outcome.String())}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	e.warn("ingest: emitter message dropped", attrs...)
}

// warn logs at most one warning per WarnInterval, with how many were held back.
func (e *Emitter) warn(message string, attrs ...slog.Attr) {
	limiter := &e.warnings
	now := e.router.now().UnixNano()
	last := limiter.lastNanos.Load()
	if now-last < int64(e.options.WarnInterval) || !limiter.lastNanos.CompareAndSwap(last, now) {
		limiter.suppressed.Add(1)
		return
	}
	attrs = append(attrs, slog.Uint64("suppressed", limiter.suppressed.Swap(0)))
	e.logger.LogAttrs(context.Background(), slog.LevelWarn, message, attrs...)
}

// publishUser hands a user message to the engine as handleUser does for a
// Pub/Sub channel message.
func (r *Router) publishUser(stream engine.Stream, userID string, message []byte, received time.Time) {
	if r.timed != nil && !received.IsZero() {
		r.timed.PublishUserReceived(stream, userID, message, received)
	} else {
		r.publisher.PublishUser(stream, userID, message)
	}
	if stream == engine.StreamPositions {
		r.book.update(userID, message)
	}
}
