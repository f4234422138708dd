#!/usr/bin/env bash
# The c=8 tail of one target, two ways (issue 18; docs/notes/2026-11-30-s12/p99tail.md):
#   1. wrk -t2 -c8 for D s (default 8): the latency quantile function (bench/wrk/quantiles.lua);
#   2. wrk again with `perf record -k mono -a` for 3 s in its middle (scheduler switches and
#      wake-ups, the gateway main thread's system calls, cpu-clock samples at 2 kHz per CPU),
#      read by bench/tail_timeline.py: the loop's time split into runs, long runs (what
#      ran), runnable waits (who had the CPU), GIL/futex and epoll sleeps; GC collections
#      from bench/tailprobe (wall-clock start and end, both processes).
# VARIANT=full|core|pyproxy (CFG=<yaml> for another config); SRC=<checkout>/src for another
# build; CHILD_NICE=n / CHILD_IDLE=1 the writer child's nice or SCHED_IDLE (set from outside);
# TH=a,b,c GC thresholds after the freeze (tailprobe); OUT=<dir> keeps everything.
# Run under the bench lock at nice -10:
#   flock /tmp/lockgate-bench.lock nice -n -10 env VARIANT=full bench/p99_tail.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd); V=${VENV:-$REPO/.venv}; VARIANT=${VARIANT:-full}
export BENCH_HOME=$(mktemp -d ${TMPDIR:-/tmp}/lockgate-tail.XXXX); B=$BENCH_HOME
OUT=${OUT:-$B/out}; mkdir -p "$OUT"
cp -r $REPO/bench/harness/. $B/; ln -sfn $V $B/venv-pyproxy; mkdir -p $B/pids $B/logs
cleanup() { for f in $B/pids/*.pid; do n=$(basename $f .pid); $B/stop_pid.sh $n >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MP=$(fp); P=$(fp)
PORT=$MP $B/mock/start.sh >/dev/null
cat $B/wrk/chat.lua $REPO/bench/wrk/quantiles.lua > $B/q.lua
if [ $VARIANT = pyproxy ]; then
  SERVER=uvicorn CLIENT=aiohttp PORT=$P UPSTREAM=http://127.0.0.1:$MP NAME=t $B/pyproxy/start.sh >/dev/null
else
  cfg=$REPO/bench/lockgate-full.yaml; [ $VARIANT = core ] && cfg=$REPO/bench/lockgate.yaml; [ -n "${CFG:-}" ] && cfg=$CFG
  sed "s/127.0.0.1:18080/127.0.0.1:$MP/g; s#\${BENCH_HOME}#$B#g" $cfg > $B/c.yaml
  cd $B
  TAILPROBE_DIR=$OUT TAILPROBE_TH=${TH:-} PYTHONPATH=${SRC:+$SRC:}$REPO/bench/tailprobe \
    setsid nohup $V/bin/lockgate serve -c $B/c.yaml --port $P > $B/logs/t.log 2>&1 &
  echo $! > $B/pids/t.pid; cd "$REPO"
  for _ in $(seq 150); do curl -fs -o /dev/null http://127.0.0.1:$P/health && break; sleep 0.1; done
fi
for f in $B/pids/*.pid; do [ -e /proc/self/autogroup ] && echo -10 > /proc/$(cat $f)/autogroup 2>/dev/null || true; done
wrk -t2 -c8 -d3s -s $B/q.lua http://127.0.0.1:$P >/dev/null; sleep 1
pid=$(cat $B/pids/t.pid); kids=$(for k in $(pgrep -P $pid); do ls /proc/$k/task; done | paste -sd, || true)
threads=$(ls /proc/$pid/task | grep -vx $pid | paste -sd, || true)
[ -n "${LOOP_SLICE:-}" ] && python3 ${SLICE_TOOL:-/tmp/p99t/tools/set_slice.py} $pid $LOOP_SLICE
for k in ${kids//,/ }; do
  [ -n "${CHILD_SLICE:-}" ] && python3 ${SLICE_TOOL:-/tmp/p99t/tools/set_slice.py} $k $CHILD_SLICE
  [ -n "${CHILD_NICE:-}" ] && renice -n $CHILD_NICE -p $k >/dev/null
  [ -n "${CHILD_IDLE:-}" ] && chrt -i -p 0 $k
done
L0=$(cut -d' ' -f1-3 /proc/loadavg)
wrk -t2 -c8 -d${D:-8}s --latency -s $B/q.lua http://127.0.0.1:$P > $OUT/wrk-plain.out
L1=$(cut -d' ' -f1-3 /proc/loadavg)
wrk -t2 -c8 -d7s --latency -s $B/q.lua http://127.0.0.1:$P > $OUT/wrk-perf.out &
W=$!
sleep 2
# system calls of the loop, wrk's threads and nginx's worker: bench/tail_requests.py reads each
# request's span off wrk's write and read on its connection
wtids=$(ls /proc/$W/task | paste -sd' '); ngw=$(pgrep -P "$(cat $B/pids/nginx.pid)" | paste -sd' ')
filter=$(for t in $pid $wtids $ngw; do printf "common_pid == %s || " $t; done | sed 's/ || $//')
perf record -k mono -a -e sched:sched_switch -e sched:sched_wakeup \
  -e raw_syscalls:sys_enter --filter "$filter" -e raw_syscalls:sys_exit --filter "$filter" \
  -e cpu-clock/period=500000/ -o $B/s.data -- sleep 3 >/dev/null 2>&1
echo "pid $pid kids $kids threads $threads wrk $wtids nginx $ngw" > $OUT/pids.txt
wait $W
echo "$VARIANT${SRC:+ src=$SRC}${TH:+ th=$TH}${CHILD_NICE:+ child nice $CHILD_NICE}${CHILD_IDLE:+ child SCHED_IDLE}${LOOP_SLICE:+ loop slice $LOOP_SLICE us}${CHILD_SLICE:+ child slice $CHILD_SLICE us}: load $L0 -> $L1 -> $(cut -d' ' -f1-3 /proc/loadavg)" | tee $OUT/label.txt
for w in plain perf; do
  python3 - $OUT/wrk-$w.out $w <<'PY'
import json, sys
t = open(sys.argv[1]).read()
q = json.loads(t.split("QUANT:")[1].splitlines()[0])
d = q["q"]
print(f"  wrk ({sys.argv[2]}): {q['requests'] / q['duration_us'] * 1e6:.0f} rps, mean {q['mean'] / 1e3:.2f} ms; "
      + " ".join(f"p{k} {d[k] / 1e3:.2f}" for k in ("50", "75", "90", "95", "98", "99", "99.5", "99.9")) + f" max {q['max'] / 1e3:.1f}")
PY
done | tee $OUT/wrk.txt
gcf=$OUT/gc-$pid.jsonl
python3 $REPO/bench/tail_timeline.py $B/s.data $pid --kids "$kids" --threads "$threads" --gc $gcf --label "$VARIANT" --json $OUT/timeline.json | tee $OUT/timeline.txt
python3 $REPO/bench/tail_requests.py $B/s.data $OUT/pids.txt | tee $OUT/requests.txt
if [ -n "${KEEP:-}" ]; then mv $B/s.data $OUT/s.data; else rm -f $B/s.data; fi
