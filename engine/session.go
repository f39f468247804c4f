package engine

import (
	"sync"
	"time"
)

// Session is what a recoverable socket leaves for its return: who it is and
// what it follows. In a store given as Config.Sessions, a socket's session
// is saved when it connects and each time its subscriptions change, and
// kept alive while it is connected, so that it is there even after the
// node holding the socket crashed. The engine's own store (Config.Sessions
// nil) lives and dies with the node, so it gets the session when the
// socket leaves; until then the socket itself answers for it.
type Session struct {
	// PID is the private session id the client presents to recover.
	PID string `json:"pid"`
	// SocketID is the Socket.IO id the socket keeps when recovered.
	SocketID string `json:"sid"`
	// UserID is the authenticated user; only that user may recover it.
	UserID string `json:"userId"`
	// Symbols are the market subscriptions.
	Symbols []string `json:"symbols,omitempty"`
	// Throttles are the throttleMs of the throttled ones among Symbols; a
	// symbol not in it (a session saved before throttles existed included)
	// gets every tick.
	Throttles map[string]uint16 `json:"throttles,omitempty"`
	// Streams is a bit per Stream the socket follows (1 << StreamOrders, ...).
	Streams uint8 `json:"streams,omitempty"`
	// Start is the offset at which the session began: a client that never
	// received a user message recovers from there.
	Start string `json:"start"`
}

// SessionStore keeps sessions for Config.RecoveryWindow after their last
// Save or Touch. The engine calls it from a single goroutine of its own, off
// every socket's path. Package ingest stores them in Redis, so that any node
// can recover any session; the default, MemorySessions, keeps them in this
// node alone.
type SessionStore interface {
	// Save stores session for ttl, replacing the one with the same PID.
	Save(session Session, ttl time.Duration) error
	// Load returns the session of pid; ok is false when there is none
	// (never saved, or expired).
	Load(pid string) (session Session, ok bool, err error)
	// Touch extends the life of the sessions of pids, still connected, to
	// ttl from now.
	Touch(pids []string, ttl time.Duration) error
	// Delete forgets pid's session: its client left on purpose.
	Delete(pid string) error
	// Claim says that pid's session has just been taken over on this node:
	// a store shared by several nodes tells the node still holding a
	// socket for it, whose engine then calls ReleaseSession.
	Claim(pid string) error
}

// MemorySessions is a SessionStore for one node: sessions live in memory,
// and a client recovers only on the node it left. Expired sessions are
// swept as sessions are saved or touched (the engine touches every tenth
// of the window), so it holds at most the sessions of about two windows.
type MemorySessions struct {
	mu        sync.Mutex
	sessions  map[string]memorySession // guarded by mu
	nextSweep time.Time                // guarded by mu
	// peak is the most sessions held since the map was last rebuilt: a Go
	// map keeps the table of its largest size, so after a burst of sessions
	// has expired the sweep copies the rest into a map of their size.
	peak int // guarded by mu
}

type memorySession struct {
	session Session
	expires time.Time
}

var _ SessionStore = (*MemorySessions)(nil)

// NewMemorySessions returns an empty store.
func NewMemorySessions() *MemorySessions {
	return &MemorySessions{sessions: make(map[string]memorySession)}
}

// Save implements SessionStore.
func (m *MemorySessions) Save(session Session, ttl time.Duration) error {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[session.PID] = memorySession{session: session, expires: now.Add(ttl)}
	m.peak = max(m.peak, len(m.sessions))
	m.sweepLocked(now, ttl)
	return nil
}

// sweepLocked deletes the expired sessions, at most once per tenth of ttl,
// so that an expired session is let go of at most a tenth of the window
// after it expired.
func (m *MemorySessions) sweepLocked(now time.Time, ttl time.Duration) {
	if now.Before(m.nextSweep) {
		return
	}
	for pid, stored := range m.sessions {
		if now.After(stored.expires) {
			delete(m.sessions, pid)
		}
	}
	if m.peak > memorySessionsRebuildAbove && len(m.sessions) < m.peak/2 {
		// Copied one by one: maps.Clone would keep the large table.
		rebuilt := make(map[string]memorySession, len(m.sessions))
		for pid, stored := range m.sessions {
			rebuilt[pid] = stored
		}
		m.sessions = rebuilt
		m.peak = len(rebuilt)
	}
	m.nextSweep = now.Add(ttl / 10)
}

// memorySessionsRebuildAbove is the peak below which the store keeps its
// map however many sessions expired: a small table is not worth a copy.
const memorySessionsRebuildAbove = 1024

// Load implements SessionStore.
func (m *MemorySessions) Load(pid string) (Session, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.sessions[pid]
	if !ok {
		return Session{}, false, nil
	}
	if time.Now().After(stored.expires) {
		return Session{}, false, ErrSessionExpired
	}
	return stored.session, true, nil
}

// Touch implements SessionStore. The engine calls it every tenth of the
// window, which also sweeps what expired while nothing was saved.
func (m *MemorySessions) Touch(pids []string, ttl time.Duration) error {
	now := time.Now()
	expires := now.Add(ttl)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now, ttl)
	for _, pid := range pids {
		if stored, ok := m.sessions[pid]; ok {
			stored.expires = expires
			m.sessions[pid] = stored
		}
	}
	return nil
}

// Delete implements SessionStore.
func (m *MemorySessions) Delete(pid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, pid)
	return nil
}

// Claim implements SessionStore: on one node the engine has already closed
// the socket it took the session from.
func (m *MemorySessions) Claim(string) error { return nil }

// Len returns how many sessions are stored, expired ones not yet swept
// included.
func (m *MemorySessions) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}
