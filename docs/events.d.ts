// The ProTrader5 gateway's Socket.IO events, for socket.io-client's typed
// sockets:
//
//   import { io, Socket } from "socket.io-client";
//   import type { ServerToClientEvents, ClientToServerEvents } from "./events";
//   const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { auth: { token } });
//
// The payloads are described in protocol.md (Client → server events, Server →
// client events); asyncapi.yaml describes the same events and the Redis
// inputs they come from. engine/events_test.go checks this file against the
// events the gateway handles and emits and the fields of its answers.
//
// Messages from the backends are passed on byte for byte: the gateway checks
// only `symbol` (and a tick's `price`) and `userId`. The other fields are the
// shapes ProTrader5's backends publish.

/** A market tick, `market:data`. */
export interface MarketTick {
  symbol: string;
  price?: number;
  volume: number;
  high24h: number;
  low24h: number;
  change24h: number;
  changePercent24h: number;
  timestamp: number;
}

/** An order's change, `order:update`. */
export interface OrderUpdate {
  orderId: string;
  userId: string;
  symbol: string;
  type: string;
  side: string;
  quantity: number;
  price: number;
  status: string;
  filledQuantity: number;
  remainingQuantity: number;
  averagePrice: number;
  timestamp: number;
}

/** A position's change or live P&L refresh, `position:update`. */
export interface PositionUpdate {
  positionId: string;
  userId: string;
  symbol: string;
  side: string;
  quantity: number;
  entryPrice: number;
  currentPrice: number;
  unrealizedPnL: number;
  unrealizedPnLPercent: number;
  realizedPnL: number;
  timestamp: number;
}

/** A user notification, `notification`. */
export interface Notification {
  id: string;
  userId: string;
  type: string;
  title: string;
  message: string;
  priority: string;
  read: boolean;
  timestamp: number;
  metadata?: Record<string, unknown>;
}

/** Why an event was refused (protocol.md, Refusal codes). */
export type RefusalCode =
  | "INVALID_PAYLOAD"
  | "INVALID_SYMBOL"
  | "NOT_CONNECTED"
  | "RATE_LIMITED"
  | "TOO_MANY_SYMBOLS";

/** A refusal in an ack's `error`. */
export interface RefusalError {
  code: RefusalCode;
  message: string;
  /** The offending symbols, for INVALID_SYMBOL. */
  symbols?: string[];
}

/** The ack of a refused event. */
export interface RefusalAnswer {
  ok: false;
  error: RefusalError;
}

/** The `error` event: the refusal of an event sent without an ack. */
export interface EventError {
  code: RefusalCode;
  message: string;
  /** The offending symbols, for INVALID_SYMBOL. */
  symbols?: string[];
  /** The refused event's name. */
  event: string;
}

/** The payload of `subscribe:market` and `unsubscribe:market`. */
export interface MarketSubscription {
  symbols: string[];
  /** At most one tick per symbol every throttleMs milliseconds (subscribe:market only). */
  throttleMs?: number;
}

/** The ack of `subscribe:market` / `unsubscribe:market`: every symbol now subscribed. */
export interface SymbolsAnswer {
  ok: true;
  symbols: string[];
  /** The throttle in force, echoed when one was asked for. */
  throttleMs?: number;
}

/** The ack of the user stream events. */
export interface OkAnswer {
  ok: true;
}

/**
 * With connection state recovery on, user messages carry their recovery
 * offset as an extra last argument (protocol.md, delivery.md); the stock
 * client records it by itself.
 */
export type RecoveryOffset = string;

export interface ServerToClientEvents {
  "market:data": (tick: MarketTick) => void;
  "order:update": (order: OrderUpdate, offset?: RecoveryOffset) => void;
  "position:update": (position: PositionUpdate, offset?: RecoveryOffset) => void;
  notification: (notification: Notification, offset?: RecoveryOffset) => void;
  error: (error: EventError) => void;
}

/** An ack callback: every event may ask for one. */
export type Ack<Answer> = (answer: Answer | RefusalAnswer) => void;

export interface ClientToServerEvents {
  "subscribe:market": (payload: MarketSubscription, ack?: Ack<SymbolsAnswer>) => void;
  "unsubscribe:market": (payload: MarketSubscription, ack?: Ack<SymbolsAnswer>) => void;
  "subscribe:orders": (ack?: Ack<OkAnswer>) => void;
  "unsubscribe:orders": (ack?: Ack<OkAnswer>) => void;
  "subscribe:positions": (ack?: Ack<OkAnswer>) => void;
  "unsubscribe:positions": (ack?: Ack<OkAnswer>) => void;
  "subscribe:notifications": (ack?: Ack<OkAnswer>) => void;
  "unsubscribe:notifications": (ack?: Ack<OkAnswer>) => void;
}
