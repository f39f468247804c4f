package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/wire"
	"github.com/redis/rueidis"
)

var _ engine.SnapshotSource = (*Redis)(nil)

// LastTick reads {prefix}market:last:{symbol} through the client-side
// cache. It returns nil, nil when the key does not exist, and a copy the
// engine owns otherwise. It does not call SeedTick: the engine decides what
// to do with the answer.
func (r *Redis) LastTick(symbol string) ([]byte, error) {
	if !wire.ValidSymbol(symbol) {
		return nil, ErrInvalidSymbol
	}
	client, err := r.cacheClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.options.ReadTimeout)
	defer cancel()
	key := r.options.Prefix + "market:last:" + symbol
	value, err := r.cached(ctx, client, client.B().Get().Key(key).Cache()).ToString()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: read %s: %w", key, err)
	}
	tick := []byte(value)
	if reason, ok := checkDocument(tick); !ok {
		r.router.reject(ChannelTicks, reason, symbol)
		return nil, ErrInvalidSnapshot
	}
	tick = trimSpace(tick)
	fields, reason, ok := r.router.decodeTick(tick)
	if !ok {
		r.router.reject(ChannelTicks, reason, symbol)
		return nil, ErrInvalidSnapshot
	}
	if fields.symbol != symbol {
		r.router.reject(ChannelTicks, ReasonInvalidSymbol, symbol)
		return nil, ErrInvalidSnapshot
	}
	return tick, nil
}

// Positions reads hash {prefix}positions:{userID} through the client-side
// cache and returns its valid open positions ordered by field, copies the
// engine owns. They also become the router's live P&L state for userID.
func (r *Redis) Positions(userID string) ([][]byte, error) {
	return r.positions(userID, false)
}

func (r *Redis) positions(userID string, replace bool) ([][]byte, error) {
	if !auth.ValidUserID(userID) {
		return nil, ErrInvalidUser
	}
	client, err := r.cacheClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.options.ReadTimeout)
	defer cancel()
	key := r.options.Prefix + "positions:" + userID
	fields, err := r.cached(ctx, client, client.B().Hgetall().Key(key).Cache()).AsStrMap()
	if err != nil && !rueidis.IsRedisNil(err) {
		return nil, fmt.Errorf("ingest: read %s: %w", key, err)
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	values := make([][]byte, 0, len(names))
	for _, name := range names {
		values = append(values, []byte(fields[name]))
	}
	return r.router.seedPositions(userID, values, replace), nil
}

// positionsReplacing is Positions with the snapshot replacing what the
// router knew of the user, for the refresh after an outage.
func (r *Redis) positionsReplacing(userID string) ([][]byte, error) {
	return r.positions(userID, true)
}

func (r *Redis) cacheClient() (rueidis.Client, error) {
	client := r.cache.Load()
	if client == nil {
		return nil, ErrNotConnected
	}
	return *client, nil
}

// cached runs a cacheable read and counts cache hits and misses.
func (r *Redis) cached(ctx context.Context, client rueidis.Client, command rueidis.Cacheable) rueidis.RedisResult {
	// Pinned, so never handed back to rueidis's command pool: its pipeline
	// writer reads a command with no synchronisation the race detector can
	// see before the reply returns it to the pool, and a stream reader
	// building its next XREAD from that memory is then reported as a race.
	result := client.DoCache(ctx, command.Pin(), r.options.CacheTTL)
	if result.IsCacheHit() {
		r.cacheHits.Add(1)
	} else {
		r.cacheMisses.Add(1)
	}
	return result
}

// refreshAfterOutage runs after a resubscription: messages published while
// the subscription was down are lost (Redis Pub/Sub keeps nothing), so the
// positions of every user the router tracks are read again. The snapshot
// replaces the router's state (a position closed during the outage stops
// refreshing) and, for users subscribed on this node, each position is
// delivered again as a position:update. Ticks are not re-read: the next
// live tick of each symbol replaces any stale one.
func (r *Redis) refreshAfterOutage(ctx context.Context) {
	r.reseedPositions(ctx, true)
}

// reseedPositions reads the positions of every user the router tracks again,
// replacing what it knew; deliver also sends them to this node's position
// subscribers. A Streams reader reseeds without delivering after entries of
// "position:updates" were trimmed before it read them: live P&L must not go
// on from positions that may have closed, while clients learn of the gap
// from the engine (HistoryFrom), not from unnumbered updates.
func (r *Redis) reseedPositions(ctx context.Context, deliver bool) {
	for _, userID := range r.router.trackedUsers() {
		if ctx.Err() != nil {
			return
		}
		positions, err := r.positionsReplacing(userID)
		if err != nil {
			r.logger.LogAttrs(ctx, slog.LevelWarn, "ingest: positions refresh failed",
				slog.String("user_id", userID), slog.String("error", err.Error()))
			continue
		}
		if !deliver || !r.router.publisher.Subscribed(engine.StreamPositions, userID) {
			continue
		}
		for _, p := range positions {
			r.router.publisher.PublishUser(engine.StreamPositions, userID, bytes.Clone(p))
		}
	}
}

// RedisStats is a snapshot of the Redis source's counters.
type RedisStats struct {
	// Subscribed reports all four channels subscribed, or with Streams read
	// (Ready).
	Subscribed bool
	// UserStreams is the mode the user channels are read in.
	UserStreams UserStreams
	// Received counts Pub/Sub messages received, valid or not.
	Received uint64
	// StreamEntries counts stream entries read per channel, valid or not
	// (Streams only; "market:ticks" stays zero).
	StreamEntries [channelCount]uint64
	// StreamGaps counts, per channel, the times entries were found trimmed
	// or lost before they could be read (Streams only).
	StreamGaps [channelCount]uint64
	// StreamLag is, per channel, how far the last entry processed is behind
	// the newest one in the stream at the last read, by entry ID time.
	StreamLag [channelCount]time.Duration
	// StreamReadDelay is, per channel, how old the last entry read was when
	// read: now minus its ID's time (Redis's clock, so it includes the skew
	// between the two clocks).
	StreamReadDelay [channelCount]time.Duration
	// RoundTrip is the last PING's round trip on the read client; zero
	// before the first. PingFailures counts the PINGs that failed.
	RoundTrip    time.Duration
	PingFailures uint64
	// QueueWaits counts messages that found the router queue full and made
	// the Pub/Sub reader wait.
	QueueWaits uint64
	// Outages counts losses of the subscription after it was first made.
	Outages uint64
	// CacheEnabled reports client-side caching on for snapshot reads.
	CacheEnabled bool
	// CacheHits and CacheMisses count snapshot reads served from the
	// client-side cache or from the server.
	CacheHits, CacheMisses uint64
}

// Stats returns the current counters.
func (r *Redis) Stats() RedisStats {
	ready, _ := r.Ready()
	stats := RedisStats{
		Subscribed:   ready,
		UserStreams:  r.options.UserStreams,
		Received:     r.received.Load(),
		QueueWaits:   r.queueWaits.Load(),
		Outages:      r.outages.Load(),
		CacheEnabled: r.cacheEnabled.Load(),
		CacheHits:    r.cacheHits.Load(),
		CacheMisses:  r.cacheMisses.Load(),
		RoundTrip:    time.Duration(r.roundTrip.Load()),
		PingFailures: r.pingFailures.Load(),
	}
	for c := range channelCount {
		stats.StreamEntries[c] = r.streamEntries[c].Load()
		stats.StreamGaps[c] = r.streamGaps[c].Load()
		stats.StreamLag[c] = time.Duration(r.streamLag[c].Load()) * time.Millisecond
		stats.StreamReadDelay[c] = time.Duration(r.streamReadDelay[c].Load()) * time.Millisecond
	}
	return stats
}
