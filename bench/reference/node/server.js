'use strict';
// Reference: the Node.js socket.io 4.8 server the Go gateway replaces, written
// the way a competent Node developer would (no deliberate slowness), so the
// benchmarks compare against an honest baseline. It serves the same events,
// payloads, JWT authentication and Redis channels as the gateway (the
// repository's docs/protocol.md and docs/ingest.md) except live P&L,
// polling-specific limits and TLS, which the load scenarios do not exercise.
//
// Environment: PORT (4000), JWT_SECRET, REDIS_URL (redis://127.0.0.1:6379),
// PING_INTERVAL (25000), PING_TIMEOUT (20000), MAX_HTTP_BUFFER_SIZE (1e6),
// MAX_SYMBOLS_PER_SOCKET (200), REDIS_PREFIX (''), CORS_ORIGIN ('*'),
// RECOVERY ('' or 'streams'), RECOVERY_WINDOW_MS (120000),
// ADAPTER_STREAM_MAXLEN (600000).
//
// RECOVERY=streams is how a Node shop would add recovery: socket.io's
// connectionStateRecovery with @socket.io/redis-streams-adapter, which stores
// every broadcast in a Redis stream and sessions in Redis. Backends then
// append user messages to the order:updates, position:updates and
// notifications streams (field data); the processes share them through a
// consumer group, so each entry is handled by one process, which emits it to
// the user's room through the adapter (the adapter gives it its offset and
// every process delivers it to its own sockets). Ticks stay on Pub/Sub with
// local emits. Known limits of the adapter, left as they are: a session is
// saved only when its socket disconnects cleanly, so the clients of a
// process that crashes come back as fresh sessions; and entries of one user
// emitted by different processes may reach the adapter stream out of order.

const http = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createAdapter: createStreamsAdapter } = require('@socket.io/redis-streams-adapter');
const os = require('os');
const { createClient } = require('redis');
const jwt = require('jsonwebtoken');

const port = parseInt(process.env.PORT || '4000', 10);
const jwtSecret = process.env.JWT_SECRET || '';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const pingInterval = parseInt(process.env.PING_INTERVAL || '25000', 10);
const pingTimeout = parseInt(process.env.PING_TIMEOUT || '20000', 10);
const maxHttpBufferSize = parseInt(process.env.MAX_HTTP_BUFFER_SIZE || '1000000', 10);
const maxSymbols = parseInt(process.env.MAX_SYMBOLS_PER_SOCKET || '200', 10);
const prefix = process.env.REDIS_PREFIX || '';
const corsOrigin = (process.env.CORS_ORIGIN || '*').split(',');
const recovery = process.env.RECOVERY || '';
const recoveryWindow = parseInt(process.env.RECOVERY_WINDOW_MS || '120000', 10);
// Room for the recovery window at 5,000 broadcasts/s, so that a session is
// never refused because its offset was trimmed.
const adapterStreamMaxLen = parseInt(process.env.ADAPTER_STREAM_MAXLEN || '600000', 10);

if (recovery !== '' && recovery !== 'streams') {
  console.error(`RECOVERY must be empty or "streams", not ${recovery}`);
  process.exit(1);
}

if (!jwtSecret) {
  console.error('JWT_SECRET is required');
  process.exit(1);
}

const symbolPattern = /^[A-Z0-9][A-Z0-9._:/-]{0,31}$/;
// The latest tick of each symbol seen by this process, sent to new subscribers.
const lastTicks = new Map();

const httpServer = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url.split('?')[0] === '/health') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', timestamp: new Date().toISOString() }));
    return;
  }
  // socket.io handles its own path before this listener runs.
  if (!req.url.startsWith('/socket.io/')) {
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  }
});

const io = new Server(httpServer, {
  pingInterval,
  pingTimeout,
  maxHttpBufferSize,
  cors: { origin: corsOrigin.length === 1 ? corsOrigin[0] : corsOrigin },
  ...(recovery === 'streams'
    ? { connectionStateRecovery: { maxDisconnectionDuration: recoveryWindow, skipMiddlewares: true } }
    : {}),
});

function authError(code) {
  const err = new Error('Authentication failed');
  err.data = { code };
  return err;
}

io.use((socket, next) => {
  let token = socket.handshake.auth && socket.handshake.auth.token;
  const header = socket.handshake.headers.authorization;
  if (!token && header && header.startsWith('Bearer ')) token = header.slice(7);
  if (!token || typeof token !== 'string') return next(authError('TOKEN_MISSING'));
  let claims;
  try {
    claims = jwt.verify(token, jwtSecret, { algorithms: ['HS256'], clockTolerance: 5 });
  } catch (err) {
    return next(authError(err.name === 'TokenExpiredError' ? 'TOKEN_EXPIRED' : 'TOKEN_INVALID'));
  }
  const userId = claims.sub || claims.userId;
  if (!claims.exp || !userId) return next(authError('TOKEN_INVALID'));
  // socket.data is what connection state recovery saves with a session, so
  // it holds plain values only (the expiry timer is set on connection).
  socket.data.userId = String(userId);
  // No session streams past its token (docs/protocol.md#authentication):
  // the expiry timer is set on connection.
  socket.data.expiresAt = claims.exp * 1000;
  next();
});

// The expiry timer of each socket, kept out of socket.data.
const expiryTimers = new WeakMap();

function refuse(socket, event, ack, code, message, extra) {
  const error = Object.assign({ code, message }, extra || {});
  if (typeof ack === 'function') ack({ ok: false, error });
  else socket.emit('error', Object.assign({ event }, error));
}

// validSymbols returns the upper-cased symbols, or null after refusing.
function validSymbols(socket, event, payload, ack) {
  if (!payload || !Array.isArray(payload.symbols)) {
    refuse(socket, event, ack, 'INVALID_PAYLOAD', 'symbols must be an array');
    return null;
  }
  const symbols = [];
  const invalid = [];
  for (const raw of payload.symbols) {
    const symbol = typeof raw === 'string' ? raw.toUpperCase() : '';
    if (symbolPattern.test(symbol)) symbols.push(symbol);
    else invalid.push(raw);
  }
  if (invalid.length > 0) {
    refuse(socket, event, ack, 'INVALID_SYMBOL', 'invalid symbols', { symbols: invalid });
    return null;
  }
  return symbols;
}

function subscribedSymbols(socket) {
  const symbols = [];
  for (const room of socket.rooms) if (room.startsWith('market:')) symbols.push(room.slice(7));
  return symbols;
}

function userRoom(socket, stream) {
  return `user:${socket.data.userId}:${stream}`;
}

io.on('connection', (socket) => {
  // No session streams past its token; a recovered socket skipped the
  // middleware and keeps the expiry of the token it came with.
  const remaining = socket.data.expiresAt - Date.now();
  expiryTimers.set(socket, setTimeout(() => socket.disconnect(true), Math.max(remaining, 0)));

  socket.on('subscribe:market', (payload, ack) => {
    if (typeof payload === 'function') [payload, ack] = [undefined, payload];
    const symbols = validSymbols(socket, 'subscribe:market', payload, ack);
    if (!symbols) return;
    const fresh = symbols.filter((s) => !socket.rooms.has(`market:${s}`));
    if (subscribedSymbols(socket).length + fresh.length > maxSymbols) {
      refuse(socket, 'subscribe:market', ack, 'TOO_MANY_SYMBOLS', `at most ${maxSymbols} symbols`);
      return;
    }
    socket.join(fresh.map((s) => `market:${s}`));
    if (typeof ack === 'function') ack({ ok: true, symbols: subscribedSymbols(socket) });
    for (const symbol of fresh) {
      const tick = lastTicks.get(symbol);
      if (tick) socket.emit('market:data', tick);
    }
  });

  socket.on('unsubscribe:market', (payload, ack) => {
    if (typeof payload === 'function') [payload, ack] = [undefined, payload];
    const symbols = validSymbols(socket, 'unsubscribe:market', payload, ack);
    if (!symbols) return;
    for (const symbol of symbols) socket.leave(`market:${symbol}`);
    if (typeof ack === 'function') ack({ ok: true, symbols: subscribedSymbols(socket) });
  });

  for (const stream of ['orders', 'positions', 'notifications']) {
    socket.on(`subscribe:${stream}`, async (...args) => {
      const ack = args.find((a) => typeof a === 'function');
      socket.join(userRoom(socket, stream));
      if (typeof ack === 'function') ack({ ok: true });
      if (stream === 'positions') {
        try {
          const positions = await commands.hGetAll(`${prefix}positions:${socket.data.userId}`);
          for (const value of Object.values(positions)) socket.emit('position:update', JSON.parse(value));
        } catch (err) {
          console.error('positions snapshot failed', err.message);
        }
      }
    });
    socket.on(`unsubscribe:${stream}`, (...args) => {
      const ack = args.find((a) => typeof a === 'function');
      socket.leave(userRoom(socket, stream));
      if (typeof ack === 'function') ack({ ok: true });
    });
  }

  socket.on('disconnect', () => clearTimeout(expiryTimers.get(socket)));
});

// Every process subscribes to the ingest channels itself, so each emits only
// to its own sockets (io.local): emitting through the adapter as well would
// deliver every message once per process. The adapter still carries
// cross-process operations (fetchSockets, emits from handlers). With
// RECOVERY=streams, user messages come from a consumer group instead (one
// process per entry) and go through the adapter (viaAdapter), which is what
// stores them for recovery.
function route(channel, message, viaAdapter) {
  let parsed;
  try {
    parsed = JSON.parse(message);
  } catch {
    return;
  }
  if (channel === 'market:ticks') {
    for (const tick of Array.isArray(parsed) ? parsed : [parsed]) {
      if (!tick || typeof tick.symbol !== 'string' || !symbolPattern.test(tick.symbol)) continue;
      lastTicks.set(tick.symbol, tick);
      io.local.to(`market:${tick.symbol}`).emit('market:data', tick);
    }
    return;
  }
  if (!parsed || (typeof parsed.userId !== 'string' && typeof parsed.userId !== 'number')) return;
  const stream = { 'order:updates': 'orders', 'position:updates': 'positions', notifications: 'notifications' }[channel];
  const event = { orders: 'order:update', positions: 'position:update', notifications: 'notification' }[stream];
  (viaAdapter ? io : io.local).to(`user:${parsed.userId}:${stream}`).emit(event, parsed);
}

const userStreams = ['order:updates', 'position:updates', 'notifications'];
const consumerGroup = 'reference';
const consumerName = `${os.hostname()}-${process.pid}`;

// consumeUserStreams reads the user streams through the consumer group for
// as long as the process runs: each entry is emitted, then acknowledged.
async function consumeUserStreams(reader) {
  for (const channel of userStreams) {
    try {
      await reader.xGroupCreate(prefix + channel, consumerGroup, '$', { MKSTREAM: true });
    } catch (err) {
      if (!String(err.message).includes('BUSYGROUP')) throw err;
    }
  }
  const streams = userStreams.map((channel) => ({ key: prefix + channel, id: '>' }));
  for (;;) {
    let response;
    try {
      response = await reader.xReadGroup(consumerGroup, consumerName, streams, { COUNT: 500, BLOCK: 1000 });
    } catch (err) {
      console.error('xreadgroup failed', err.message);
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    for (const { name, messages } of response || []) {
      handleEntries(name.slice(prefix.length), messages);
    }
  }
}

function handleEntries(channel, messages) {
  const ids = [];
  for (const entry of messages) {
    if (!entry) continue; // deleted while pending
    if (entry.message && typeof entry.message.data === 'string') route(channel, entry.message.data, true);
    ids.push(entry.id);
  }
  if (ids.length > 0) {
    commands.xAck(prefix + channel, consumerGroup, ids).catch((err) => console.error('xack failed', err.message));
  }
}

// claimAbandoned takes over, every few seconds, the entries another process
// read but never acknowledged (it died in between), so that a crash loses
// none of them; one that died after emitting but before acknowledging has
// them emitted twice.
function claimAbandoned() {
  setInterval(async () => {
    for (const channel of userStreams) {
      try {
        const claimed = await commands.xAutoClaim(prefix + channel, consumerGroup, consumerName, 10000, '0-0', { COUNT: 1000 });
        handleEntries(channel, claimed.messages);
      } catch (err) {
        console.error('xautoclaim failed', err.message);
      }
    }
  }, 5000).unref();
}

const commands = createClient({ url: redisUrl });
const adapterPub = commands.duplicate();
const adapterSub = commands.duplicate();
const ingest = commands.duplicate();

async function main() {
  for (const client of [commands, adapterPub, adapterSub, ingest]) {
    client.on('error', (err) => console.error('redis:', err.message));
    await client.connect();
  }
  if (recovery === 'streams') {
    io.adapter(createStreamsAdapter(adapterPub, { maxLen: adapterStreamMaxLen }));
    await ingest.subscribe(prefix + 'market:ticks', (message) => route('market:ticks', message, false));
    const reader = commands.duplicate(); // XREADGROUP blocks its connection
    reader.on('error', (err) => console.error('redis:', err.message));
    await reader.connect();
    consumeUserStreams(reader).catch((err) => {
      console.error('user streams:', err);
      process.exit(1);
    });
    claimAbandoned();
  } else {
    io.adapter(createAdapter(adapterPub, adapterSub));
    for (const channel of ['market:ticks', ...userStreams]) {
      await ingest.subscribe(prefix + channel, (message) => route(channel, message, false));
    }
  }
  httpServer.listen(port, () => console.log(`reference listening on ${port}`));
}

function shutdown() {
  io.close();
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
