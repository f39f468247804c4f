package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/protrader5/ws-gateway/engine"
)

// sessionOperationTimeout bounds one session read or write.
const sessionOperationTimeout = 2 * time.Second

// RedisSessions is an engine.SessionStore in Redis, so that a client can
// recover its session on any gateway, even after the one it was on
// crashed: each session is the string key {prefix}session:{pid} (JSON,
// expiring with the recovery window), and a takeover is announced on the
// channel {prefix}session:claims so that the gateway still holding a
// socket for it closes that socket. Make it with Redis.Sessions and run
// Run; safe for concurrent use.
type RedisSessions struct {
	option  rueidis.ClientOption
	prefix  string
	node    string // tells this gateway's own claims from others'
	release func(pid string)
	logger  *slog.Logger

	mu     sync.Mutex
	client rueidis.Client // guarded by mu; nil until connected
}

var _ engine.SessionStore = (*RedisSessions)(nil)

// Sessions returns the session store of r's Redis. release is called with
// the pid of each session another gateway took over (engine.ReleaseSession).
func (r *Redis) Sessions(release func(pid string)) *RedisSessions {
	option := r.cacheOption
	option.TLSConfig = cloneTLS(r.cacheOption.TLSConfig)
	option.ClientName = "protrader5-ws-sessions"
	option.DisableCache = true
	return &RedisSessions{
		option:  option,
		prefix:  r.options.Prefix,
		node:    newNodeID(),
		release: release,
		logger:  r.logger,
	}
}

// newNodeID is a random name for this process, unlike any other's.
func newNodeID() string {
	var random [12]byte
	for i := range random {
		random[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rand.IntN(36)]
	}
	return string(random[:])
}

func (s *RedisSessions) key(pid string) string { return s.prefix + "session:" + pid }
func (s *RedisSessions) claims() string        { return s.prefix + "session:claims" }

// connection returns the client, connecting it on first use.
func (s *RedisSessions) connection() (rueidis.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	client, err := rueidis.NewClient(s.option)
	if err != nil {
		return nil, err
	}
	s.client = client
	return client, nil
}

// Save implements engine.SessionStore.
func (s *RedisSessions) Save(session engine.Session, ttl time.Duration) error {
	client, err := s.connection()
	if err != nil {
		return err
	}
	value, err := json.Marshal(session)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionOperationTimeout)
	defer cancel()
	return client.Do(ctx, client.B().Set().Key(s.key(session.PID)).Value(string(value)).PxMilliseconds(max(ttl.Milliseconds(), 1)).Build()).Error()
}

// Load implements engine.SessionStore.
func (s *RedisSessions) Load(pid string) (engine.Session, bool, error) {
	client, err := s.connection()
	if err != nil {
		return engine.Session{}, false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionOperationTimeout)
	defer cancel()
	value, err := client.Do(ctx, client.B().Get().Key(s.key(pid)).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return engine.Session{}, false, nil
	}
	if err != nil {
		return engine.Session{}, false, err
	}
	var session engine.Session
	if err := json.Unmarshal(value, &session); err != nil || session.PID != pid {
		return engine.Session{}, false, errors.New("ingest: malformed session " + pid)
	}
	return session, true, nil
}

// Touch implements engine.SessionStore: one PEXPIRE per session, pipelined.
func (s *RedisSessions) Touch(pids []string, ttl time.Duration) error {
	client, err := s.connection()
	if err != nil {
		return err
	}
	commands := make(rueidis.Commands, 0, len(pids))
	for _, pid := range pids {
		commands = append(commands, client.B().Pexpire().Key(s.key(pid)).Milliseconds(max(ttl.Milliseconds(), 1)).Build())
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionOperationTimeout)
	defer cancel()
	var failure error
	for _, result := range client.DoMulti(ctx, commands...) {
		if err := result.Error(); err != nil && failure == nil {
			failure = err
		}
	}
	return failure
}

// Delete implements engine.SessionStore.
func (s *RedisSessions) Delete(pid string) error {
	client, err := s.connection()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionOperationTimeout)
	defer cancel()
	return client.Do(ctx, client.B().Del().Key(s.key(pid)).Build()).Error()
}

// Claim implements engine.SessionStore: every gateway hears it, and the one
// with a socket for pid closes it.
func (s *RedisSessions) Claim(pid string) error {
	client, err := s.connection()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionOperationTimeout)
	defer cancel()
	return client.Do(ctx, client.B().Publish().Channel(s.claims()).Message(s.node+" "+pid).Build()).Error()
}

// Run listens for other gateways' claims until ctx is done, reconnecting
// after a failure. A claim published while it was reconnecting is missed:
// the socket it was about then lives on until its own heartbeat ends it.
func (s *RedisSessions) Run(ctx context.Context) error {
	option := s.option
	option.ClientName = "protrader5-ws-claims"
	for attempt := 0; ctx.Err() == nil; attempt++ {
		client, err := rueidis.NewClient(option)
		if err == nil {
			attempt = 0
			err = client.Receive(ctx, client.B().Subscribe().Channel(s.claims()).Build(), func(message rueidis.PubSubMessage) {
				node, pid, ok := strings.Cut(message.Message, " ")
				if ok && node != s.node {
					s.release(pid)
				}
			})
			client.Close()
		}
		if ctx.Err() != nil {
			break
		}
		s.logger.Warn("session claims subscription failed; retrying", slog.Any("error", err))
		if !sleep(ctx, backoff(attempt, DefaultMaxReconnectDelay)) {
			break
		}
	}
	s.mu.Lock()
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
	s.mu.Unlock()
	return nil
}
