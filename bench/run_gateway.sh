#!/usr/bin/env bash
# lockgate's overhead, side by side with a direct call to a fixed-response upstream (nginx)
# and with the bare Starlette + uvicorn + aiohttp proxy (the "physical limit" of a Python hop).
# Reports RPS, P50/P99 latency and CPU ms per request for each (harness: bench/harness/).
#   DURATION=20 REPEATS=3 CONC=8,32 WARMUP=5 RUN_ID=name ./bench/run_gateway.sh
#   STREAM=1   SSE answers (lockgate vs nginx only)
#   CACHED=1   temperature-0 requests: after the first, lockgate answers from its exact cache
#   CONFIG=... another lockgate config (default bench/lockgate.yaml)
#   BEFORE=<commit>  also run that commit's lockgate (own port and data dir) in the same run
#   QUIET_WAIT=60 QUIET_THRESHOLD=0.15 MAX_FOREIGN=0.2  the quiet-machine gate (relax on shared
#              boxes and compare ratios within one run)
#   AUTOGROUP_NICE=-10  also give each process group of the bench (started with setsid, so each
#              is its own scheduler autogroup) that autogroup nice: with autogroups on, `nice`
#              only orders processes inside one session, not against other sessions' jobs
#   MOCK_PORT PYPROXY_PORT LG_PORT BEFORE_PORT  ports (default: free ones picked by the OS, so two
#              benches on one machine never collide; the config's upstream port follows MOCK_PORT)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
[ -x "$VENV/bin/lockgate" ] || { echo "install lockgate first: python3 -m venv .venv && .venv/bin/pip install -e '.[test]'"; exit 1; }
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx wrk >/dev/null
fi
export BENCH_HOME=${BENCH_HOME:-$(mktemp -d "${TMPDIR:-/tmp}/lockgate-bench.XXXXXX")}
cp -r "$REPO/bench/harness/." "$BENCH_HOME/"
ln -sfn "$VENV" "$BENCH_HOME/venv-pyproxy"
mkdir -p "$BENCH_HOME/pids" "$BENCH_HOME/logs"
B=$BENCH_HOME
cleanup() { "$B/stop_pid.sh" lockgate lockgate-before pyproxy nginx >/dev/null 2>&1 || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MOCK_PORT=${MOCK_PORT:-$(free_port)}; PYPROXY_PORT=${PYPROXY_PORT:-$(free_port)}
LG_PORT=${LG_PORT:-$(free_port)}; BEFORE_PORT=${BEFORE_PORT:-$(free_port)}
echo "ports: mock $MOCK_PORT, bare proxy $PYPROXY_PORT, lockgate $LG_PORT, before $BEFORE_PORT"

PORT=$MOCK_PORT "$B/mock/start.sh"
SERVER=uvicorn CLIENT=aiohttp PORT=$PYPROXY_PORT UPSTREAM=http://127.0.0.1:$MOCK_PORT "$B/pyproxy/start.sh"
sed "s/127.0.0.1:18080/127.0.0.1:$MOCK_PORT/g" "$(realpath "${CONFIG:-$REPO/bench/lockgate.yaml}")" > "$B/lockgate.yaml"
CONFIG=$B/lockgate.yaml
# Started directly (not in a subshell) so that the recorded PID leads the new session
# and the harness sums the gateway's CPU over it.
cd "$B"
setsid nohup "$VENV/bin/lockgate" serve -c "$CONFIG" --port "$LG_PORT" > "$B/logs/lockgate.log" 2>&1 &
echo $! > "$B/pids/lockgate.pid"
if [ -n "${BEFORE:-}" ]; then
  # The other commit's source first on the path (the venv's editable install is a plain .pth).
  mkdir -p "$B/before" && git -C "$REPO" archive "$BEFORE" src | tar -x -C "$B/before"
  cd "$B/before"
  BENCH_HOME="$B/before" PYTHONPATH="$B/before/src" setsid nohup "$VENV/bin/lockgate" serve \
    -c "$CONFIG" --port "$BEFORE_PORT" > "$B/logs/lockgate-before.log" 2>&1 &
  echo $! > "$B/pids/lockgate-before.pid"
fi
cd "$REPO"
PORTS=("$LG_PORT"); [ -n "${BEFORE:-}" ] && PORTS+=("$BEFORE_PORT")
for port in "${PORTS[@]}"; do
  for _ in $(seq 150); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
  curl -fs -o /dev/null "http://127.0.0.1:$port/health" || { tail -30 "$B"/logs/lockgate*.log; exit 1; }
done

if [ -n "${AUTOGROUP_NICE:-}" ] && [ -e /proc/self/autogroup ]; then
  for f in "$B"/pids/*.pid; do echo "$AUTOGROUP_NICE" > "/proc/$(cat "$f")/autogroup" || true; done
  echo "$AUTOGROUP_NICE" > /proc/self/autogroup || true  # this script's own session (wrk)
fi
RUN_ID=${RUN_ID:-$(date +%Y%m%d-%H%M%S)}
TARGETS=(--target direct=http://127.0.0.1:$MOCK_PORT@nginx)
if [ "${STREAM:-0}" = 1 ]; then
  # SSE: the bare proxy has no streaming route, so this compares lockgate with nginx only.
  export BENCH_STREAM=1
  TARGETS+=(--target lockgate=http://127.0.0.1:$LG_PORT@lockgate
            --env direct:BENCH_PATH=/sse/v1/chat/completions --env lockgate:BENCH_MODEL=gpt-4o-mini-sse)
else
  TARGETS+=(--target pyproxy-aiohttp=http://127.0.0.1:$PYPROXY_PORT@pyproxy --target lockgate=http://127.0.0.1:$LG_PORT@lockgate)
fi
if [ -n "${BEFORE:-}" ]; then
  TARGETS+=(--target lockgate-before=http://127.0.0.1:$BEFORE_PORT@lockgate-before)
  [ "${STREAM:-0}" = 1 ] && TARGETS+=(--env lockgate-before:BENCH_MODEL=gpt-4o-mini-sse)
fi
SCRIPT_ARGS=()
if [ "${CACHED:-0}" = 1 ]; then
  SCRIPT_ARGS=(--script "$REPO/bench/wrk/chat_deterministic.lua")
  TARGETS=(--target direct=http://127.0.0.1:$MOCK_PORT@nginx --target lockgate=http://127.0.0.1:$LG_PORT@lockgate)
fi
uptime | tee "$B/uptime-before.txt"
python3 "$B/run_bench.py" --tag "$RUN_ID" "${TARGETS[@]}" "${SCRIPT_ARGS[@]}" \
  --conc "${CONC:-8,32}" --duration "${DURATION:-20}" --repeats "${REPEATS:-3}" --warmup "${WARMUP:-5}" \
  --quiet-wait "${QUIET_WAIT:-600}" --quiet-threshold "${QUIET_THRESHOLD:-0.15}" \
  --max-foreign "${MAX_FOREIGN:-0.2}"
python3 "$B/summarize.py" "$B/results/$RUN_ID" --md "$B/results/$RUN_ID/summary.md" >/dev/null
# the writer process's priority switches, backlog and mode at the end (issue 18, session 13)
KEY=$(sed -n 's/^ *master_key: *//p' "$CONFIG" | head -1)
for t in lockgate:$LG_PORT lockgate-before:$BEFORE_PORT; do
  curl -fs -H "Authorization: Bearer $KEY" "http://127.0.0.1:${t#*:}/metrics" 2>/dev/null \
    | grep -E '^lockgate_(writer|records_(spilled|dropped))' | sed "s/^/${t%%:*} /" || true
done > "$B/results/$RUN_ID/writer-metrics.txt"
uptime | tee "$B/uptime-after.txt"
cat "$B/uptime-before.txt" "$B/uptime-after.txt" > "$B/results/$RUN_ID/uptime.txt"
cat "$B/results/$RUN_ID/summary.md"
mkdir -p "$REPO/bench/results" && cp -r "$B/results/$RUN_ID" "$REPO/bench/results/"
echo "results: $REPO/bench/results/$RUN_ID"
