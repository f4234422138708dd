#!/usr/bin/env bash
# The c=8 tail of one target, two ways (issue 18; docs/notes/2026-11-30-s12/p99tail.md):
#   1. wrk -t2 -c8 for D s (default 8): the latency quantile function (bench/wrk/quantiles.lua);
#   2. wrk again with `perf record -k mono -a` for 3 s in its middle (scheduler switches and
#      wake-ups, the gateway main thread's system calls, cpu-clock samples at 2 kHz per CPU),
#      read by bench/tail_timeline.py: the loop's time split into runs, long runs (what
#      ran), runnable waits (who had the CPU), GIL/futex and epoll sleeps; GC collections
#      from bench/tailprobe (wall-clock start and end, both processes).
# VARIANT=full|core|pyproxy (CFG=<yaml> for another config); SRC=<checkout>/src for another
# build; CHILD_NICE=n / CHILD_IDLE=1 / CHILD_BATCH=1 the writer child's nice or policy (set
# from outside; bench/p99_stack.sh); TH=a,b,c GC thresholds after the freeze (tailprobe);
# OUT=<dir> keeps everything.
# Run under the bench lock at nice -10:
#   flock /tmp/lockgate-bench.lock nice -n -10 env VARIANT=full bench/p99_tail.sh
set -euo pipefail
. "$(dirname "$0")/p99_stack.sh"
p99_stack_home lockgate-tail
OUT=${OUT:-$B/out}; mkdir -p "$OUT"
p99_stack_serve "$REPO/bench/tailprobe" TAILPROBE_DIR=$OUT TAILPROBE_TH=${TH:-}
cat $B/wrk/chat.lua $REPO/bench/wrk/quantiles.lua > $B/q.lua
p99_stack_warm $B/q.lua
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
echo "$VARIANT${SRC:+ src=$SRC}${TH:+ th=$TH}${CHILD_NICE:+ child nice $CHILD_NICE}${CHILD_IDLE:+ child SCHED_IDLE}${CHILD_BATCH:+ child SCHED_BATCH}: load $L0 -> $L1 -> $(cut -d' ' -f1-3 /proc/loadavg)" | tee $OUT/label.txt
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
