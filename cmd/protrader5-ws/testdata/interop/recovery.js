// A fleet of stock socket.io-clients for the recovery failover test
// (recovery_e2e_test.go). Each client is one user; it subscribes to its
// orders and to BTCUSD on a fresh session only (a recovered one keeps its
// subscriptions), and reconnects by itself whenever its connection drops.
//
//   node recovery.js <url> <tokens, comma separated>
//
// It prints "ready" once every client is subscribed, then a JSON line per
// client when its standard input closes:
//   {"user": i, "orders": [seq...], "connects": [{"recovered": bool, "id": "..."}...], "ticksSinceConnect": n}
import { io } from "socket.io-client";

const [url, tokenList] = process.argv.slice(2);
const tokens = tokenList.split(",");
const clients = tokens.map((token, user) => {
  const state = { user, orders: [], connects: [], ticksSinceConnect: 0, subscribed: false };
  const socket = io(url, {
    auth: { token },
    transports: ["websocket"],
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    timeout: 5000,
  });
  socket.on("connect", () => {
    state.connects.push({ recovered: socket.recovered, id: socket.id });
    state.ticksSinceConnect = 0;
    if (socket.recovered) {
      return;
    }
    socket.emit("subscribe:orders", () => {
      socket.emit("subscribe:market", { symbols: ["BTCUSD"] }, () => {
        state.subscribed = true;
        maybeReady();
      });
    });
  });
  socket.on("order:update", (order) => state.orders.push(order.seq));
  socket.on("market:data", () => state.ticksSinceConnect++);
  state.socket = socket;
  return state;
});

let announced = false;
function maybeReady() {
  if (!announced && clients.every((client) => client.subscribed)) {
    announced = true;
    process.stdout.write("ready\n");
  }
}

process.stdin.resume();
process.stdin.on("end", () => {
  for (const { socket, subscribed, ...state } of clients) {
    socket.disconnect();
    process.stdout.write(JSON.stringify(state) + "\n");
  }
  process.exit(0);
});
