package engine

// history is a shard's record of its users' recent recoverable messages,
// kept so that a socket that comes back with an offset can be given what it
// missed. Every node records every message of every user of the shard,
// whether or not one of their sockets is here: a client may come back to
// any node. Entries live for the recovery window, at most maxPerUser per
// user and maxBytes in all; what is dropped earlier than that is remembered
// per stream
// (forgotten), so that a replay that would need it is refused rather than
// presented as complete. All of it is guarded by the shard's mu: the shard
// worker records each message in the same step that queues it to the
// user's sockets, which is what makes a replay and the live stream meet
// without a gap or a duplicate.
type history struct {
	window     int64 // nanoseconds an entry is kept
	maxPerUser int
	maxBytes   int // frame bytes kept, all users together

	users      map[string]*userHistory
	usersPeak  int           // see shrinkAfterDelete
	expiry     []expiryEntry // every entry's user, in the order recorded
	expiryHead int
	entries    int // live entries, all users
	bytes      int // their frames' bytes
}

// userHistory is one user's recorded messages, oldest first.
type userHistory struct {
	entries   []historyEntry // entries[head:] are live
	head      int
	forgotten Cursor // per stream, the newest entry dropped
	lastAdded int64  // when the newest entry was recorded
}

type historyEntry struct {
	frame  *outboundFrame
	at     int64 // when recorded, Unix nanoseconds
	id     EntryID
	stream Stream
}

type expiryEntry struct {
	user *userHistory
	at   int64
}

func newHistory(window int64, maxPerUser, maxBytes int) *history {
	return &history{window: window, maxPerUser: maxPerUser, maxBytes: maxBytes, users: make(map[string]*userHistory)}
}

// record adds a message of userID.
func (h *history) record(userID string, stream Stream, id EntryID, frame *outboundFrame, now int64) {
	user := h.users[userID]
	if user == nil {
		user = &userHistory{}
		h.users[userID] = user
		notePeak(h.users, &h.usersPeak)
	}
	if len(user.entries)-user.head >= h.maxPerUser {
		h.dropOldest(user)
	}
	user.entries = append(user.entries, historyEntry{frame: frame, at: now, id: id, stream: stream})
	user.lastAdded = now
	h.expiry = append(h.expiry, expiryEntry{user: user, at: now})
	h.entries++
	h.bytes += frame.Len()
	// Over the byte bound the oldest entries go first, whoever they are
	// for: a burst for a few users cannot make the node hold more.
	for h.bytes > h.maxBytes && h.expiryHead < len(h.expiry) {
		oldest := h.expiry[h.expiryHead].user
		h.popExpiry()
		if oldest.head < len(oldest.entries) {
			h.dropOldest(oldest)
		}
	}
}

// popExpiry removes the front of the expiry queue.
func (h *history) popExpiry() {
	h.expiry[h.expiryHead] = expiryEntry{}
	h.expiryHead++
	if h.expiryHead == len(h.expiry) {
		h.expiry, h.expiryHead = h.expiry[:0], 0
		if cap(h.expiry) > 4096 {
			h.expiry = nil // let a burst's array go
		}
	} else if h.expiryHead > 1024 && h.expiryHead > len(h.expiry)/2 {
		h.expiry = compact(h.expiry, h.expiryHead)
		h.expiryHead = 0
	}
}

// dropOldest forgets user's oldest entry.
func (h *history) dropOldest(user *userHistory) {
	oldest := &user.entries[user.head]
	if user.forgotten[oldest.stream].Less(oldest.id) {
		user.forgotten[oldest.stream] = oldest.id
	}
	h.bytes -= oldest.frame.Len()
	*oldest = historyEntry{}
	user.head++
	h.entries--
	if user.head == len(user.entries) {
		// Emptied: a burst's array is not kept for the next message.
		user.entries, user.head = nil, 0
	} else if user.head > 64 && user.head > len(user.entries)/2 {
		user.entries = compact(user.entries, user.head)
		user.head = 0
	}
}

// compact moves queue[head:] to the front; when it fills less than a
// quarter of the array, to a new array twice its size, so that what a
// burst grew is given back once the burst has expired.
func compact[T any](queue []T, head int) []T {
	live := queue[head:]
	if len(live) < cap(queue)/4 {
		return append(make([]T, 0, 2*len(live)), live...)
	}
	moved := append(queue[:0], live...)
	clear(queue[len(moved):])
	return moved
}

// expire forgets the entries older than the window, and the users with
// nothing recorded for two windows.
func (h *history) expire(now int64) {
	cutoff := now - h.window
	for h.expiryHead < len(h.expiry) && h.expiry[h.expiryHead].at <= cutoff {
		user := h.expiry[h.expiryHead].user
		h.popExpiry()
		// The user's oldest entry may be younger than this one was: it was
		// dropped already, for a bound.
		if user.head < len(user.entries) && user.entries[user.head].at <= cutoff {
			h.dropOldest(user)
		}
	}
}

// sweepUsers deletes the users with no entry left whose last one was
// recorded more than two windows ago: by then no session that could need
// their forgotten cursor is alive.
func (h *history) sweepUsers(now int64) {
	for userID, user := range h.users {
		if user.head == len(user.entries) && user.lastAdded < now-2*h.window {
			delete(h.users, userID)
		}
	}
	h.users = shrinkAfterDelete(h.users, &h.usersPeak)
}

// collect appends to frames userID's messages on streams (a bit per
// Stream) that come after from, oldest first. ok is false when some of
// them may be missing: from is older than what this node has seen without
// a gap (seenFrom), or than an entry it already dropped.
func (h *history) collect(frames []*outboundFrame, userID string, from Cursor, streams uint8, seenFrom *Cursor, seen *[streamCount]bool) ([]*outboundFrame, bool) {
	user := h.users[userID]
	for stream := StreamOrders; stream < streamCount; stream++ {
		if streams&(1<<stream) == 0 {
			continue
		}
		if !seen[stream] || from[stream].Less(seenFrom[stream]) {
			return frames, false
		}
		if user != nil && from[stream].Less(user.forgotten[stream]) {
			return frames, false
		}
	}
	if user == nil {
		return frames, true
	}
	for _, entry := range user.entries[user.head:] {
		if streams&(1<<entry.stream) != 0 && from[entry.stream].Less(entry.id) {
			frames = append(frames, entry.frame)
		}
	}
	return frames, true
}
