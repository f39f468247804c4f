// Package ingest is where the gateway's messages come from (CONTRACT §6):
// Redis Pub/Sub, or the embedded in-process bus with an optional demo feed.
// Whatever the source, every message goes through one Router, which
// validates it, counts it, computes live P&L (CONTRACT §4) and hands it to
// the engine through engine.Publisher. Ingest never writes to Redis.
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
// objects with a non-empty "userId" of at most engine.MaxUserIDBytes, the
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
//   - Router (required), Logger: slog.Default().
package ingest
