// Drives two stock socket.io-clients on the same symbols for
// throttle_node_test.go and prints one JSON line with what they saw.
//
//   node throttle.js <url> <token> <phase-ms>
//
// "dashboard" subscribes to AAA and BBB with throttleMs 200, "screen" to
// AAA with no throttle. Every tick the test publishes carries its sequence
// and its publish time ("ts", Unix ms). The script records each tick with
// the time it arrived, in phases of <phase-ms>:
//
//   throttled: dashboard at 200 ms;
//   slower:    dashboard's AAA re-subscribed at 1000 ms (BBB stays at 200);
//   unthrottled: dashboard's AAA re-subscribed with throttleMs 0;
//
// then sends invalid throttles and records their acks. The Go test judges.
import { io } from "socket.io-client";

const [url, token, phaseText] = process.argv.slice(2);
const phaseMs = Number(phaseText);
const options = { auth: { token }, reconnection: false, timeout: 5000, transports: ["websocket"] };
const result = { phases: [], acks: {}, invalid: [] };
let phase = null;

function finish(fields) {
  // Exits once the line is written: it is larger than a pipe holds.
  process.stdout.write(JSON.stringify({ ...result, ...fields }) + "\n", () => process.exit(0));
}
setTimeout(() => finish({ failure: "timed out" }), 30000);

function connect(name) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { ...options, forceNew: true });
    socket.on("connect", () => resolve(socket));
    socket.on("connect_error", (err) => reject(new Error(name + ": " + err.message)));
    socket.on("market:data", (tick) => {
      if (phase !== null) {
        phase.ticks.push({ socket: name, symbol: tick.symbol, seq: tick.seq, ts: tick.ts, at: Date.now() });
      }
    });
  });
}

function emit(socket, event, payload) {
  return new Promise((resolve) => socket.emit(event, payload, resolve));
}

function measure(name) {
  return new Promise((resolve) => {
    phase = { name, start: Date.now(), ticks: [] };
    setTimeout(() => {
      phase.end = Date.now();
      result.phases.push(phase);
      phase = null;
      resolve();
    }, phaseMs);
  });
}

function settle() {
  // The first ticks after a (re)subscription are the snapshot: not part
  // of what is measured.
  return new Promise((resolve) => setTimeout(resolve, 300));
}

try {
  const dashboard = await connect("dashboard");
  const screen = await connect("screen");
  result.acks.throttled = await emit(dashboard, "subscribe:market", { symbols: ["AAA", "BBB"], throttleMs: 200 });
  result.acks.screen = await emit(screen, "subscribe:market", { symbols: ["AAA"] });
  await settle();
  await measure("throttled");
  result.acks.slower = await emit(dashboard, "subscribe:market", { symbols: ["AAA"], throttleMs: 1000 });
  await settle();
  await measure("slower");
  result.acks.unthrottled = await emit(dashboard, "subscribe:market", { symbols: ["AAA"], throttleMs: 0 });
  await settle();
  await measure("unthrottled");
  for (const value of [-1, 1, 49, 60001, 1.5, "200", null, true]) {
    result.invalid.push({ value, ack: await emit(dashboard, "subscribe:market", { symbols: ["CCC"], throttleMs: value }) });
  }
  result.acks.after = await emit(dashboard, "unsubscribe:market", { symbols: [] });
  finish({});
} catch (err) {
  finish({ failure: String(err) });
}
