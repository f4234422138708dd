# Sourced by bench/p99_tail.sh and bench/p99_sched.sh: one target behind the nginx mock, on
# free ports, in a fresh BENCH_HOME (a copy of bench/harness), stopped on exit.
#   VARIANT=full|core|pyproxy (CFG=<yaml> for another config); SRC=<checkout>/src for another
#   build; CHILD_NICE=n / CHILD_IDLE=1 / CHILD_BATCH=1 set the writer child's nice or policy
#   from outside (every thread of it; the writer is idle by default since session 13).
# p99_stack_home PREFIX: B (= BENCH_HOME, a new folder named PREFIX.XXXX), MP and P.
# p99_stack_serve [PYTHONPATH-suffix] [VAR=value ...]: the mock and the target (lockgate
#   with PYTHONPATH=$SRC:suffix and the given variables in its environment); pid once the
#   target answers.
# p99_stack_warm LUA: 3 s of wrk -t2 -c8, then kids (the tids of the target's children,
#   comma-separated) and threads (its other threads), with CHILD_* applied.
REPO=$(cd "$(dirname "$0")/.." && pwd); V=${VENV:-$REPO/.venv}; VARIANT=${VARIANT:-full}
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
p99_stack_cleanup() {
  for f in $B/pids/*.pid; do n=$(basename $f .pid); $B/stop_pid.sh $n >/dev/null 2>&1 || true; done
}
p99_stack_home() {
  export BENCH_HOME=$(mktemp -d ${TMPDIR:-/tmp}/$1.XXXX); B=$BENCH_HOME
  cp -r $REPO/bench/harness/. $B/; ln -sfn $V $B/venv-pyproxy; mkdir -p $B/pids $B/logs
  trap p99_stack_cleanup EXIT
  MP=$(fp); P=$(fp)
}
p99_stack_serve() {
  local suffix=${1:-}; [ $# -gt 0 ] && shift
  PORT=$MP $B/mock/start.sh >/dev/null
  if [ $VARIANT = pyproxy ]; then
    SERVER=uvicorn CLIENT=aiohttp PORT=$P UPSTREAM=http://127.0.0.1:$MP NAME=t $B/pyproxy/start.sh >/dev/null
  else
    local cfg=$REPO/bench/lockgate-full.yaml
    [ $VARIANT = core ] && cfg=$REPO/bench/lockgate.yaml; [ -n "${CFG:-}" ] && cfg=$CFG
    sed "s/127.0.0.1:18080/127.0.0.1:$MP/g; s#\${BENCH_HOME}#$B#g" $cfg > $B/c.yaml
    cd $B
    env ${@+"$@"} PYTHONPATH=${SRC:-}${SRC:+${suffix:+:}}$suffix \
      setsid nohup $V/bin/lockgate serve -c $B/c.yaml --port $P > $B/logs/t.log 2>&1 &
    echo $! > $B/pids/t.pid; cd "$REPO"
    for _ in $(seq 150); do curl -fs -o /dev/null http://127.0.0.1:$P/health && break; sleep 0.1; done
  fi
  for f in $B/pids/*.pid; do [ -e /proc/self/autogroup ] && echo -10 > /proc/$(cat $f)/autogroup 2>/dev/null || true; done
  pid=$(cat $B/pids/t.pid)
}
p99_stack_warm() {
  wrk -t2 -c8 -d3s -s $1 http://127.0.0.1:$P >/dev/null; sleep 1.5
  kids=$(for k in $(pgrep -P $pid); do ls /proc/$k/task; done | paste -sd, || true)
  threads=$(ls /proc/$pid/task | grep -vx $pid | paste -sd, || true)
  for k in ${kids//,/ }; do
    [ -n "${CHILD_NICE:-}" ] && renice -n $CHILD_NICE -p $k >/dev/null
    [ -n "${CHILD_IDLE:-}" ] && chrt -i -p 0 $k
    [ -n "${CHILD_BATCH:-}" ] && chrt -b -p 0 $k
  done
  return 0
}
