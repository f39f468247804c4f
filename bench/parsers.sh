#!/usr/bin/env bash
# parsers.sh compares the gateway's fanout with every client on the JSON
# parser against half of them on socket.io-msgpack-parser, in one run:
# scenario 2 of scenarios.sh (5,000 connections x 5 of 100 symbols), the
# two populations alternating ROUNDS times on a fresh gateway each, then one
# table (loadgen compare, baseline json) and the bytes per delivery the
# gateway counted (protrader5_sent_bytes_total / protrader5_deliveries_total).
#
#   bench/parsers.sh [path/to/protrader5-ws]     (default: go build into a temp dir)
#
# Environment: RATE=4 ticks/s/symbol, ROUNDS=2, SCALE=1 (divides the
# connections), DURATION=10s, WARMUP=2s, REDIS_URL (else a private
# redis-server), JWT_SECRET.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
rate=${RATE:-4}
rounds=${ROUNDS:-2}
scale=${SCALE:-1}
duration=${DURATION:-10s}
warmup=${WARMUP:-2s}
secret=${JWT_SECRET:-parsers-secret}
work=$(mktemp -d /tmp/parsers.XXXXXX)
clients=$(((5000 + scale - 1) / scale))
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
log() { printf 'parsers: %s\n' "$*" >&2; }
free_port() {
	local port
	for _ in $(seq 1 200); do
		port=$((10000 + RANDOM % 22000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
	done
	log "no free port"; exit 1
}
wait_port() {
	for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done
	log "nothing listens on $1"; exit 1
}

gateway=${1:-}
(cd "$root" && go build -o "$work/loadgen" ./bench/loadgen)
if [ -z "$gateway" ]; then
	(cd "$root" && go build -o "$work/protrader5-ws" ./cmd/protrader5-ws)
	gateway=$work/protrader5-ws
fi
if [ -z "${REDIS_URL:-}" ]; then
	redis_port=$(free_port)
	redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
	pids+=($!)
	wait_port "$redis_port"
	REDIS_URL=redis://127.0.0.1:$redis_port
fi

metric() { curl -fs "http://127.0.0.1:$1/metrics" | awk -v name="$2" '$1 == name { print $2 }'; }

: >"$work/bytes.txt"
for round in $(seq 1 "$rounds"); do
	for mode in json msgpack50; do
		fraction=0
		[ "$mode" = msgpack50 ] && fraction=0.5
		port=$(free_port)
		PORT=$port JWT_SECRET=$secret REDIS_URL=$REDIS_URL DEMO_FEED=false NODE_ENV=production LOG_DIR="$work/logs" \
			"$gateway" serve >"$work/gateway-$port.log" 2>&1 &
		pid=$!
		pids+=("$pid")
		wait_port "$port"
		label="2-fanout-${rate}ps-round$round/$mode"
		log "$label: $clients clients"
		"$work/loadgen" -label "$label" -target "127.0.0.1:$port" -server-pid "$pid" -clients "$clients" \
			-jwt-secret "$secret" -redis-url "$REDIS_URL" -symbols 100 -per-client 5 -rate "$rate" \
			-msgpack-fraction "$fraction" -warmup "$warmup" -duration "$duration" \
			-out "$work/round$round-$mode.json" >/dev/null || log "$label failed"
		bytes=$(metric "$port" protrader5_sent_bytes_total)
		deliveries=$(metric "$port" protrader5_deliveries_total)
		awk -v label="$label" -v bytes="$bytes" -v deliveries="$deliveries" \
			'BEGIN { printf "%s\t%.1f bytes/delivery (%d deliveries)\n", label, bytes / deliveries, deliveries }' >>"$work/bytes.txt"
		kill -TERM "$pid"
		wait "$pid" 2>/dev/null || true
	done
done
"$work/loadgen" compare -baseline json "$work"/round*.json
echo
cat "$work/bytes.txt"
