package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/redis/rueidis"
)

// UserStreams says how the three user channels reach the gateway
// (USER_STREAMS). "market:ticks" is Pub/Sub either way: a lost tick is
// replaced by the next one.
type UserStreams uint8

const (
	// PubSub receives the user channels by Redis Pub/Sub: what is published
	// while a gateway is away from Redis is lost to it.
	PubSub UserStreams = iota
	// Streams reads them as Redis Stream keys of the same names, written by
	// backends with XADD <key> [MAXLEN ~ n] * data <message JSON>. Every
	// gateway reads every entry (XREAD, no consumer group) and resumes after
	// the last entry it processed, so an outage loses nothing Redis still
	// holds.
	Streams
)

var userStreamsNames = [...]string{"pubsub", "streams"}

// String returns the USER_STREAMS spelling: "pubsub" or "streams".
func (u UserStreams) String() string {
	if int(u) < len(userStreamsNames) {
		return userStreamsNames[u]
	}
	return "unknown"
}

// ParseUserStreams reads a USER_STREAMS value: "pubsub" or "streams".
func ParseUserStreams(text string) (UserStreams, bool) {
	for index, name := range userStreamsNames {
		if text == name {
			return UserStreams(index), true
		}
	}
	return PubSub, false
}

const (
	// DefaultStreamBlock is how long one XREAD waits for new entries. It
	// bounds how long a silently dead connection goes unnoticed; shutdown
	// does not wait for it.
	DefaultStreamBlock = 2 * time.Second
	// DefaultStreamCount is the most entries one XREAD returns.
	DefaultStreamCount = 512

	// streamDataField is the entry field holding the message.
	streamDataField = "data"
)

// streamInfo is what XINFO STREAM tells about one key.
type streamInfo struct {
	// missing: the key does not exist.
	missing bool
	// length is the number of entries held.
	length int64
	// lastGenerated is the ID of the newest entry ever added.
	lastGenerated engine.EntryID
	// maxDeleted is the newest ID removed by XDEL (Redis 7); trimming does
	// not move it.
	maxDeleted engine.EntryID
	// trimmedThrough is the newest ID whose entry, if there was one, is no
	// longer held because older than every entry held: the one before the
	// first entry, or lastGenerated when none is held.
	trimmedThrough engine.EntryID
	// firstHeld is the ID of the oldest entry held (length > 0).
	firstHeld engine.EntryID
	// entriesAdded counts the entries ever added; it only grows unless the
	// key was deleted and written anew. counted: it is known (Redis 7, or
	// no key: nothing added).
	entriesAdded int64
	counted      bool
}

// streamReader follows one stream key. Only its goroutine uses it.
type streamReader struct {
	redis   *Redis
	client  rueidis.Client
	channel Channel
	stream  engine.Stream
	key     string

	// started: HistoryFrom has been called and last is where reading goes on.
	started bool
	// last is the newest entry handed to the router, or where history
	// starts when none has been yet.
	last engine.EntryID
	// newestRead is the newest entry read from Redis, handed over or not;
	// zero before the first.
	newestRead engine.EntryID
	// seen: the key existed at the last look, so its disappearance means
	// entries may be lost.
	seen bool
	// pendingGap: entries may have been lost where no ID says up to where;
	// history starts again just before the next entry read.
	pendingGap bool

	// The count of entries ever added up to last, when known, tells whether
	// entries trimmed past last were ones never read, or whether nothing
	// was ever there: a stream trimmed to very few entries is cut past the
	// last entry read without any loss. counted: anchorAdded entries were
	// ever added up to some ID, and readSinceAnchor have been read after it.
	counted         bool
	anchorAdded     int64
	readSinceAnchor int64
	entriesAdded    int64 // the highest entries-added seen
}

// readStream follows channel's stream key until ctx ends: it starts
// history where RecoveryWindow says, then reads in order, resuming after the
// last entry processed whenever the connection comes back.
func (r *Redis) readStream(ctx context.Context, client rueidis.Client, channel Channel) {
	reader := &streamReader{
		redis:   r,
		client:  client,
		channel: channel,
		stream:  channel.stream(),
		key:     r.channelNames[channel],
	}
	bit := uint32(1) << channel
	attached := false
	for {
		var err error
		caughtUp := false
		if !reader.started {
			err = reader.start(ctx)
		} else {
			// Until caught up the reads do not block, so that Ready turns true
			// as soon as the backlog is handed over, not a BLOCK later.
			caughtUp, err = reader.read(ctx, attached)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.markDown(bit, err.Error())
			attached = false
			if !sleep(ctx, r.nextDelay()) {
				return
			}
			continue
		}
		if caughtUp && !attached {
			attached = true
			r.markUp(bit)
		}
	}
}

// start decides where history begins: RecoveryWindow before now, or the
// stream's end when it is zero, and never before an entry Redis no longer
// holds (it would be missing from the replay).
func (s *streamReader) start(ctx context.Context) error {
	info, err := s.info(ctx)
	if err != nil {
		return err
	}
	var from engine.EntryID
	if window := s.redis.options.RecoveryWindow; window > 0 {
		if millis := time.Now().Add(-window).UnixMilli(); millis > 0 {
			from = engine.EntryID{Millis: uint64(millis)}
		}
	} else {
		// Not "$": that would be re-read after each reconnection, losing
		// what was added meanwhile.
		from = info.lastGenerated
	}
	if !info.missing {
		from = latest(from, info.maxDeleted, info.trimmedThrough)
	}
	s.redis.router.publisher.HistoryFrom(s.stream, from)
	s.last, s.started, s.seen = from, true, !info.missing
	s.entriesAdded = info.entriesAdded
	s.anchor(info)
	s.redis.logger.LogAttrs(ctx, slog.LevelInfo, "ingest: redis stream reading",
		slog.String("stream", s.key), slog.String("from", from.String()))
	return nil
}

// anchor starts counting when every entry ever added is at or before last.
func (s *streamReader) anchor(info streamInfo) {
	if info.counted && !entryBefore(s.last, info.lastGenerated) {
		s.counted, s.anchorAdded, s.readSinceAnchor = true, info.entriesAdded, 0
	}
}

// read reads the next entries after s.last, blocking for new ones when
// block, and reports whether it got all there were.
//
// XINFO STREAM is pipelined right after the XREAD: it shows what Redis
// removed up to the moment of the read, which tells whether entries between
// the last one processed and the first one read were trimmed away.
func (s *streamReader) read(ctx context.Context, block bool) (caughtUp bool, err error) {
	options := &s.redis.options
	read := s.client.B().Xread().Count(int64(options.StreamCount))
	var command rueidis.Completed
	timeout := options.ReadTimeout
	if block {
		command = read.Block(options.StreamBlock.Milliseconds()).Streams().Key(s.key).Id(s.last.String()).Build()
		timeout += options.StreamBlock
	} else {
		command = read.Streams().Key(s.key).Id(s.last.String()).Build()
	}
	info := s.client.B().XinfoStream().Key(s.key).Build()
	// The timer also ends a read on a connection that died silently. Not a
	// context deadline: with one, rueidis waits for the reply synchronously
	// until the deadline and does not see a cancellation, which would hold
	// shutdown up for a whole BLOCK.
	readContext, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(timeout, cancel)
	defer timer.Stop()
	// Pinned: rueidis recycles a command once it returns, and an aborted
	// read may still be on its way to the server.
	results := s.client.DoMulti(readContext, command.Pin(), info.Pin())
	batches, err := results[0].AsXReadSlices()
	if err != nil && !rueidis.IsRedisNil(err) {
		return false, fmt.Errorf("ingest: xread %s: %w", s.key, err)
	}
	stream, err := parseStreamInfo(results[1])
	if err != nil {
		return false, fmt.Errorf("ingest: xinfo stream %s: %w", s.key, err)
	}
	received := time.Now()
	entries := batches[s.key]
	s.checkLoss(ctx, stream, entries)
	s.handle(entries, received)
	if s.counted {
		s.readSinceAnchor += int64(len(entries))
	}
	s.anchor(stream)
	var lag int64
	if !stream.missing && entryBefore(s.last, stream.lastGenerated) {
		lag = int64(stream.lastGenerated.Millis) - int64(s.last.Millis)
	}
	s.redis.streamLag[s.channel].Store(lag)
	return len(entries) < options.StreamCount, nil
}

// checkLoss compares what Redis no longer holds with what was processed.
// Entries after s.last that are gone cannot be replayed: HistoryFrom then
// tells the engine that history restarts after them. When it cannot be
// told whether such entries existed, it assumes they did: a needless gap
// costs a client a resynchronisation, a missed one a silent loss.
func (s *streamReader) checkLoss(ctx context.Context, info streamInfo, entries []rueidis.XRangeSlice) {
	if info.missing {
		if s.seen {
			s.pendingGap, s.counted = true, false
			s.warn(ctx, "ingest: redis stream disappeared, entries may be lost", "")
		}
		s.seen, s.entriesAdded = false, 0
		return
	}
	if entryBefore(info.lastGenerated, s.newestRead) || info.entriesAdded < s.entriesAdded {
		// Deleted and written anew, or a restart lost writes we had read:
		// nothing says what else was lost.
		if !s.pendingGap {
			s.warn(ctx, "ingest: redis stream was recreated, entries may be lost", info.lastGenerated.String())
		}
		s.pendingGap, s.counted = true, false
	}
	s.seen, s.entriesAdded = true, info.entriesAdded

	gap := latest(s.last, info.maxDeleted)
	if entryBefore(s.last, info.trimmedThrough) && s.trimmedUnread(info, entries) {
		gap = latest(gap, info.trimmedThrough)
	}
	if len(entries) > 0 {
		if first, ok := engine.ParseEntryID(entries[0].ID); ok {
			if s.pendingGap {
				gap = latest(gap, entryBeforeOf(first))
			}
			// A bound at or past the first entry read comes from a removal
			// right after the read: the entries read are in hand.
			if !entryBefore(gap, first) {
				gap = entryBeforeOf(first)
			}
		}
		s.pendingGap = false
	}
	if !entryBefore(s.last, gap) {
		return
	}
	s.redis.streamGaps[s.channel].Add(1)
	s.warn(ctx, "ingest: redis stream entries were removed before being read", gap.String())
	s.redis.router.publisher.HistoryFrom(s.stream, gap)
	s.last, s.counted = gap, false
	if s.channel == ChannelPositions {
		s.redis.reseedPositions(ctx, false)
	}
}

// trimmedUnread reports whether entries added after s.last were trimmed
// before being read, when the stream no longer holds s.last.
func (s *streamReader) trimmedUnread(info streamInfo, entries []rueidis.XRangeSlice) bool {
	if !s.counted {
		return true
	}
	// Every entry held is after s.last: those not in entries were added
	// after the read.
	var heldRead int64
	for _, entry := range entries {
		if id, ok := engine.ParseEntryID(entry.ID); ok && info.length > 0 && !entryBefore(id, info.firstHeld) {
			heldRead++
		}
	}
	unreadHeld := info.length - heldRead
	added := info.entriesAdded - s.anchorAdded
	return added-s.readSinceAnchor-int64(len(entries))-unreadHeld > 0
}

// handle hands entries read at received to the router in order.
func (s *streamReader) handle(entries []rueidis.XRangeSlice, received time.Time) {
	defer func() {
		if len(entries) > 0 {
			// The ID's time is the Redis server's clock when the entry was
			// added: the delay includes the skew between the two clocks.
			s.redis.streamReadDelay[s.channel].Store(max(received.UnixMilli()-int64(s.newestRead.Millis), 0))
		}
	}()
	for _, entry := range entries {
		id, ok := engine.ParseEntryID(entry.ID)
		if !ok || !entryBefore(s.last, id) {
			continue // Redis never sends these; ids must increase for the engine
		}
		s.last, s.newestRead = id, id
		s.redis.streamEntries[s.channel].Add(1)
		data, found := "", 0
		for _, field := range entry.FieldValues {
			if field.Field == streamDataField {
				data, found = field.Value, found+1
			}
		}
		if found != 1 {
			s.redis.router.reject(s.channel, ReasonMissingData, "")
			continue
		}
		s.redis.router.HandleEntryReceived(s.channel, []byte(data), id, received)
	}
}

func (s *streamReader) info(ctx context.Context) (streamInfo, error) {
	readContext, cancel := context.WithTimeout(ctx, s.redis.options.ReadTimeout)
	defer cancel()
	info, err := parseStreamInfo(s.client.Do(readContext, s.client.B().XinfoStream().Key(s.key).Build().Pin()))
	if err != nil {
		return info, fmt.Errorf("ingest: xinfo stream %s: %w", s.key, err)
	}
	return info, nil
}

func (s *streamReader) warn(ctx context.Context, message, id string) {
	attrs := []slog.Attr{slog.String("stream", s.key), slog.String("last", s.last.String())}
	if id != "" {
		attrs = append(attrs, slog.String("id", id))
	}
	s.redis.logger.LogAttrs(ctx, slog.LevelWarn, message, attrs...)
}

// parseStreamInfo reads an XINFO STREAM reply; a missing key is not an
// error. Fields Redis 6 lacks stay zero.
func parseStreamInfo(result rueidis.RedisResult) (streamInfo, error) {
	fields, err := result.AsMap()
	if err != nil {
		if redisError, ok := rueidis.IsRedisErr(err); ok && strings.Contains(strings.ToLower(redisError.Error()), "no such key") {
			return streamInfo{missing: true, counted: true}, nil
		}
		return streamInfo{}, err
	}
	var info streamInfo
	entryID := func(name string) engine.EntryID {
		if value, ok := fields[name]; ok {
			if text, err := value.ToString(); err == nil {
				id, _ := engine.ParseEntryID(text)
				return id
			}
		}
		return engine.EntryID{}
	}
	info.lastGenerated = entryID("last-generated-id")
	info.maxDeleted = entryID("max-deleted-entry-id")
	if value, ok := fields["length"]; ok {
		info.length, _ = value.AsInt64()
	}
	if value, ok := fields["entries-added"]; ok {
		info.entriesAdded, err = value.AsInt64()
		info.counted = err == nil
	}
	info.trimmedThrough = info.lastGenerated
	if value, ok := fields["first-entry"]; ok && info.length > 0 {
		if first, err := value.ToArray(); err == nil && len(first) > 0 {
			if text, err := first[0].ToString(); err == nil {
				if id, ok := engine.ParseEntryID(text); ok {
					info.firstHeld, info.trimmedThrough = id, entryBeforeOf(id)
				}
			}
		}
	}
	return info, nil
}

// latest returns the newest of ids.
func latest(ids ...engine.EntryID) engine.EntryID {
	var newest engine.EntryID
	for _, id := range ids {
		if entryBefore(newest, id) {
			newest = id
		}
	}
	return newest
}

// entryBefore reports whether a comes before b.
func entryBefore(a, b engine.EntryID) bool {
	return a.Millis < b.Millis || (a.Millis == b.Millis && a.Seq < b.Seq)
}

// entryBeforeOf returns the greatest possible ID below id (id itself for
// the zero ID).
func entryBeforeOf(id engine.EntryID) engine.EntryID {
	switch {
	case id.Seq > 0:
		return engine.EntryID{Millis: id.Millis, Seq: id.Seq - 1}
	case id.Millis > 0:
		return engine.EntryID{Millis: id.Millis - 1, Seq: math.MaxUint64}
	}
	return id
}
