// A typed ProTrader5 client: socket.io-client with the event maps of
// ../events.d.ts. Type-checked by engine/events_test.go (tsc --noEmit);
// not run.
import { io, type Socket } from "socket.io-client";
import type {
  ClientToServerEvents,
  MarketTick,
  OrderUpdate,
  ServerToClientEvents,
  SymbolsAnswer,
  RefusalAnswer,
} from "../events.js";

type GatewaySocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export function connect(url: string, token: string): GatewaySocket {
  const socket: GatewaySocket = io(url, { auth: { token } });

  socket.on("market:data", (tick: MarketTick) => {
    const price: number | undefined = tick.price;
    console.log(tick.symbol, price, tick.timestamp);
  });
  socket.on("order:update", (order: OrderUpdate, offset?: string) => {
    console.log(order.orderId, order.status, order.remainingQuantity, offset);
  });
  socket.on("position:update", (position) => {
    console.log(position.positionId, position.unrealizedPnL);
  });
  socket.on("notification", (notification) => {
    console.log(notification.title, notification.read, notification.metadata);
  });
  socket.on("error", (error) => {
    console.warn(error.event, error.code, error.symbols ?? []);
  });

  socket.on("connect", async () => {
    // With an ack, as a callback ...
    socket.emit("subscribe:market", { symbols: ["BTCUSD", "ETHUSD"], throttleMs: 250 }, (answer) => {
      if (answer.ok) {
        const subscribed: string[] = answer.symbols;
        console.log(subscribed, answer.throttleMs);
      } else {
        console.warn(answer.error.code, answer.error.symbols);
      }
    });
    // ... as a promise ...
    const orders = await socket.timeout(5000).emitWithAck("subscribe:orders");
    if (!orders.ok) {
      console.warn(orders.error.message);
    }
    // ... or none: a refusal then comes as an "error" event.
    socket.emit("subscribe:positions");
    socket.emit("subscribe:notifications");
    const left: SymbolsAnswer | RefusalAnswer = await socket.emitWithAck("unsubscribe:market", { symbols: ["ETHUSD"] });
    console.log(left.ok);
  });
  return socket;
}

// The msgpack parser changes the wire format, not the events.
import parser from "socket.io-msgpack-parser";

export function connectMsgpack(url: string, token: string): GatewaySocket {
  return io(url, { auth: { token }, parser });
}
