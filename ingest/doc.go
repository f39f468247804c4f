// Package ingest is where the gateway's messages come from
// (docs/ingest.md): Redis Pub/Sub, or the embedded in-process bus with an
// optional demo feed. Whatever the source, every message goes through one
// Router, which validates it, counts it, computes live P&L
// (docs/ingest.md#live-pl) and hands it to the engine through
// engine.Publisher. The message sources never write to Redis; only the
// session store (RedisSessions, used with Streams) does.
//
// # Router
//
// Router.Handle takes one message of a Channel ("market:ticks",
// "order:updates", "position:updates", "notifications"; names without
// REDIS_PREFIX). A message must be UTF-8 and one complete JSON value
// (sonic.Valid, plus no raw control character inside a string, which sonic
// lets through and JSON.parse refuses). Ticks are an object or an array of
// objects whose "symbol" matches ^[A-Z0-9][A-Z0-9._:/-]{0,31}$; fields are
// found without decoding the rest, and each tick's bytes go to PublishTick
// untouched (array elements are subslices of the message). User messages are
// objects with a non-empty "userId" of at most auth.MaxUserIDBytes, the
// limit authentication applies to a token's user id. Member names are
// compared unescaped, as a browser's JSON.parse compares them: "user\u0049d"
// is "userId". A "symbol" or "userId" given twice at the top level, however
// spelled, is rejected: JSON.parse keeps the last, and routing on another
// would deliver one user's message to another. Rejected messages are counted
// per channel and Reason (Router.Stats, Router.Rejects) and logged at most
// once per WarnInterval per channel with the number suppressed.
//
// Router.HandleEntry takes a user message read from a Redis stream together
// with its entry ID, validates it as Handle does and hands it over with
// PublishUserEntry, so that the engine can name it in recovery offsets that
// mean the same on every node. Handle uses PublishUser.
//
// # Emitter
//
// Emitter takes what backends publish with @socket.io/redis-emitter
// (docs/ingest.md#socketioredis-emitter): notepack MessagePack broadcasts
// [uid, {type, data, nsp}, {rooms, except, flags}], read with
// vmihailenco/msgpack and turned into the JSON a Node.js Socket.IO server
// would send (notepack.go), and JSON requests. Rooms "user:{id}",
// "user:{id}:orders|positions|notifications" and "market:{SYMBOL}" map onto
// the engine's model (engine.Room); a stream event for one user and a
// valid tick for its market room go the channels' way through the Router,
// everything else to engine.RoomPublisher as given. Redis subscribes to its
// channels when RedisOptions.Emitter is set (emitter_redis.go).
//
// RouterOptions:
//
//   - MaxMessageBytes: DefaultMaxMessageBytes (1 MiB). Larger messages are
//     rejected before parsing.
//   - PNLInterval: DefaultPNLInterval (250ms). The shortest time between two
//     live P&L refreshes of one position; shorter means fresher P&L and more
//     traffic.
//   - WarnInterval: DefaultWarnInterval (1s) between two warnings per channel.
//   - Now: time.Now; tests inject a clock.
//   - Logger: slog.Default().
//
// # Live P&L
//
// Positions come from "position:updates" (always delivered as received with
// PublishUser) and from snapshots: read on subscribe:positions, a snapshot
// is merged into what the updates told (a position not yet written to the
// hash is kept); after an outage (Router.SeedPositions) it replaces the
// user's known set, since updates published meanwhile were lost. They are indexed by symbol: a tick of a symbol nobody
// holds costs one atomic load. For each held position whose price changed
// and whose last refresh is PNLInterval old, a tick publishes the position
// with currentPrice, unrealizedPnL and unrealizedPnLPercent replaced
// (rounded to 8 decimals) via PublishPositionRefresh, only for users with a
// positions subscriber on this node. Quantity 0 forgets a position. A price
// change inside the interval is published by the next tick after it, not by
// a timer: with no further tick the last change is not shown.
//
// # Sources
//
// Source is what cmd runs and asks for readiness. Bus is the embedded
// source: Publish is a synchronous Router.Handle, and as an
// engine.SnapshotSource it answers positions from the router's state.
// DemoFeed publishes on a Bus; DemoOptions: TickInterval
// DefaultDemoTickInterval (250ms per symbol), EventInterval
// DefaultDemoEventInterval (3s between rounds of order, position and
// notification messages per user), UserID DefaultDemoUserID ("demo") plus
// UserIDs, Seed (0 = from the clock).
//
// The Bus hands user messages over with PublishUser, like Pub/Sub: there
// is no Redis, so whatever the mode, history and recovery offsets are this
// node's own.
//
// Redis is the Redis source. It needs nothing from the server at
// construction: Run connects, retries while Redis is down (Ready false,
// reason "redis_disconnected"), and subscribes each channel on a dedicated
// rueidis client (SSUBSCRIBE when Sharded). rueidis resubscribes by itself
// after a drop; messages published meanwhile are lost, so after every
// resubscription the positions of users the router tracks are read again
// and delivered to this node's subscribers, and each user channel's
// (re)subscription calls engine HistoryFrom with the zero ID, in order with
// the messages, so that recovery never claims to replay across the loss. A
// second client reads snapshots (engine.SnapshotSource) with server-assisted
// client-side caching.
//
// # Streams
//
// With UserStreams Streams (USER_STREAMS=streams), "order:updates",
// "position:updates" and "notifications" are Redis Stream keys of those
// names (after Prefix); backends write XADD <key> [MAXLEN ~ n] * data
// <message JSON>. "market:ticks" stays Pub/Sub. Every gateway reads every
// entry, with no consumer group: one goroutine per key (each key may live on
// its own cluster slot) runs XREAD COUNT StreamCount BLOCK StreamBlock on a
// third rueidis client, whose blocking reads each hold a pooled connection
// of their own. An entry's "data" field is the message, routed by
// Router.HandleEntry with the entry's ID; an entry without exactly one
// "data" field is rejected as missing_data, other fields are ignored.
//
// At start a reader begins RecoveryWindow before now (an ID "ms-0"), or at
// the stream's last ID when the window is zero (not "$", which a reconnection
// would re-read and lose what came meanwhile), and calls HistoryFrom with
// that ID first. It resumes after the last entry it processed after any
// connection loss or Redis restart, so an outage loses nothing Redis still
// holds. Ready is false until every reader has handed over everything up to
// the stream's end once since the last loss.
//
// Entries after the last processed one may be gone before they are read
// (trimmed by MAXLEN, deleted, or lost with Redis's memory). XINFO STREAM,
// pipelined after each XREAD, tells: XDEL raises max-deleted-entry-id
// (Redis 7), trimming moves the first entry, and entries-added counts what
// was ever added, so that a stream trimmed past the last entry read without
// any unread loss is not taken for a gap. A gap calls HistoryFrom with an ID
// at or after the last entry lost and before the next one handed over, and
// positions of tracked users are read again (without delivery) so that live
// P&L does not go on from closed positions. When what was lost cannot be
// counted (Redis 6, a stream deleted or recreated, a trim during the
// backfill) it is taken as lost: a needless gap costs clients a
// resynchronisation, a missed one a silent loss. The same bound applies to
// the start: history never starts before an entry Redis no longer holds.
// Stream positions live in the gateway only; a restarted gateway starts
// again from RecoveryWindow.
//
// RedisOptions:
//
//   - URL (REDIS_URL): redis:// or rediss://, parsed by rueidis.ParseURL.
//   - Prefix (REDIS_PREFIX): before every channel and key name. Empty: none.
//   - Sharded: SSUBSCRIBE (Redis 7 sharded Pub/Sub, Redis Cluster);
//     publishers must SPUBLISH. False: SUBSCRIBE.
//   - TLSCAFile (REDIS_TLS_CA_FILE): PEM CAs for rediss://. Empty: system pool.
//   - CacheSizeEachConn: DefaultCacheSizeEachConn (16 MiB; rueidis's own
//     default is 128 MiB). A server without RESP3/CLIENT TRACKING turns
//     caching off with one warning.
//   - CacheTTL: DefaultCacheTTL (1 min); invalidation is immediate, the TTL
//     only bounds memory held by keys nobody reads again.
//   - ReadTimeout: DefaultReadTimeout (2s) per snapshot read.
//   - QueueLength: DefaultQueueLength (65536) messages between the Pub/Sub
//     reader and the router. When full the reader waits rather than drop
//     (order updates must not be lost); Redis then buffers, and past its
//     client-output-buffer-limit it disconnects us, which is logged.
//   - MaxReconnectDelay: DefaultMaxReconnectDelay (1s); waits double from
//     10ms with jitter and restart small after each resubscription.
//   - UserStreams (USER_STREAMS): PubSub (default) or Streams.
//   - RecoveryWindow (RECOVERY_WINDOW_MS): how far back Streams readers
//     start. Zero: at each stream's end.
//   - StreamBlock: DefaultStreamBlock (2s) per XREAD; it also bounds how long
//     a silently dead connection goes unseen. Shutdown does not wait for it.
//   - StreamCount: DefaultStreamCount (512) entries per XREAD.
//   - Router (required), Logger: slog.Default().
package ingest
