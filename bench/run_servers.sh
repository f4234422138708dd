#!/usr/bin/env bash
# lockgate under several server stacks, side by side with the bare proxy, in one run:
# guarded (what `lockgate serve` runs), plain uvicorn+httptools, hypercorn, granian.
#   STACKS="guarded uvicorn hypercorn granian" DURATION=10 REPEATS=2 CONC=32 ./bench/run_servers.sh
#   BENCH_ARGS="--quiet-wait 5 --max-foreign 8 --retries 0" on a shared machine (CPU ms/request stays comparable)
#   STACKS also takes guarded2 (`lockgate serve --workers 2`) and granian2 (granian, 2 workers)
#   MOCK_PORT=18180 PYPROXY_PORT=14200 BASE_PORT=15200  ports of their own (another bench holds the defaults)
#   CONFIG=bench/lockgate-full.yaml  another lockgate config (its upstream port follows MOCK_PORT)
#   BARE_STACKS="granian granian-rsgi"  the bare proxy under these servers too (ASGI app.py /
#              RSGI rsgi_app.py), next to its uvicorn run
#   BARE_WORKERS=2  also the bare proxy (uvicorn) with 2 workers: the yardstick for guarded2
#   AUTOGROUP_NICE=-10  also give each server's session (setsid: its own scheduler autogroup) and
#              this script's (run it under setsid) that autogroup nice: with autogroups on,
#              `nice` only orders processes inside one session, not against other sessions' jobs
# needs: pip install granian hypercorn (bench only; lockgate itself runs on uvicorn)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
export BENCH_HOME=${BENCH_HOME:-$(mktemp -d "${TMPDIR:-/tmp}/lockgate-servers.XXXXXX")}
cp -r "$REPO/bench/harness/." "$BENCH_HOME/"
ln -sfn "$VENV" "$BENCH_HOME/venv-pyproxy"
mkdir -p "$BENCH_HOME/pids" "$BENCH_HOME/logs"
B=$BENCH_HOME
STACKS=${STACKS:-guarded uvicorn hypercorn granian}
BARE_STACKS=${BARE_STACKS:-}
cleanup() { "$B/stop_pid.sh" pyproxy pyproxy-w2 nginx $STACKS $(for s in $BARE_STACKS; do echo "pyproxy-$s"; done) >/dev/null 2>&1 || true; }
trap cleanup EXIT
MOCK_PORT=${MOCK_PORT:-18080}; PYPROXY_PORT=${PYPROXY_PORT:-14100}
PORT=$MOCK_PORT "$B/mock/start.sh"
SERVER=uvicorn CLIENT=aiohttp PORT=$PYPROXY_PORT UPSTREAM=http://127.0.0.1:$MOCK_PORT "$B/pyproxy/start.sh"
TARGETS=(--target pyproxy-aiohttp=http://127.0.0.1:$PYPROXY_PORT@pyproxy)
bare_port=$PYPROXY_PORT
if [ "${BARE_WORKERS:-1}" = 2 ]; then
  bare_port=$((bare_port + 1))
  SERVER=uvicorn WORKERS=2 NAME=pyproxy-w2 CLIENT=aiohttp PORT=$bare_port UPSTREAM=http://127.0.0.1:$MOCK_PORT "$B/pyproxy/start.sh"
  TARGETS+=(--target "pyproxy-w2=http://127.0.0.1:$bare_port@pyproxy-w2")
fi
for s in $BARE_STACKS; do
  bare_port=$((bare_port + 1))
  SERVER=$s NAME=pyproxy-$s CLIENT=aiohttp PORT=$bare_port UPSTREAM=http://127.0.0.1:$MOCK_PORT "$B/pyproxy/start.sh"
  TARGETS+=(--target "pyproxy-$s=http://127.0.0.1:$bare_port@pyproxy-$s")
done
CONFIG=$(realpath "${CONFIG:-$REPO/bench/lockgate.yaml}")
sed "s/127.0.0.1:18080/127.0.0.1:$MOCK_PORT/g" "$CONFIG" > "$B/lockgate.yaml"
port=${BASE_PORT:-15100}
cd "$B"
for s in $STACKS; do
  port=$((port + 1))
  setsid nohup "$VENV/bin/python" "$REPO/bench/serve_stack.py" "$s" "$port" "$B/lockgate.yaml" > "$B/logs/$s.log" 2>&1 &
  echo $! > "$B/pids/$s.pid"
  for _ in $(seq 150); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.2; done
  curl -fs -o /dev/null "http://127.0.0.1:$port/health" || { tail -30 "$B/logs/$s.log"; exit 1; }
  TARGETS+=(--target "lockgate-$s=http://127.0.0.1:$port@$s")
done
cd "$REPO"
if [ -n "${AUTOGROUP_NICE:-}" ] && [ -e /proc/self/autogroup ]; then
  for f in "$B"/pids/*.pid; do echo "$AUTOGROUP_NICE" > "/proc/$(cat "$f")/autogroup" || true; done
  echo "$AUTOGROUP_NICE" > /proc/self/autogroup || true  # this script's own session (wrk)
fi
RUN_ID=${RUN_ID:-servers-$(date +%Y%m%d-%H%M%S)}
python3 "$B/run_bench.py" --tag "$RUN_ID" "${TARGETS[@]}" \
  --conc "${CONC:-32}" --duration "${DURATION:-10}" --repeats "${REPEATS:-2}" --warmup "${WARMUP:-3}" ${BENCH_ARGS:-}
python3 "$B/summarize.py" "$B/results/$RUN_ID" --md "$B/results/$RUN_ID/summary.md" >/dev/null
cat "$B/results/$RUN_ID/summary.md"
mkdir -p "$REPO/bench/results" && cp -r "$B/results/$RUN_ID" "$REPO/bench/results/"
