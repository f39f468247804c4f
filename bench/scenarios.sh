#!/usr/bin/env bash
# scenarios.sh runs the load scenarios against one or more servers, one after
# another on one Redis, and prints one side-by-side table (bench/loadgen
# compare). Each server is started fresh for each scenario and stopped after.
#
#   bench/scenarios.sh [target...]
#
# Targets: gateway=/path/to/protrader5-ws (run as "<binary> serve"; any
#          name starting with "gateway" works, e.g. gateway-old=/path/to/old-build, so
#          that two builds can be compared in one run),
#          node (bench/reference/node), floor (bench/floor).
# Default: node floor.
#
# Environment:
#   SCALE=1       divide every connection count and order rate by this
#                 (SCALE=20 with DURATION=3s is the smoke test)
#   DURATION=10s  measurement window per run;  WARMUP=2s  publishing before it
#   SCENARIOS="1 2 3 4 5 6 8"  which scenarios to run (7 and scale only when named)
#   KILL_AFTER=10s  scenario 7: time into the window before the kill
#   STORM_SEED=1    scenario 7: an entry in the order stream before the servers
#                 start (0: an empty stream, see bench/RESULTS.md)
#   OUT=<dir>     where the JSON results go (default: a new temp dir)
#   REDIS_URL     use this Redis instead of starting a private redis-server
#   JWT_SECRET    shared by the servers and the load generator
#
# Scenarios (full size):
#   1 idle        15,000 connections x 5 symbols, no ticks: RSS/conn, CPU/connect
#   2 fanout      5,000 connections x 5 of 100 symbols at 2, 4, 20 ticks/s/symbol
#   3 broadcast   15,000 connections on one symbol at 10 ticks/s
#   4 orders      5,000 users, 5,000 order updates/s, exactly-once check
#   5 slow        scenario 2 at 2/s with 1 % stalled clients (compare with 2 at 2/s)
#   6 scale-out   3 server processes x 18,000 connections, ticks and orders (loadgen in 4 processes)
#   7 storm       recovery storm: 3 server processes, 15,000 order clients on the
#                 first and 1,000 tick clients on each (5 of 100 symbols at 2/s),
#                 5,000 orders/s appended to the order:updates stream; the first
#                 is killed (-9) and its clients come back on the other two with
#                 their pid and offset. The gateway runs with USER_STREAMS=streams,
#                 the Node reference with RECOVERY=streams; the floor is skipped.
#   scale         100,000 sockets on 6 server processes, each subscribed to 5 of
#                 100 symbols and authenticated, ramped at 1,500/s per node by 6
#                 loadgen processes; then 1 tick/s per symbol and 1,000 orders/s
#                 over all the users. RSS per connection per node (right after
#                 the ramp and after 65 s idle), CPU per connect, tick and order
#                 p99, orders exactly once, and the servers' RSS AFTER_CLOSE (170s) after the
#                 clients closed (the gateway checks its memory every 30 s).
#   8 throttle    5,000 connections x 1 of 100 symbols (50 per symbol) at 20 ticks/s, run twice:
#                 every client unthrottled, then half of them (every other one)
#                 subscribed with throttleMs 250 (at most 4 ticks/s per symbol);
#                 gateway targets only (the others have no throttle)
# At SCALE=1 scenarios 1-6 take about 3-4 minutes per target, 7 about 1.5 (gateway)
# to 3.5 (Node, which keeps the clients waiting).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
scale=${SCALE:-1}
duration=${DURATION:-10s}
warmup=${WARMUP:-2s}
scenarios=${SCENARIOS:-1 2 3 4 5 6 8}
secret=${JWT_SECRET:-scenario-secret}
work=$(mktemp -d /tmp/scenarios.XXXXXX)
out=${OUT:-$work/results}
mkdir -p "$out"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(node floor)
kill_after=${KILL_AFTER:-10s}
# Extra environment for the servers of one scenario (scenario 7).
server_env=()

started_pids=()
cleanup() {
	for pid in "${started_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${started_pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT

log() { printf 'scenarios: %s\n' "$*" >&2; }

free_port() {
	local port
	for _ in $(seq 1 200); do
		# Below the ephemeral range (32768+) so no client socket holds it.
		port=$((10000 + RANDOM % 22000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	log "no free port found"
	exit 1
}

log "building loadgen and floor into $work"
(cd "$root" && go build -o "$work/loadgen" ./bench/loadgen && go build -o "$work/floor" ./bench/floor)

if [ -z "${REDIS_URL:-}" ]; then
	redis_port=$(free_port)
	redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
	started_pids+=($!)
	REDIS_URL=redis://127.0.0.1:$redis_port
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
		sleep 0.05
	done
fi
export REDIS_URL
log "redis at $REDIS_URL, results in $out"

for target in "${targets[@]}"; do
	if [ "$target" = node ] && [ ! -d "$root/bench/reference/node/node_modules" ]; then
		log "npm ci in bench/reference/node"
		(cd "$root/bench/reference/node" && npm ci --no-audit --no-fund >&2)
	fi
done

# start_servers TARGET COUNT: starts COUNT processes, sets server_pids and
# server_targets (comma lists) and waits until each answers /health.
start_servers() {
	local target=$1 count=$2 port pid
	server_pids="" server_targets="" current_pids=()
	for index in $(seq 1 "$count"); do
		port=$(free_port)
		case $target in
		gateway*=*)
			mkdir -p "$work/logs-$port"
			env "${server_env[@]}" PORT="$port" JWT_SECRET="$secret" REDIS_URL="$REDIS_URL" DEMO_FEED=false NODE_ENV=production \
				LOG_DIR="$work/logs-$port" "${target#*=}" serve >"$work/server-$port.log" 2>&1 &
			;;
		node)
			env "${server_env[@]}" PORT="$port" JWT_SECRET="$secret" REDIS_URL="$REDIS_URL" NODE_ENV=production \
				node "$root/bench/reference/node/server.js" >"$work/server-$port.log" 2>&1 &
			;;
		floor)
			PORT=$port REDIS_URL=$REDIS_URL "$work/floor" >"$work/server-$port.log" 2>&1 &
			;;
		*)
			log "unknown target $target"
			exit 2
			;;
		esac
		pid=$!
		started_pids+=("$pid")
		current_pids+=("$pid")
		server_pids+="${server_pids:+,}$pid"
		server_targets+="${server_targets:+,}127.0.0.1:$port"
		for attempt in $(seq 1 200); do
			curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
			if ! kill -0 "$pid" 2>/dev/null || [ "$attempt" = 200 ]; then
				log "$target did not start; log:"
				cat "$work/server-$port.log" >&2
				exit 1
			fi
			sleep 0.1
		done
	done
}

stop_servers() {
	local pid
	for pid in "${current_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${current_pids[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

target_name() {
	case $1 in
	gateway*=*) echo "${1%%=*}" ;;
	*) echo "$1" ;;
	esac
}

# measure SCENARIO TARGET SERVERS CLIENTS loadgen-flags...
measure() {
	local scenario=$1 target=$2 servers=$3 clients=$4
	shift 4
	local name procs
	name=$(target_name "$target")
	clients=$(((clients + scale - 1) / scale))
	procs=${loadgen_procs:-$(((clients + 14999) / 15000))}
	start_servers "$target" "$servers"
	log "$scenario/$name: $clients clients on $servers process(es)"
	if ! "$work/loadgen" -label "$scenario/$name" -target "$server_targets" -server-pid "$server_pids" \
		-clients "$clients" -procs "$procs" -jwt-secret "$secret" -redis-url "$REDIS_URL" \
		-warmup "$warmup" -duration "$duration" -progress 5s -out "$out/$scenario--$name.json" "$@" >/dev/null; then
		log "$scenario/$name failed"
	fi
	stop_servers
}

orders_rate=$(((5000 + scale - 1) / scale))
# scale: how long after the clients closed the servers' memory is read.
# The default is past the gateway's recovery window (2 min: closed sessions
# are kept that long for their clients to come back), its session sweep
# (a tenth of the window) and its 30 s memory check.
after_close=${AFTER_CLOSE:-170s}
# Loadgen processes of one scenario, when not one per 15,000 clients (scale).
loadgen_procs=
for scenario in $scenarios; do
	for target in "${targets[@]}"; do
		case $scenario in
		1) measure 1-idle "$target" 1 15000 -symbols 100 -per-client 5 -rate 0 -warmup 0s -duration 5s ;;
		2)
			for rate in 2 4 20; do
				measure "2-fanout-${rate}ps" "$target" 1 5000 -symbols 100 -per-client 5 -rate "$rate"
			done
			;;
		3) measure 3-broadcast "$target" 1 15000 -symbols 1 -per-client 1 -rate 10 ;;
		4)
			if [ "$target" = floor ]; then
				log "4-orders/floor skipped: the floor relay carries market data only"
				continue
			fi
			measure 4-orders "$target" 1 5000 -symbols 1 -per-client 0 -rate 0 -orders-rate "$orders_rate"
			;;
		5) measure 5-stalled-1pct "$target" 1 5000 -symbols 100 -per-client 5 -rate 2 -stalled-percent 1 ;;
		6)
			# Orders too, checked exactly-once across the three nodes (not on
			# the floor relay, which carries market data only). The ramp is
			# gentler: 54,000 handshakes share the two cores with the clients.
			orders=()
			[ "$target" = floor ] || orders=(-orders-rate "$orders_rate")
			measure 6-scale-out-3x "$target" 3 54000 -symbols 100 -per-client 5 -rate 2 \
				-ramp 1000 -connect-timeout 30s "${orders[@]}"
			;;
		8)
			case $target in
			gateway*=*) ;;
			*)
				log "8-throttle/$target skipped: throttled subscriptions are the gateway's"
				continue
				;;
			esac
			measure 8-throttle-none "$target" 1 5000 -symbols 100 -per-client 1 -rate 20
			measure 8-throttle-half "$target" 1 5000 -symbols 100 -per-client 1 -rate 20 \
				-throttle-fraction 0.5 -throttle-ms 250
			;;
		7)
			case $target in
			gateway*=*) server_env=(USER_STREAMS=streams RECOVERY_WINDOW_MS=120000) ;;
			node) server_env=(RECOVERY=streams RECOVERY_WINDOW_MS=120000) ;;
			*)
				log "7-storm/$target skipped: the floor relay carries market data only"
				continue
				;;
			esac
			# A clean slate: the order stream, and the Node adapter's stream
			# and consumer group, hold nothing of an earlier run. Then one
			# entry for a user nobody is, as a stream in production is never
			# empty when clients connect: the gateway cannot recover a
			# session begun before its node read any entry, for a client
			# that got no message before the crash, on a node that started
			# later (bench/RESULTS.md).
			redis-cli -u "$REDIS_URL" DEL order:updates position:updates notifications socket.io >/dev/null
			if [ "${STORM_SEED:-1}" = 1 ]; then
				redis-cli -u "$REDIS_URL" XADD order:updates '*' data '{"userId":"storm-seed","orderId":"seed"}' >/dev/null
			fi
			# The ramp is per loadgen process (2 at full size): 600
			# connections/s, which a single Node process takes without
			# refusing any.
			measure 7-storm "$target" 3 18000 -storm-clients $(((15000 + scale - 1) / scale)) \
				-symbols 100 -per-client 5 -rate 2 -orders-rate "$orders_rate" -orders-stream \
				-kill-after "$kill_after" -storm-timeout 90s -settle 5s -ramp 300 -connect-timeout 30s
			server_env=()
			;;
		scale)
			# One loadgen process per node, each ramping 1,500/s spread
			# round-robin over the six nodes: 1,500/s arrive at each node.
			loadgen_procs=6
			orders=()
			[ "$target" = floor ] || orders=(-orders-rate $(((1000 + scale - 1) / scale)))
			measure scale-100k "$target" 6 100000 -symbols 100 -per-client 5 -rate 1 \
				-ramp 1500 -connect-timeout 60s -drain 30s -idle-settle 65s -after-close "$after_close" "${orders[@]}"
			loadgen_procs=
			;;
		*)
			log "unknown scenario $scenario"
			exit 2
			;;
		esac
	done
done

"$work/loadgen" compare -baseline node "$out"/*.json
log "JSON results kept in $out"
