// The desk page's script: connects to the gateway that served it with the
// socket.io-client bundle it serves (the global io), and keeps the tables up
// to date. No framework, no build step, no inline code: the page's
// Content-Security-Policy allows scripts from its own origin only.
"use strict";

(function () {
  const DEFAULT_SYMBOLS = ["BTCUSD", "ETHUSD", "SOLUSD", "AAPL", "TSLA"];
  // The symbol rule of subscribe:market (docs/protocol.md), checked here
  // too so that a typo is explained before any round trip.
  const SYMBOL_PATTERN = /^[A-Z0-9][A-Z0-9._:/-]{0,31}$/;
  const SPARKLINE_POINTS = 60;
  const MAX_ORDERS = 20;
  const MAX_NOTIFICATIONS = 30;
  const ROUND_TRIP_INTERVAL_MS = 5000;
  const ACK_TIMEOUT_MS = 10000;
  const SVG = "http://www.w3.org/2000/svg";

  const socketPath = document.body.dataset.socketPath || "/socket.io/";
  const byId = (id) => document.getElementById(id);

  // The symbols shown, in order, each with its row and its recent prices.
  const symbols = new Map();
  const positions = new Map();
  const orders = new Map();
  let throttleMs = 0;
  // Whether a throttle has been taken: from then on throttleMs goes with
  // every subscription, as 0 to go back to every tick; until then the
  // payload is the plain {symbols} of the README's examples.
  let throttleAccepted = false;
  // What the user changed while disconnected: a recovered session has the
  // server's old subscriptions, which these bring up to date.
  let marketChangedOffline = false;
  const removedOffline = new Set();
  // The token lives in this variable only: never in storage, never in the
  // URL.
  let token = "";
  let tokenFromServer = false;
  let socket = null;
  let roundTripTimer = 0;

  // ---- formatting ----------------------------------------------------------

  const numberFormats = new Map();
  function formatNumber(value, minimumDigits, maximumDigits) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "–";
    const key = minimumDigits + ":" + maximumDigits;
    let format = numberFormats.get(key);
    if (!format) {
      format = new Intl.NumberFormat(undefined, {
        minimumFractionDigits: minimumDigits,
        maximumFractionDigits: maximumDigits,
      });
      numberFormats.set(key, format);
    }
    return format.format(value);
  }
  const formatPrice = (value) => formatNumber(value, 2, 6);
  const formatQuantity = (value) => formatNumber(value, 0, 8);
  function formatSigned(value, digits) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "–";
    return (value > 0 ? "+" : "") + formatNumber(value, digits, digits);
  }
  function formatTime(milliseconds) {
    const date = typeof milliseconds === "number" ? new Date(milliseconds) : new Date();
    return date.toLocaleTimeString(undefined, { hour12: false });
  }

  // direction returns "up", "down" or "" for the sign of value.
  function direction(value) {
    if (typeof value !== "number" || value === 0 || !Number.isFinite(value)) return "";
    return value > 0 ? "up" : "down";
  }

  // setDirected writes text into cell with an arrow and a word for the
  // direction, so that colour is never the only cue.
  function setDirected(cell, text, way) {
    cell.replaceChildren();
    cell.classList.remove("up", "down");
    if (way) {
      cell.classList.add(way);
      const arrow = document.createElement("span");
      arrow.setAttribute("aria-hidden", "true");
      arrow.textContent = way === "up" ? "▲ " : "▼ ";
      const word = document.createElement("span");
      word.className = "visually-hidden";
      word.textContent = way === "up" ? "up " : "down ";
      cell.append(arrow, word);
    }
    cell.append(text);
  }

  // flash restarts the cell's flash animation for the way it moved.
  function flash(cell, way) {
    cell.classList.remove("flash-up", "flash-down");
    if (!way) return;
    void cell.offsetWidth; // a reflow, so that the same animation restarts
    cell.classList.add("flash-" + way);
  }

  function cell(tag, className) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    return element;
  }

  // ---- connection panel ----------------------------------------------------

  function setText(id, text) {
    byId(id).textContent = text;
  }

  function setMarketStatus(text, refused) {
    const status = byId("market-status");
    status.textContent = text;
    status.classList.toggle("refused", Boolean(refused));
  }

  function showTransport() {
    const engine = socket && socket.io.engine;
    setText("connection-transport", engine && engine.transport ? engine.transport.name : "–");
  }

  // measureRoundTrip times an acked event the server answers at once:
  // subscribe:notifications is idempotent, and the page holds that
  // subscription anyway.
  function measureRoundTrip() {
    if (!socket || !socket.connected) return;
    const started = performance.now();
    socket.timeout(ACK_TIMEOUT_MS).emit("subscribe:notifications", (error) => {
      if (error) {
        setText("connection-round-trip", "no answer in " + ACK_TIMEOUT_MS / 1000 + " s");
        return;
      }
      const elapsed = performance.now() - started;
      setText("connection-round-trip", elapsed.toFixed(1) + " ms");
    });
  }

  // ---- ticker ----------------------------------------------------------------

  function addSymbolRow(symbol) {
    if (symbols.has(symbol)) return symbols.get(symbol);
    const row = cell("tr");
    row.dataset.symbol = symbol;
    const name = cell("th");
    name.scope = "row";
    name.textContent = symbol;
    const price = cell("td", "number price");
    price.textContent = "–";
    const change = cell("td", "number change");
    change.textContent = "–";
    const high = cell("td", "number");
    high.textContent = "–";
    const low = cell("td", "number");
    low.textContent = "–";
    const trend = cell("td", "trend");
    const sparkline = document.createElementNS(SVG, "svg");
    sparkline.setAttribute("class", "sparkline");
    sparkline.setAttribute("viewBox", "0 0 120 28");
    sparkline.setAttribute("preserveAspectRatio", "none");
    sparkline.setAttribute("role", "img");
    sparkline.setAttribute("aria-label", "No trend yet");
    const line = document.createElementNS(SVG, "polyline");
    sparkline.append(line);
    trend.append(sparkline);
    const ticks = cell("td", "number ticks");
    ticks.textContent = "0";
    const actions = cell("td");
    const remove = cell("button", "remove");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", "Remove " + symbol);
    remove.addEventListener("click", () => removeSymbol(symbol));
    actions.append(remove);
    row.append(name, price, change, high, low, trend, ticks, actions);
    byId("ticker-rows").append(row);
    const entry = { row, price, change, high, low, trend, sparkline, line, ticks, prices: [], count: 0, last: undefined };
    symbols.set(symbol, entry);
    return entry;
  }

  function drawSparkline(entry) {
    const prices = entry.prices;
    if (prices.length < 2) return;
    let lowest = Infinity;
    let highest = -Infinity;
    for (const value of prices) {
      lowest = Math.min(lowest, value);
      highest = Math.max(highest, value);
    }
    const range = highest - lowest || 1;
    const step = 120 / (prices.length - 1);
    const points = prices.map((value, index) =>
      (index * step).toFixed(1) + "," + (26 - ((value - lowest) / range) * 24).toFixed(1));
    entry.line.setAttribute("points", points.join(" "));
    const first = prices[0];
    const last = prices[prices.length - 1];
    const way = direction(last - first);
    entry.trend.classList.remove("up", "down");
    if (way) entry.trend.classList.add(way);
    const percent = first ? ((last - first) / first) * 100 : 0;
    entry.sparkline.setAttribute("aria-label",
      "Last " + prices.length + " ticks: " + (way || "flat") + " " + formatSigned(percent, 2) + " %");
  }

  function onTick(tick) {
    if (!tick || typeof tick.symbol !== "string") return;
    // A tick sent before an unsubscribe took effect is dropped.
    const entry = symbols.get(tick.symbol);
    if (!entry || typeof tick.price !== "number") return;
    const way = entry.last === undefined ? "" : direction(tick.price - entry.last);
    entry.last = tick.price;
    entry.count++;
    entry.row.dataset.price = String(tick.price);
    entry.row.dataset.ticks = String(entry.count);
    setDirected(entry.price, formatPrice(tick.price), way);
    flash(entry.price, way);
    const percent = tick.changePercent24h;
    setDirected(entry.change, formatSigned(percent, 2) + " %", direction(percent));
    entry.high.textContent = formatPrice(tick.high24h);
    entry.low.textContent = formatPrice(tick.low24h);
    entry.ticks.textContent = String(entry.count);
    entry.prices.push(tick.price);
    if (entry.prices.length > SPARKLINE_POINTS) entry.prices.shift();
    drawSparkline(entry);
  }

  // subscribePayload is the subscribe:market payload for list; throttleMs
  // goes along only when it is not zero or the server has taken one.
  function subscribePayload(list) {
    const payload = { symbols: list };
    if (throttleMs !== 0 || throttleAccepted) payload.throttleMs = throttleMs;
    return payload;
  }

  function describeRefusal(ack) {
    const error = ack && ack.error;
    if (!error) return "refused";
    let text = error.code + ": " + error.message;
    if (Array.isArray(ack.symbols) && ack.symbols.length) text += " (" + ack.symbols.join(", ") + ")";
    return text;
  }

  // subscribeMarket subscribes list and reports the ack; every symbol the
  // ack lists gets a row.
  function subscribeMarket(list, done) {
    if (!socket || !socket.connected) {
      marketChangedOffline = true;
      return;
    }
    if (list.length === 0) return;
    const payload = subscribePayload(list);
    socket.timeout(ACK_TIMEOUT_MS).emit("subscribe:market", payload, (error, ack) => {
      if (error) {
        setMarketStatus("subscribe:market got no answer in " + ACK_TIMEOUT_MS / 1000 + " s", true);
        return;
      }
      if (!ack || !ack.ok) {
        setMarketStatus("subscribe:market refused: " + describeRefusal(ack), true);
        if (done) done(false);
        return;
      }
      if (typeof ack.throttleMs === "number") {
        throttleAccepted = true;
        setMarketStatus(ack.throttleMs > 0
          ? "Subscribed; at most one update per symbol every " + ack.throttleMs + " ms."
          : "Subscribed; every tick.", false);
      } else {
        setMarketStatus("Subscribed to " + ack.symbols.length + " symbols.", false);
      }
      if (done) done(true);
    });
  }

  function addSymbol(symbol) {
    if (symbols.has(symbol)) {
      setMarketStatus(symbol + " is already on the desk.", false);
      return;
    }
    addSymbolRow(symbol);
    removedOffline.delete(symbol);
    subscribeMarket([symbol], (ok) => {
      if (!ok) dropRow(symbol);
    });
  }

  function dropRow(symbol) {
    const entry = symbols.get(symbol);
    if (!entry) return;
    entry.row.remove();
    symbols.delete(symbol);
  }

  function removeSymbol(symbol) {
    dropRow(symbol);
    if (!socket || !socket.connected) {
      removedOffline.add(symbol);
      return;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit("unsubscribe:market", { symbols: [symbol] }, (error, ack) => {
      if (error) {
        setMarketStatus("unsubscribe:market got no answer in " + ACK_TIMEOUT_MS / 1000 + " s", true);
      } else if (!ack || !ack.ok) {
        setMarketStatus("unsubscribe:market refused: " + describeRefusal(ack), true);
      } else {
        setMarketStatus("Removed " + symbol + ".", false);
      }
    });
  }

  // ---- positions -------------------------------------------------------------

  function onPosition(position) {
    if (!position || position.positionId === undefined) return;
    const id = String(position.positionId);
    let entry = positions.get(id);
    if (position.quantity === 0) {
      if (entry) entry.row.remove();
      positions.delete(id);
      byId("positions-empty").hidden = positions.size > 0;
      return;
    }
    if (!entry) {
      const row = cell("tr");
      row.dataset.positionId = id;
      const symbol = cell("th");
      symbol.scope = "row";
      entry = {
        row,
        symbol,
        side: cell("td"),
        quantity: cell("td", "number"),
        entry: cell("td", "number"),
        current: cell("td", "number"),
        pnl: cell("td", "number pnl"),
        percent: cell("td", "number"),
        last: undefined,
      };
      row.append(entry.symbol, entry.side, entry.quantity, entry.entry, entry.current, entry.pnl, entry.percent);
      byId("position-rows").append(row);
      positions.set(id, entry);
      byId("positions-empty").hidden = true;
    }
    entry.symbol.textContent = position.symbol || "–";
    entry.side.textContent = position.side || "–";
    entry.quantity.textContent = formatQuantity(position.quantity);
    entry.entry.textContent = formatPrice(position.entryPrice);
    entry.current.textContent = formatPrice(position.currentPrice);
    const pnl = position.unrealizedPnL;
    entry.row.dataset.pnl = String(pnl);
    setDirected(entry.pnl, formatSigned(pnl, 2), direction(pnl));
    if (entry.last !== undefined && pnl !== entry.last) flash(entry.pnl, direction(pnl - entry.last));
    entry.last = pnl;
    setDirected(entry.percent, formatSigned(position.unrealizedPnLPercent, 2) + " %", direction(position.unrealizedPnLPercent));
  }

  // ---- orders ----------------------------------------------------------------

  function onOrder(order) {
    if (!order || order.orderId === undefined) return;
    const id = String(order.orderId);
    let entry = orders.get(id);
    if (!entry) {
      const row = cell("tr");
      row.dataset.orderId = id;
      entry = {
        row,
        time: cell("td"),
        symbol: cell("th"),
        side: cell("td"),
        quantity: cell("td", "number"),
        price: cell("td", "number"),
        status: cell("td"),
      };
      entry.symbol.scope = "row";
      row.append(entry.time, entry.symbol, entry.side, entry.quantity, entry.price, entry.status);
      byId("order-rows").prepend(row);
      orders.set(id, entry);
      byId("orders-empty").hidden = true;
      while (orders.size > MAX_ORDERS) {
        const [oldest] = orders.keys();
        orders.get(oldest).row.remove();
        orders.delete(oldest);
      }
    }
    entry.time.textContent = formatTime(order.timestamp);
    entry.symbol.textContent = order.symbol || "–";
    const side = String(order.side || "–");
    setDirected(entry.side, side, side === "BUY" ? "up" : side === "SELL" ? "down" : "");
    entry.quantity.textContent = formatQuantity(order.quantity);
    entry.price.textContent = formatPrice(typeof order.averagePrice === "number" && order.averagePrice ? order.averagePrice : order.price);
    entry.status.textContent = order.status || "–";
  }

  // ---- notifications ---------------------------------------------------------

  function onNotification(notification) {
    if (!notification) return;
    const item = cell("li");
    const time = cell("time");
    const when = typeof notification.timestamp === "number" ? new Date(notification.timestamp) : new Date();
    time.dateTime = when.toISOString();
    time.textContent = formatTime(when.getTime());
    const title = cell("strong");
    title.textContent = notification.title || notification.type || "Notification";
    item.append(time, title, String(notification.message || ""));
    const list = byId("notifications");
    list.prepend(item);
    while (list.children.length > MAX_NOTIFICATIONS) list.lastElementChild.remove();
  }

  // ---- the socket ------------------------------------------------------------

  function connect() {
    socket = io({
      path: socketPath,
      // A function, so that a reconnection sends the token of the moment
      // (the client adds pid and offset to it when it recovers).
      auth: (send) => send({ token }),
    });
    setText("connection-status", "connecting");

    socket.io.on("open", () => {
      showTransport();
      setText("connection-upgraded", "not yet");
      const engine = socket.io.engine;
      engine.on("upgrade", (transport) => {
        showTransport();
        setText("connection-upgraded", "to " + transport.name + " at " + formatTime());
        // Measured again on the new transport: one taken during the
        // upgrade waits for it.
        measureRoundTrip();
      });
    });
    socket.io.on("reconnect_attempt", (attempt) => setText("connection-status", "reconnecting (attempt " + attempt + ")"));

    socket.on("connect", () => {
      byId("drop-button").disabled = false;
      setText("connection-status", "connected");
      setText("connection-recovered", socket.recovered ? "yes: missed messages replayed" : "no");
      showTransport();
      // With a recovered session the server restored the subscriptions and
      // replays what was missed: subscribing again would only repeat it.
      const changedOffline = marketChangedOffline;
      const removed = [...removedOffline];
      marketChangedOffline = false;
      removedOffline.clear();
      if (!socket.recovered) {
        subscribeMarket([...symbols.keys()]);
        socket.emit("subscribe:orders");
        socket.emit("subscribe:positions");
        socket.emit("subscribe:notifications");
      } else {
        if (removed.length) socket.emit("unsubscribe:market", { symbols: removed });
        if (changedOffline) subscribeMarket([...symbols.keys()]);
      }
      // While polling, the upgrade to WebSocket follows at once and holds
      // packets back; the upgrade handler measures then.
      if (socket.io.engine.transport.name !== "polling") measureRoundTrip();
      clearInterval(roundTripTimer);
      roundTripTimer = setInterval(measureRoundTrip, ROUND_TRIP_INTERVAL_MS);
    });

    socket.on("disconnect", (reason) => {
      byId("drop-button").disabled = true;
      clearInterval(roundTripTimer);
      setText("connection-status", "disconnected: " + reason);
      setText("connection-transport", "–");
      if (reason === "io server disconnect") {
        // The token expired: the client does not reconnect by itself.
        renewToken();
      }
    });

    socket.on("connect_error", (error) => {
      const code = error && error.data && error.data.code;
      setText("connection-status", "refused: " + (code || error.message));
      if (code === "TOKEN_EXPIRED" || code === "TOKEN_INVALID" || code === "TOKEN_MISSING") {
        socket.disconnect();
        if (tokenFromServer) {
          renewToken();
        } else {
          askForToken(code === "TOKEN_EXPIRED" ? "The token has expired." : "The gateway refused the token (" + code + ").");
        }
      }
    });

    socket.on("error", (refusal) => {
      if (refusal && refusal.event) setMarketStatus(refusal.event + " refused: " + refusal.code + ": " + refusal.message, true);
    });

    socket.on("market:data", onTick);
    socket.on("order:update", onOrder);
    socket.on("position:update", onPosition);
    socket.on("notification", onNotification);
  }

  // userOf reads the subject of a JWT for display only; the gateway is the
  // one that checks it.
  function userOf(jwt) {
    try {
      const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(part));
      return String(claims.sub || claims.userId || "–");
    } catch (error) {
      return "–";
    }
  }

  function useToken(value) {
    token = value;
    setText("connection-user", userOf(value));
    byId("token-form").hidden = true;
    if (socket) {
      socket.connect();
    } else {
      connect();
    }
  }

  // fetchDevelopmentToken asks the gateway for a token; it resolves to ""
  // when it has none to give (production).
  async function fetchDevelopmentToken() {
    const response = await fetch("/dev/token", { cache: "no-store", credentials: "omit" });
    if (response.status === 404) return "";
    if (!response.ok) throw new Error("GET /dev/token: " + response.status);
    const body = await response.json();
    return typeof body.token === "string" ? body.token : "";
  }

  function renewToken() {
    if (!tokenFromServer) {
      askForToken("The session ended; paste a fresh token to connect again.");
      return;
    }
    fetchDevelopmentToken().then((fresh) => {
      if (fresh) useToken(fresh);
      else askForToken("The gateway no longer gives out development tokens.");
    }, (error) => askForToken(error.message));
  }

  function askForToken(message) {
    setText("connection-status", "waiting for a token");
    byId("token-form").hidden = false;
    byId("token-error").textContent = message || "";
    byId("token-input").focus();
  }

  function wireForms() {
    byId("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = byId("token-input");
      const value = input.value.trim();
      input.value = "";
      if (value) useToken(value);
    });
    byId("symbol-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = byId("symbol-input");
      const symbol = input.value.trim().toUpperCase();
      if (!SYMBOL_PATTERN.test(symbol)) {
        setMarketStatus("“" + input.value + "” is not a symbol: letters, digits and . _ : / - only, up to 32.", true);
        return;
      }
      input.value = "";
      addSymbol(symbol);
    });
    byId("drop-button").addEventListener("click", () => {
      // The transport closes under the socket, as when a network drops:
      // the client reconnects by itself and asks to recover its session.
      if (socket && socket.connected) socket.io.engine.close();
    });
    byId("throttle-select").addEventListener("change", (event) => {
      throttleMs = Number(event.target.value) || 0;
      subscribeMarket([...symbols.keys()]);
    });
  }

  function start() {
    if (typeof io !== "function") {
      setText("connection-status", "the socket.io client did not load from " + socketPath + "socket.io.min.js");
      return;
    }
    wireForms();
    for (const symbol of DEFAULT_SYMBOLS) addSymbolRow(symbol);
    fetchDevelopmentToken().then((value) => {
      if (value) {
        tokenFromServer = true;
        useToken(value);
      } else {
        askForToken("");
      }
    }, (error) => askForToken(error.message));
  }

  start();
})();
