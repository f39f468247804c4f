// Drives the stock socket.io-client through one scenario against the
// gateway and prints one JSON line with what it saw. The Go interop test
// (interop_test.go) starts the gateway, runs this, and checks the line.
//
//   node scenario.js <scenario> <url> [token] [extra]
import { io } from "socket.io-client";

const [scenario, url, token = "", extra = ""] = process.argv.slice(2);
const result = { scenario, events: [] };
let finished = false;

function finish(extraFields = {}) {
  if (finished) return;
  finished = true;
  Object.assign(result, extraFields);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

function fail(message) {
  finish({ failure: message });
}

const transports = process.env.TRANSPORTS ? process.env.TRANSPORTS.split(",") : ["websocket"];
const options = { transports, reconnection: scenario === "reconnect", timeout: 5000 };
if (scenario === "header") {
  options.extraHeaders = { Authorization: `Bearer ${token}` };
} else if (token !== "") {
  options.auth = { token };
}
const socket = io(url, options);
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
setTimeout(() => fail("scenario timed out"), Number(process.env.SCENARIO_TIMEOUT_MS || 15000));

socket.on("connect_error", (err) => {
  if (scenario === "reconnect") return; // retried by the client itself
  finish({ connected: false, error: err.message, data: err.data ?? null });
});

const scenarios = {
  // Connect and report.
  async auth() {
    finish({ connected: true, transport: socket.io.engine.transport.name });
  },
  async header() {
    finish({ connected: true });
  },
  // Subscribe with an ack, wait for ticks, unsubscribe, expect silence.
  async market() {
    const symbols = extra ? extra.split(",") : ["BTCUSD"];
    const started = Date.now();
    const ticks = [];
    socket.on("market:data", (tick) => ticks.push({ tick, at: Date.now() - started }));
    result.subscribeAck = await socket.emitWithAck("subscribe:market", { symbols });
    const deadline = Date.now() + 3000;
    while (ticks.length === 0 && Date.now() < deadline) await wait(20);
    result.firstTick = ticks[0] ?? null;
    result.transport = socket.io.engine.transport.name;
    result.unsubscribeAck = await socket.emitWithAck("unsubscribe:market", { symbols });
    await wait(100); // ticks already in flight
    const before = ticks.length;
    await wait(1500);
    finish({ ticksAfterUnsubscribe: ticks.length - before, tickCount: before });
  },
  // Subscribe to the user streams and collect for a while.
  async user() {
    for (const stream of ["orders", "positions", "notifications"]) {
      result[`${stream}Ack`] = await socket.emitWithAck(`subscribe:${stream}`);
    }
    for (const name of ["order:update", "position:update", "notification"]) {
      socket.on(name, (payload) => result.events.push({ name, userId: payload.userId }));
    }
    await wait(Number(extra || 4000));
    finish();
  },
  // A bad payload without an ack gets an "error" event.
  async badpayload() {
    socket.on("error", (error) => finish({ error }));
    socket.emit("subscribe:market", { symbols: "BTCUSD" });
  },
  // The client reconnects by itself after the server restarts.
  async reconnect() {
    let connects = 1;
    console.error("connected");
    socket.on("connect", () => {
      connects++;
      finish({ connects });
    });
    socket.on("disconnect", (reason) => {
      result.events.push({ name: "disconnect", reason });
      console.error("disconnected");
    });
  },
  // With short ping intervals, an idle client stays connected.
  async idle() {
    socket.on("disconnect", (reason) => fail(`disconnected: ${reason}`));
    await wait(Number(extra || 1500));
    finish({ connected: socket.connected });
  },
  // A client that stops answering pings is dropped by the server.
  async mute() {
    const engine = socket.io.engine;
    for (const name of ["sendPacket", "_sendPacket"]) {
      if (typeof engine[name] === "function") {
        const original = engine[name].bind(engine);
        engine[name] = (type, ...rest) => (type === "pong" ? undefined : original(type, ...rest));
      }
    }
    const started = Date.now();
    socket.on("disconnect", (reason) => finish({ reason, after: Date.now() - started }));
  },
  // The server disconnects the socket when its token expires.
  async expiry() {
    const started = Date.now();
    socket.on("disconnect", (reason) => finish({ reason, after: Date.now() - started }));
  },
  // Subscribes as the JSON spec in extra says ({symbols, streams, markers,
  // events, waitMs, graceMs}), prints "subscribed" on stderr, records every
  // server event in order, and finishes graceMs after the markers-th event
  // whose payload has marker: true, or the events-th event, or after waitMs.
  async collect() {
    const spec = JSON.parse(extra || "{}");
    const started = Date.now();
    const socketId = socket.id;
    let connects = 1;
    let markers = 0;
    let count = 0;
    const done = () => finish({ socketId, finalSocketId: socket.id, connected: socket.connected, connects });
    const later = () => setTimeout(done, spec.graceMs ?? 300);
    socket.on("connect", () => connects++);
    socket.on("disconnect", (reason) => result.events.push({ name: "disconnect", reason, at: Date.now() - started }));
    for (const name of ["market:data", "order:update", "position:update", "notification", "error"]) {
      socket.on(name, (payload) => {
        result.events.push({ name, payload, at: Date.now() - started });
        count++;
        if (payload && payload.marker === true && ++markers === spec.markers) later();
        if (count === spec.events) later();
      });
    }
    if (spec.symbols) {
      result.marketAck = await socket.emitWithAck("subscribe:market", { symbols: spec.symbols });
    }
    for (const stream of spec.streams ?? []) {
      result[`${stream}Ack`] = await socket.emitWithAck(`subscribe:${stream}`);
    }
    console.error("subscribed");
    if (spec.waitMs !== undefined) setTimeout(done, spec.waitMs);
  },
};

socket.once("connect", () => {
  const run = scenarios[scenario];
  if (!run) return fail(`unknown scenario ${scenario}`);
  run().catch((err) => fail(String(err)));
});
