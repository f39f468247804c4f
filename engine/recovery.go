package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/protrader5/ws-gateway/wire"
)

// Connection state recovery, wire-compatible with socket.io 4.6 and later:
// the CONNECT answer carries a private session id (pid), every recoverable
// user message carries its offset (offset.go) as a last argument, and a
// client that comes back sends {pid, offset} with its token. A session
// whose pid belongs to the same user, with an offset this node can replay
// in full, gets back its socket id, its subscriptions and every user
// message after the offset, before the CONNECT answer, as the reference
// server does; anything else gets a fresh session.

// ErrSessionExpired may be returned by SessionStore.Load for a session that
// existed but outlived the recovery window (a store that cannot tell
// returns ok false instead: the result is then counted as unknown).
var ErrSessionExpired = errors.New("engine: session expired")

// Recovery results, the label of protrader5_recoveries_total.
const (
	recoveryRecovered     = "recovered"
	recoveryExpired       = "expired"
	recoveryUnknown       = "unknown"
	recoveryForeignUser   = "foreign_user"
	recoveryOffsetTrimmed = "offset_trimmed"
	recoveryDisabled      = "disabled"
)

// recovery is the engine's recovery state; nil when Config.RecoveryWindow
// is zero.
type recovery struct {
	engine *Engine
	window time.Duration
	epoch  string // sharedEpoch, or this process's own for node-local offsets
	shared bool   // offsets are stream entry IDs (Config.StreamOffsets)
	store  SessionStore
	// private is set when store is the engine's own MemorySessions
	// (Config.Sessions nil): nothing else reads it and it dies with the
	// node, so a connected socket's session is not copied into it. The
	// socket in live is the session until it leaves; then it is saved.
	// A copy per connected socket cost ~400 B each (bench/RESULTS.md).
	private bool

	// mu orders user messages: an ID, the cursor and the offset are given
	// and the message posted to its shard in one step, so that shard
	// inboxes hold messages in offset order.
	mu       sync.Mutex
	position Cursor                 // guarded by mu; the newest entry of each stream
	counter  uint64                 // guarded by mu; node-local numbering
	seenFrom Cursor                 // guarded by mu; per stream, where this node's history starts
	seen     [streamCount]bool      // guarded by mu; seenFrom is set
	scratch  []byte                 // guarded by mu
	live     map[string]*clientConn // guarded by liveMu; connected sockets by pid
	livePeak int                    // guarded by liveMu; see shrinkAfterDelete
	liveMu   sync.Mutex             //
	saves    map[string]*Session    // guarded by savesMu; nil Session = delete
	savesMu  sync.Mutex             //
	wake     chan struct{}          // a save is waiting
}

func newRecovery(e *Engine) *recovery {
	config := e.config
	r := &recovery{
		engine: e,
		window: config.RecoveryWindow,
		shared: config.StreamOffsets,
		store:  config.Sessions,
		live:   make(map[string]*clientConn),
		saves:  make(map[string]*Session),
		wake:   make(chan struct{}, 1),
	}
	if r.store == nil {
		r.store, r.private = NewMemorySessions(), true
	}
	if r.shared {
		r.epoch = sharedEpoch
	} else {
		// Node-local numbers mean nothing to another node or to this one
		// after a restart: the epoch makes such offsets unknown there.
		r.epoch = newID()[:8]
		for stream := range r.seen {
			r.seen[stream] = true
		}
	}
	return r
}

// publish gives a user message its ID and offset and posts it to its shard.
// received is the message's monotonic receive stamp, 0 for now.
func (r *recovery) publish(stream Stream, userID string, message []byte, id EntryID, given bool, received int64) {
	e := r.engine
	r.mu.Lock()
	defer r.mu.Unlock()
	if !given || !r.shared {
		r.counter++
		id = EntryID{Seq: r.counter}
	} else if !r.position[stream].Less(id) {
		// Read twice (a reconnecting reader overlapping what it had):
		// delivered already.
		return
	}
	r.position[stream] = id
	r.scratch = appendOffset(r.scratch[:0], r.epoch, &r.position)
	frame := newRecoverableEventFrame(stream.EventName(), message, r.scratch)
	frame.stream = stream
	frame.stamp(received)
	e.metrics.userMessages[stream].Add(1)
	e.shardOf(userID).post(shardEvent{frame: frame, userID: userID, stream: stream, id: id, record: true})
}

// historyFrom implements Engine.HistoryFrom.
func (r *recovery) historyFrom(stream Stream, id EntryID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.shared || id == (EntryID{}) {
		if r.shared {
			id = r.position[stream]
		} else {
			// What was lost lies between the last number given and the
			// next: reserve one for it, so that every offset given before
			// the gap is older than where the history now starts.
			r.counter++
			id = EntryID{Seq: r.counter}
		}
	}
	r.seenFrom[stream], r.seen[stream] = id, true
	if r.position[stream].Less(id) {
		r.position[stream] = id
	}
}

// startOffset returns the offset of now: where a new session starts. With
// stream entry IDs, a stream that has been quiet since before this node
// started reading it would leave the cursor at this node's backfill start,
// which another node that started later has not read from; entry IDs are
// Redis times, so no entry published from now on is older than half a
// window ago (with clocks within half a window of each other), and that is
// where the session starts instead.
func (r *recovery) startOffset() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := r.position
	if r.shared {
		floor := EntryID{Millis: uint64(max(time.Now().Add(-r.window/2).UnixMilli(), 0))}
		for stream := range start {
			if start[stream].Less(floor) {
				start[stream] = floor
			}
		}
	}
	return string(appendOffset(nil, r.epoch, &start))
}

// coverage returns where this node's history starts, per stream.
func (r *recovery) coverage() (Cursor, [streamCount]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seenFrom, r.seen
}

// connectRequest is what a CONNECT asks to recover.
type connectRequest struct {
	pid, offset string
}

// lookup finds the session a CONNECT of userID asks to recover. It returns
// the session and the cursor to replay from, or the result that refuses
// it.
func (r *recovery) lookup(request connectRequest, userID string) (Session, Cursor, string) {
	session, found, err := r.load(request.pid)
	switch {
	case errors.Is(err, ErrSessionExpired):
		return Session{}, Cursor{}, recoveryExpired
	case err != nil:
		r.engine.logger.LogAttrs(context.Background(), slog.LevelWarn, "session read failed", slog.Any("error", err))
		return Session{}, Cursor{}, recoveryUnknown
	case !found:
		return Session{}, Cursor{}, recoveryUnknown
	case session.UserID != userID:
		// Another user's pid: nothing of theirs comes back, and their
		// socket stays where it is.
		return Session{}, Cursor{}, recoveryForeignUser
	}
	offset := request.offset
	if offset == "" {
		offset = session.Start // the client never got a user message
	}
	from, ok := parseOffset(offset, r.epoch)
	if !ok {
		return Session{}, Cursor{}, recoveryOffsetTrimmed
	}
	return session, from, recoveryRecovered
}

// load reads pid's session: a change of this node not yet saved is newer
// than what the store holds.
func (r *recovery) load(pid string) (Session, bool, error) {
	r.savesMu.Lock()
	pending, queued := r.saves[pid]
	r.savesMu.Unlock()
	switch {
	case queued && pending == nil:
		return Session{}, false, nil // deleted
	case queued:
		return *pending, true, nil
	}
	if r.private {
		r.liveMu.Lock()
		c := r.live[pid]
		r.liveMu.Unlock()
		if c != nil {
			if session, ok := r.sessionOf(c); ok {
				return *session, true, nil
			}
		}
	}
	return r.store.Load(pid)
}

// recover reconnects c as session: the user's messages after from are
// queued first, then the CONNECT answer, then the latest tick of each
// symbol and, when it follows positions, a fresh positions snapshot. It
// reports false, having done nothing, when the history cannot replay all
// of them.
func (r *recovery) recover(c *clientConn, session Session, from Cursor, tokenExpiry int64) bool {
	e := r.engine
	seenFrom, seen := r.coverage()
	s := e.shardOf(session.UserID)
	s.mu.Lock()
	replay, ok := s.history.collect(nil, session.UserID, from, session.Streams, &seenFrom, &seen)
	if !ok {
		s.mu.Unlock()
		return false
	}
	// Joined in the same step as the replay is read: a message the worker
	// queues after this goes to the socket live, one before it is in the
	// replay; none is in both or neither.
	c.mu.Lock()
	c.userID, c.shard, c.socketID, c.connected = session.UserID, s, session.SocketID, true
	c.streams = session.Streams
	c.pid, c.sessionStart = session.PID, session.Start
	c.connectDeadline = 0
	c.tokenExpiry = tokenExpiry
	c.scheduleNextLocked()
	// A replay's age is the outage's, not delivery latency.
	forgetLatency(replay...)
	for _, frame := range replay {
		c.enqueueLocked(frame, false, 0)
	}
	c.enqueueLocked(newTextFrame(wire.AppendConnectRecoverable(nil, "/", session.SocketID, session.PID)), false, 0)
	c.mu.Unlock()
	s.users[session.UserID] = append(s.users[session.UserID], c)
	notePeak(s.users, &s.usersPeak)
	s.mu.Unlock()
	e.metrics.sockets.Add(1)
	// Counted before anything is written, so that whoever sees the socket
	// recovered also sees the count.
	e.metrics.recoveries(recoveryRecovered)
	e.metrics.replayed.Add(uint64(len(replay)))
	for throttle, symbols := range symbolsByThrottle(session) {
		if _, unknown, failure := e.subscribeMarketThrottled(c, symbols, throttle); failure == nil && len(unknown) > 0 && e.config.Snapshots != nil {
			e.fetchLastTicks(unknown)
		}
	}
	r.goLive(c)
	if session.Streams&(1<<StreamPositions) != 0 {
		e.sendPositions(c)
	}
	c.flush()
	return true
}

// begin gives c, just joined as a fresh socket, a new session.
func (r *recovery) begin(c *clientConn) (pid string) {
	pid = newID()
	start := r.startOffset()
	c.mu.Lock()
	c.pid, c.sessionStart = pid, start
	c.mu.Unlock()
	r.goLive(c)
	return pid
}

// goLive registers c as its session's live socket, taking the session over
// from a socket still holding it (a half-open connection the client gave
// up on), on this node or, through the store, on another.
func (r *recovery) goLive(c *clientConn) {
	c.mu.Lock()
	pid := c.pid
	c.mu.Unlock()
	r.liveMu.Lock()
	previous := r.live[pid]
	r.live[pid] = c
	notePeak(r.live, &r.livePeak)
	r.liveMu.Unlock()
	if previous != nil && previous != c {
		previous.closeWith(reasonSessionTakenOver)
	} else if err := r.store.Claim(pid); err != nil {
		r.engine.logger.LogAttrs(context.Background(), slog.LevelWarn, "session claim failed", slog.Any("error", err))
	}
	r.changed(c)
}

// release closes the socket holding pid on this node: another node took
// its session over.
func (r *recovery) release(pid string) {
	r.liveMu.Lock()
	c := r.live[pid]
	r.liveMu.Unlock()
	if c != nil {
		c.closeWith(reasonSessionTakenOver)
	}
}

// changed queues a save of c's session, as it is now, unless the store is
// private: there a connected socket's session is read from the socket.
func (r *recovery) changed(c *clientConn) {
	if r.private {
		return
	}
	r.save(c)
}

// save queues a save of c's session, as it is now.
func (r *recovery) save(c *clientConn) {
	if session, ok := r.sessionOf(c); ok {
		r.queueSave(session.PID, session)
	}
}

// sessionOf returns c's session as it is now; ok is false when c has none
// (no recovery, or not connected).
func (r *recovery) sessionOf(c *clientConn) (session *Session, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pid == "" || !c.connected {
		return nil, false
	}
	return &Session{PID: c.pid, SocketID: c.socketID, UserID: c.userID, Symbols: c.symbolsLocked(), Throttles: c.throttlesLocked(), Streams: c.streams, Start: c.sessionStart}, true
}

// closing runs before c, connected, leaves the engine for reason: its
// session is saved as it is, for the window, unless the client left on
// purpose or another socket took it over.
func (r *recovery) closing(c *clientConn, reason closeReason) {
	c.mu.Lock()
	pid := c.pid
	c.mu.Unlock()
	if pid == "" {
		return
	}
	// Saved before c stops being pid's live socket, so that a lookup in
	// between finds it in one place or the other.
	if reason != reasonSessionTakenOver {
		r.save(c)
	}
	r.unregister(c, pid)
}

// unregister removes c as pid's live socket, unless another took its place.
func (r *recovery) unregister(c *clientConn, pid string) {
	r.liveMu.Lock()
	if r.live[pid] == c {
		delete(r.live, pid)
		r.live = shrinkAfterDelete(r.live, &r.livePeak)
	}
	r.liveMu.Unlock()
}

// suspend takes c, about to leave the namespace because its token
// expired, off its session: the session as it is stays in the store for a
// CONNECT with a fresh token, on this connection or another.
func (r *recovery) suspend(c *clientConn) {
	r.closing(c, reasonClientClosed)
	c.mu.Lock()
	c.pid = ""
	c.mu.Unlock()
}

// left runs when c's client disconnected from the namespace on purpose: its
// session is not kept.
func (r *recovery) left(c *clientConn) {
	c.mu.Lock()
	pid := c.pid
	c.pid = ""
	c.mu.Unlock()
	if pid == "" {
		return
	}
	r.unregister(c, pid)
	r.queueSave(pid, nil)
}

func (r *recovery) queueSave(pid string, session *Session) {
	r.savesMu.Lock()
	r.saves[pid] = session
	r.savesMu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run saves sessions as they change and keeps the live ones alive in the
// store, and ages the shards' histories, until done is closed. A crash
// loses at most the saves still queued.
func (r *recovery) run(done <-chan struct{}) {
	touchEvery := max(r.window/10, time.Second)
	expireEvery := min(time.Second, max(r.window/10, 10*time.Millisecond))
	toucher := time.NewTicker(touchEvery)
	defer toucher.Stop()
	expirer := time.NewTicker(expireEvery)
	defer expirer.Stop()
	lastSweep := timeNow()
	for {
		select {
		case <-done:
			r.saveQueued()
			return
		case <-r.wake:
			r.saveQueued()
		case <-toucher.C:
			r.touchLive()
		case <-expirer.C:
			now := timeNow()
			sweep := now-lastSweep > int64(r.window)
			if sweep {
				lastSweep = now
			}
			for _, s := range r.engine.shards {
				s.mu.Lock()
				s.history.expire(now)
				if sweep {
					s.history.sweepUsers(now)
				}
				s.mu.Unlock()
			}
		}
	}
}

func (r *recovery) saveQueued() {
	r.savesMu.Lock()
	saves := r.saves
	r.saves = make(map[string]*Session, len(saves))
	r.savesMu.Unlock()
	for pid, session := range saves {
		var err error
		if session == nil {
			err = r.store.Delete(pid)
		} else {
			err = r.store.Save(*session, r.window)
		}
		if err != nil {
			r.engine.logger.LogAttrs(context.Background(), slog.LevelWarn, "session save failed", slog.Any("error", err))
		}
	}
}

func (r *recovery) touchLive() {
	var pids []string
	if !r.private { // a private store holds no connected socket's session
		r.liveMu.Lock()
		pids = make([]string, 0, len(r.live))
		for pid := range r.live {
			pids = append(pids, pid)
		}
		r.liveMu.Unlock()
	}
	// Called with none too: a store may sweep what expired meanwhile.
	if err := r.store.Touch(pids, r.window); err != nil {
		r.engine.logger.LogAttrs(context.Background(), slog.LevelWarn, "session refresh failed", slog.Any("error", err))
	}
}

// liveSessions returns how many connected sockets have a session.
func (r *recovery) liveSessions() int {
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	return len(r.live)
}

// symbolsByThrottle groups a session's symbols by their throttle, for
// subscribing them again. A throttle out of range (a session written by
// something else) is dropped: the symbol gets every tick.
func symbolsByThrottle(session Session) map[uint16][]string {
	groups := make(map[uint16][]string)
	for _, symbol := range session.Symbols {
		throttle := session.Throttles[symbol]
		if interval := time.Duration(throttle) * time.Millisecond; interval < MinThrottle || interval > MaxThrottle {
			throttle = 0
		}
		groups[throttle] = append(groups[throttle], symbol)
	}
	return groups
}
