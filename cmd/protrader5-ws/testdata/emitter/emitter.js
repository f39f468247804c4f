// Plays a Node.js backend that pushes with the stock @socket.io/redis-emitter,
// and the stock socket.io-client sockets that should (or should not) get
// what it emits. The Go test (emitter_e2e_test.go) starts two gateways on
// one Redis, runs this, and checks what every socket received.
//
//   node emitter.js '<JSON spec>'
//
// spec: {redisURL, key, gateways: [url...], expected: n,
//        sockets: [{name, gateway, token, orders, symbols, recover}]}
// It prints one JSON line: {received: {name: [[event, ...args], ...]},
// volatile: {name: count}, disconnects: {name: reason}, recovered} or
// {failure}. The socket with recover set reconnects by itself; its
// connection is cut while an order:update is emitted to user:u4, and
// recovered says whether its reconnection recovered the session.
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";
import { io } from "socket.io-client";

const spec = JSON.parse(process.argv[2]);
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const result = { received: {}, volatile: {}, disconnects: {} };
let finished = false;

function finish(extra = {}) {
  if (finished) return;
  finished = true;
  Object.assign(result, extra);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}
setTimeout(() => finish({ failure: "timed out" }), 40000);

const sockets = {};

async function connect({ name, gateway, token, orders, symbols, recover }) {
  const socket = io(spec.gateways[gateway], {
    transports: ["websocket"],
    auth: { token },
    reconnection: Boolean(recover),
    // Long enough for the order emitted after the cut to reach the gateway
    // first, so that it comes back by replay rather than live.
    reconnectionDelay: 500,
    randomizationFactor: 0,
  });
  sockets[name] = socket;
  result.received[name] = [];
  result.volatile[name] = 0;
  socket.onAny((event, ...args) => {
    if (event === "volatile:ping") {
      result.volatile[name]++;
      return;
    }
    result.received[name].push([event, ...args]);
  });
  socket.on("disconnect", (reason) => {
    result.disconnects[name] = reason;
  });
  await new Promise((resolve, reject) => {
    socket.on("connect", resolve);
    socket.on("connect_error", (err) => reject(new Error(`${name}: ${err.message}`)));
  });
  if (orders) {
    const ack = await socket.emitWithAck("subscribe:orders");
    if (!ack.ok) throw new Error(`${name}: subscribe:orders ${JSON.stringify(ack)}`);
  }
  if (symbols.length > 0) {
    const ack = await socket.emitWithAck("subscribe:market", { symbols });
    if (!ack.ok) throw new Error(`${name}: subscribe:market ${JSON.stringify(ack)}`);
  }
  return socket;
}

const total = () => Object.values(result.received).reduce((sum, events) => sum + events.length, 0);

async function waitFor(condition, timeout) {
  const deadline = Date.now() + timeout;
  while (!condition() && Date.now() < deadline) await wait(20);
}

try {
  await Promise.all(spec.sockets.map(connect));
  const redis = createClient({ url: spec.redisURL });
  await redis.connect();
  const emitter = new Emitter(redis, { key: spec.key });

  // Not notepack, then a message cut short: counted, and the gateways go on.
  await redis.publish(`${spec.key}#/#`, Buffer.from([0xc1]));
  await redis.publish(`${spec.key}#/#user:u1#`, Buffer.from([0x93, 0xa7, 0x65, 0x6d, 0x69]));
  // Binary data: refused, never delivered corrupt.
  emitter.to("user:u1").emit("file", Buffer.from([1, 2, 3]));
  // A room outside the gateway's model.
  emitter.to("admins").emit("admin", { x: 1 });

  emitter.to("user:u1").emit("order:update", { orderId: "o1", userId: "u1", status: "NEW" });
  emitter.to("user:u1").emit("account:alert", {
    level: "high",
    at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
    gone: undefined,
    list: [1, undefined, "x"],
    big: 2 ** 53,
    fraction: 0.1,
    negative: -5,
  });
  emitter.to("user:u1:orders").emit("order:update", { orderId: "o2", userId: "u1", status: "FILLED" });
  emitter.to("market:BTCUSD").emit("market:data", { symbol: "BTCUSD", price: 50001.5, seq: 1 });
  emitter.to("market:BTCUSD").except("user:u2").emit("market:news", { headline: "h" });
  emitter.emit("system:announcement", { text: "hi" });
  emitter.except("user:u3").emit("system:maintenance", { minutes: 5 });
  emitter.to("user:u2").to("market:BTCUSD").emit("multi", "x", 2);
  emitter.to("user:u9").emit("nobody", {});
  emitter.to("user:u2").emit("notification", { id: "n1", userId: "u2", at: new Date(0) });
  emitter.to("user:u2").emit("order:update", { orderId: "o3", userId: "u2", status: "NEW" });

  await waitFor(() => total() >= spec.expected, 15000);
  await wait(500); // duplicates, or events for sockets that should get none

  // Every socket is idle now, so a volatile event is writable at once.
  emitter.volatile.to("user:u3").emit("volatile:ping", 1);
  await waitFor(() => Object.values(result.volatile).some((n) => n > 0), 5000);
  await wait(300);

  emitter.in("user:u3").disconnectSockets();
  await waitFor(() => result.disconnects.E !== undefined, 5000);
  await wait(300);

  // A cut connection: the order emitted meanwhile is replayed on recovery.
  const recovering = sockets.R;
  const reconnected = new Promise((resolve) => recovering.once("connect", () => resolve(recovering.recovered)));
  const before = result.received.R.length;
  recovering.io.engine.close();
  emitter.to("user:u4").emit("order:update", { orderId: "o4", userId: "u4", status: "NEW" });
  result.recovered = await Promise.race([reconnected, wait(10000).then(() => "no reconnection")]);
  await waitFor(() => result.received.R.length > before, 5000);
  await wait(300);
  await redis.quit();
  finish();
} catch (err) {
  finish({ failure: String(err && err.stack ? err.stack : err) });
}
