#!/usr/bin/env bash
# One lockgate (or the bare proxy) under wrk -t2 -c8 (D=10 s) with `perf sched record -a` for 3 s in
# the middle; prints wrk P50/P90/P99 and bench/sched_waits.py's report.  VARIANT=full|core|pyproxy;
# SRC=<other checkout>/src for another build; CHILD_NICE / CHILD_IDLE / CHILD_BATCH set the writer
# child's priority or policy from outside (what was tried in session 11; bench/p99_stack.sh).
# Run under the bench lock.
set -euo pipefail
. "$(dirname "$0")/p99_stack.sh"
p99_stack_home lockgate-sched
p99_stack_serve
p99_stack_warm $B/wrk/chat.lua
uptime
wrk -t2 -c8 -d${D:-10}s --latency -s $B/wrk/chat.lua http://127.0.0.1:$P > $B/wrk.out &
W=$!
sleep 3; perf sched record -a -o $B/s.data -- sleep 3 >/dev/null 2>&1
wait $W
grep -E "^\s+(50|90|99)%|Requests/sec" $B/wrk.out | tr -s ' ' | paste -sd' '
python3 $REPO/bench/sched_waits.py $B/s.data $pid "$kids" "$VARIANT${CHILD_NICE:+ child nice $CHILD_NICE}${CHILD_IDLE:+ child SCHED_IDLE}${CHILD_BATCH:+ child SCHED_BATCH}"
rm -f $B/s.data
