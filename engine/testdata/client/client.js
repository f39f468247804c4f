// Drives the stock socket.io-client against the engine for node_test.go
// and prints one JSON line with what it saw.
//
//   node client.js <url> <token> <default|polling>
//
// It subscribes to BTCUSD and finishes once it holds both the subscribe
// ack and a market:data tick that arrived over the final transport:
// WebSocket after the upgrade with the default options (polling first),
// polling with transports: ["polling"]. A live tick published as the
// subscription is made can overtake the ack (docs/protocol.md), and over
// polling the two can come in separate responses, so it waits for both.
import { io } from "socket.io-client";

const [url, token, mode] = process.argv.slice(2);
const options = { auth: { token }, reconnection: false, timeout: 5000 };
if (mode === "polling") {
  options.transports = ["polling"];
}
const want = mode === "polling" ? "polling" : "websocket";
const result = { mode, ticks: 0 };

function finish(fields) {
  process.stdout.write(JSON.stringify({ ...result, ...fields }) + "\n");
  process.exit(0);
}

setTimeout(() => finish({ failure: "timed out" }), 15000);
const socket = io(url, options);
socket.io.on("open", () => {
  result.firstTransport = socket.io.engine.transport.name;
});
socket.on("connect", () => {
  socket.emit("subscribe:market", { symbols: ["BTCUSD"] }, (ack) => {
    result.ack = ack;
    finishWhenDone();
  });
});
socket.io.engine.on("upgrade", (transport) => {
  result.upgradedTo = transport.name;
});
socket.on("connect_error", (err) => finish({ failure: "connect_error: " + err.message }));
socket.on("market:data", (tick) => {
  result.ticks++;
  if (socket.io.engine.transport.name === want) {
    result.transport = want;
    result.tick = tick;
    finishWhenDone();
  }
});

function finishWhenDone() {
  if (result.ack !== undefined && result.tick !== undefined) {
    finish({});
  }
}
