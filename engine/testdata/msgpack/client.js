// Drives the stock socket.io-client with socket.io-msgpack-parser against
// the engine for msgpack_client_test.go and prints one JSON line with what
// it saw.
//
//   node client.js <url> <token> <websocket|polling|default> <user>
//
// It connects with its token in auth, subscribes to BTCUSD, orders and
// notifications with acks, asks the test (by a line on stdout) for one
// order and one notification for <user>, and waits for them and for a tick
// over the final transport. Then it sends two bad events: one with an ack
// (the refusal comes in the ack) and one without (it comes as an "error"
// event). A second client with a bad token must get connect_error.
import { io } from "socket.io-client";
import parser from "socket.io-msgpack-parser";

const [url, token, mode, user] = process.argv.slice(2);
const options = { auth: { token }, reconnection: false, timeout: 5000, parser };
if (mode !== "default") {
  options.transports = [mode];
}
const want = mode === "polling" ? "polling" : "websocket";
const result = { mode, ticks: 0 };

function finish(fields) {
  process.stdout.write(JSON.stringify({ ...result, ...fields }) + "\n");
  process.exit(0);
}

setTimeout(() => finish({ failure: "timed out" }), 20000);

// A refused token first: connect_error carries the code in data.
const refused = io(url, { ...options, auth: { token: "not-a-token" }, forceNew: true });
refused.on("connect_error", (err) => {
  result.refused = { message: err.message, data: err.data };
  refused.close();
  start();
});
refused.on("connect", () => finish({ failure: "a bad token connected" }));

function start() {
  const socket = io(url, { ...options, forceNew: true });
  socket.io.on("open", () => {
    result.firstTransport = socket.io.engine.transport.name;
  });
  socket.on("connect_error", (err) => finish({ failure: "connect_error: " + err.message }));
  socket.on("connect", async () => {
    result.connected = { id: socket.id };
    result.marketAck = await socket.emitWithAck("subscribe:market", { symbols: ["btcusd"] });
    result.ordersAck = await socket.emitWithAck("subscribe:orders");
    result.notificationsAck = await socket.emitWithAck("subscribe:notifications");
    process.stdout.write(JSON.stringify({ ready: user }) + "\n");
  });
  socket.on("market:data", (tick) => {
    result.ticks++;
    if (socket.io.engine.transport.name === want) {
      result.transport = want;
      result.tick = tick;
      maybeBadEvents(socket);
    }
  });
  socket.on("order:update", (order) => {
    result.order = order;
    maybeBadEvents(socket);
  });
  socket.on("notification", (notification) => {
    result.notification = notification;
    maybeBadEvents(socket);
  });
  socket.on("error", (error) => {
    result.errorEvent = error;
    finish({});
  });
}

let badSent = false;
async function maybeBadEvents(socket) {
  if (badSent || result.tick === undefined || result.order === undefined || result.notification === undefined) {
    return;
  }
  badSent = true;
  result.invalidAck = await socket.emitWithAck("subscribe:market", "not an object");
  socket.emit("subscribe:market", { symbols: ["no such symbol!"] });
}
