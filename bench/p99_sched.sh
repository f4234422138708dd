#!/usr/bin/env bash
# One lockgate (or the bare proxy) under wrk -t2 -c8 (D=10 s) with `perf sched record -a` for 3 s in
# the middle; prints wrk P50/P90/P99 and bench/sched_waits.py's report.  VARIANT=full|core|pyproxy;
# SRC=<other checkout>/src for another build; CHILD_NICE / CHILD_IDLE / CHILD_BATCH set the writer
# child's priority or policy from outside (what was tried in session 11).  Run under the bench lock.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd); V=${VENV:-$REPO/.venv}; VARIANT=${VARIANT:-full}
export BENCH_HOME=$(mktemp -d ${TMPDIR:-/tmp}/lockgate-sched.XXXX); B=$BENCH_HOME
cp -r $REPO/bench/harness/. $B/; ln -sfn $V $B/venv-pyproxy; mkdir -p $B/pids $B/logs
cleanup() { for f in $B/pids/*.pid; do n=$(basename $f .pid); $B/stop_pid.sh $n >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MP=$(fp); P=$(fp)
PORT=$MP $B/mock/start.sh >/dev/null
export PYTHONPATH=${SRC:-}
if [ $VARIANT = pyproxy ]; then
  SERVER=uvicorn CLIENT=aiohttp PORT=$P UPSTREAM=http://127.0.0.1:$MP NAME=t $B/pyproxy/start.sh >/dev/null
else
  cfg=$REPO/bench/lockgate-full.yaml; [ $VARIANT = core ] && cfg=$REPO/bench/lockgate.yaml; [ -n "${CFG:-}" ] && cfg=$CFG
  sed "s/127.0.0.1:18080/127.0.0.1:$MP/g; s#\${BENCH_HOME}#$B#g" $cfg > $B/c.yaml
  cd $B; setsid nohup $V/bin/lockgate serve -c $B/c.yaml --port $P > $B/logs/t.log 2>&1 & echo $! > $B/pids/t.pid; cd "$REPO"
  for _ in $(seq 150); do curl -fs -o /dev/null http://127.0.0.1:$P/health && break; sleep 0.1; done
fi
wrk -t2 -c8 -d3s -s $B/wrk/chat.lua http://127.0.0.1:$P >/dev/null; sleep 1.5
pid=$(cat $B/pids/t.pid); kids=$(pgrep -P $pid | paste -sd, || true)
[ -n "${CHILD_NICE:-}" ] && for k in ${kids//,/ }; do renice -n $CHILD_NICE -p $k >/dev/null; done
[ -n "${CHILD_IDLE:-}" ] && for k in ${kids//,/ }; do chrt -i -p 0 $k; done
[ -n "${CHILD_BATCH:-}" ] && for k in ${kids//,/ }; do chrt -b -p 0 $k; done
uptime
wrk -t2 -c8 -d${D:-10}s --latency -s $B/wrk/chat.lua http://127.0.0.1:$P > $B/wrk.out &
W=$!
sleep 3; perf sched record -a -o $B/s.data -- sleep 3 >/dev/null 2>&1
wait $W
grep -E "^\s+(50|90|99)%|Requests/sec" $B/wrk.out | tr -s ' ' | paste -sd' '
python3 $REPO/bench/sched_waits.py $B/s.data $pid "$kids" "$VARIANT${CHILD_NICE:+ child nice $CHILD_NICE}${CHILD_IDLE:+ child SCHED_IDLE}${CHILD_BATCH:+ child SCHED_BATCH}"
rm -f $B/s.data
