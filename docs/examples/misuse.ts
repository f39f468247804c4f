// What the event maps must refuse: each line below is an error tsc has to
// report (@ts-expect-error fails the build when it reports none), so that
// the types cannot silently turn permissive.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../events.js";

export function misuse(socket: Socket<ServerToClientEvents, ClientToServerEvents>): void {
  // @ts-expect-error symbols is required
  socket.emit("subscribe:market", {});
  // @ts-expect-error symbols are strings
  socket.emit("subscribe:market", { symbols: [1] });
  // @ts-expect-error no such event
  socket.emit("subscribe:everything");
  // @ts-expect-error a tick's symbol is a string
  socket.on("market:data", (tick) => tick.symbol.toFixed());
  // @ts-expect-error the offset is a string
  socket.on("order:update", (order, offset?: number) => console.log(order, offset));
  socket.emit("subscribe:orders", (answer) => {
    // @ts-expect-error a refusal has no symbols at the top
    console.log(answer.symbols);
  });
}
