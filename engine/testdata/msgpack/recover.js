// recover.js of the JSON client tests, with socket.io-msgpack-parser: the
// stock client drops its connection after 10 orders, comes back by itself
// presenting {pid, offset} in its CONNECT, and must get what it missed.
//
//   node recover.js <url> <token> <websocket|default> <orders>
//
// Once subscribed it prints {"ready":true}; the test then sends 10 orders
// and pauses before the rest, so that the drop happens with no order in
// flight. (The client hands packets to the socket a tick after decoding
// them: ones decoded before a drop reach it while disconnected, are
// buffered, and only count for its offset after it has reconnected, so
// the server would rightly send them again.)
import { io } from "socket.io-client";
import parser from "socket.io-msgpack-parser";

const [url, token, mode, wanted] = process.argv.slice(2);
const options = { auth: { token }, reconnectionDelay: 50, reconnectionDelayMax: 100, timeout: 5000, parser };
if (mode === "websocket") {
  options.transports = ["websocket"];
}
const result = { mode, orders: [], offsets: [], connects: [], ticksAfterRecovery: 0 };

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
    Promise.all([
      socket.emitWithAck("subscribe:orders"),
      socket.emitWithAck("subscribe:market", { symbols: ["BTCUSD"] }),
    ]).then(() => process.stdout.write(JSON.stringify({ ready: true }) + "\n"));
  }
});
socket.on("connect_error", (err) => finish({ failure: "connect_error: " + err.message }));
socket.on("market:data", () => {
  if (dropped && socket.recovered) {
    result.ticksAfterRecovery++;
  }
});
socket.on("order:update", (order, offset) => {
  result.orders.push(order.seq);
  result.offsets.push(typeof offset);
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
