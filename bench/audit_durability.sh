#!/usr/bin/env bash
# audit durability async vs sync, live: the nginx mock upstream, one lockgate process per
# mode (bench/lockgate-audit-{async,sync}.yaml), wrk at CONC connections for DURATION s,
# modes interleaved ROUNDS times. No quiet-machine gate (run_gateway.sh has one): read the
# figures as a relative comparison made under the same load.
#   ROUNDS=3 DURATION=10 CONC=32 ./bench/audit_durability.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
export BENCH_HOME=${BENCH_HOME:-$(mktemp -d "${TMPDIR:-/tmp}/lockgate-audit-bench.XXXXXX")}
cp -r "$REPO/bench/harness/." "$BENCH_HOME/"
B=$BENCH_HOME
GW_PID=""
cleanup() {
  [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null || true
  [ -f "$B/pids/nginx.pid" ] && kill "$(cat "$B/pids/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT
"$B/mock/start.sh" >/dev/null
for round in $(seq "${ROUNDS:-3}"); do
  for mode in async sync; do
    rm -f "$B/lockgate.db"
    "$VENV/bin/lockgate" serve -c "$REPO/bench/lockgate-audit-$mode.yaml" > "$B/lockgate-$mode.log" 2>&1 &
    GW_PID=$!
    for _ in $(seq 100); do curl -fs -o /dev/null http://127.0.0.1:15000/health && break; sleep 0.1; done
    wrk -t2 -c"${CONC:-32}" -d2s -s "$B/wrk/chat.lua" http://127.0.0.1:15000 >/dev/null
    out=$(wrk -t2 -c"${CONC:-32}" -d"${DURATION:-10}s" -s "$B/wrk/chat.lua" http://127.0.0.1:15000 | grep '^JSON:')
    echo "round $round $mode ${out#JSON:}"
    kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""
  done
done
