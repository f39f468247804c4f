// Drives the stock socket.io-client through a connection loss for
// recovery_test.go and prints one JSON line with what it saw.
//
//   node recover.js <url> <token> <websocket|default> <orders>
//
// It subscribes to orders and BTCUSD on its first connection only, drops
// its connection (as a network blip would) after 10 orders, lets the client
// reconnect by itself, and finishes once it has <orders> orders.
import { io } from "socket.io-client";

const [url, token, mode, wanted] = process.argv.slice(2);
const options = { auth: { token }, reconnectionDelay: 50, reconnectionDelayMax: 100, timeout: 5000 };
if (mode === "websocket") {
  options.transports = ["websocket"];
}
const result = { mode, orders: [], connects: [], ticksAfterRecovery: 0 };

function finish(fields) {
  process.stdout.write(JSON.stringify({ ...result, ...fields }) + "\n");
  process.exit(0);
}

setTimeout(() => finish({ failure: "timed out" }), 20000);
const socket = io(url, options);
let dropped = false;
socket.on("connect", () => {
  result.connects.push({ recovered: socket.recovered, id: socket.id });
  if (!socket.recovered) {
    // Only a fresh session needs its subscriptions again.
    socket.emit("subscribe:orders");
    socket.emit("subscribe:market", { symbols: ["BTCUSD"] });
  }
});
socket.on("connect_error", (err) => finish({ failure: "connect_error: " + err.message }));
socket.on("market:data", () => {
  if (dropped && socket.recovered) {
    result.ticksAfterRecovery++;
  }
});
socket.on("order:update", (order) => {
  result.orders.push(order.seq);
  if (result.orders.length === 10 && !dropped) {
    dropped = true;
    // Cut on a later turn of the event loop, as a network blip would: the
    // client hands decoded packets to the socket on process.nextTick, so a
    // close from inside this handler leaves the packets decoded with this
    // one to arrive on a closed socket, which buffers them without taking
    // their offset and then also gets them replayed (a duplicate made by
    // the client, whatever the server does).
    setTimeout(() => socket.io.engine.close(), 0);
  }
  if (result.orders.length >= Number(wanted) && result.ticksAfterRecovery > 0) {
    finish({});
  }
});
