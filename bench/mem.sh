#!/usr/bin/env bash
# Memory of `lockgate serve`'s whole process session (workers and writer processes included),
# idle and after DUR seconds of wrk c=8, every default on (bench/lockgate-full.yaml):
#   bench/mem.sh thread|process WORKERS      (SRC=<other src dir> to measure another build)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
H=$(mktemp -d "${TMPDIR:-/tmp}/lockgate-mem.XXXXXX")
cp -r $REPO/bench/harness/. $H/; mkdir -p $H/pids $H/logs
MP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BENCH_HOME=$H PORT=$MP $H/mock/start.sh >/dev/null
sed "s/127.0.0.1:18080/127.0.0.1:$MP/g; s#\${BENCH_HOME}#$H#g" $REPO/bench/lockgate-full.yaml > $H/c.yaml
sed -i "s#^  database_url: .*#&\n  database_writer: $1#" $H/c.yaml
cd $H
PYTHONPATH=${SRC:-} setsid $REPO/.venv/bin/python -m lockgate serve -c $H/c.yaml --port $LP --workers $2 > $H/logs/lg.log 2>&1 &
LGPID=$!
for _ in $(seq 300); do curl -fs -o /dev/null http://127.0.0.1:$LP/health && break; sleep 0.2; done
sleep 3
foot() {
  python3 - "$LGPID" <<'PY'
import os, sys
sid = os.getsid(int(sys.argv[1])); rss = pss = 0; n = 0; parts = []
for p in os.listdir("/proc"):
    if not p.isdigit(): continue
    try:
        if os.getsid(int(p)) != sid: continue
        for line in open(f"/proc/{p}/smaps_rollup"):
            if line.startswith("Rss:"): rss += int(line.split()[1])
            if line.startswith("Pss:"): pss += int(line.split()[1])
        n += 1
        one = [l for l in open(f"/proc/{p}/smaps_rollup") if l.startswith(("Rss:", "Pss:"))]
        parts.append(f"{p}:{int(one[0].split()[1])//1024}/{int(one[1].split()[1])//1024}")
    except OSError: pass
print(f"procs {n} RSS {rss/1024:.1f} MiB PSS {pss/1024:.1f} MiB  (pid:RSS/PSS MiB {' '.join(parts)})")
PY
}
echo "writer=$1 workers=$2 idle: $(foot)"
export BENCH_MODEL=gpt-4o-mini
wrk -t1 -c8 -d${DUR:-8}s -s $H/wrk/chat.lua http://127.0.0.1:$LP | grep -E "Requests/sec"
sleep 3
echo "writer=$1 workers=$2 after traffic: $(foot)"
kill -TERM -- -$LGPID 2>/dev/null || true
kill -TERM -- -$(cat $H/pids/nginx.pid) 2>/dev/null || true
sleep 2
