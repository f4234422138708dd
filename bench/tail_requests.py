"""Where the slowest requests' time went, request by request (issue 18, c=8 tail).

Reads the ``perf record -k mono -a`` file of bench/p99_tail.sh (scheduler switches and
wake-ups on every CPU; system calls of the gateway's loop, wrk's threads and nginx's
worker) and the pids file it writes.  Each request is wrk's ``write`` on a connection up to
the ``read`` that returned its answer (wrk's own latency, to a few µs).  For each request
the time it overlapped with:

- **wrk waiting**: the wrk thread that owns the connection was runnable, not running;
- **loop waiting**: the gateway's loop thread was runnable, not running;
- **nginx waiting**: nginx's worker was runnable, not running;
- **loop long run**: the loop was on a CPU with no system call for 1 ms or more;

each wait split by who had that CPU meanwhile (loop, writer, wrk, nginx, other = another
tenant).  Printed for the median band and for the slowest 1% (what makes the P99).

    python3 bench/tail_requests.py PERF_DATA PIDS_FILE
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys

from tail_timeline import find_long_runs, time_by_name  # the same folder (run as a script)

LINE = re.compile(r"^\s*(.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):(?:\s+(.*))?$")
SWITCH = re.compile(
    r"prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=.*? next_pid=(\d+)"
)
WAKE = re.compile(r"pid=(\d+) ")
ENTER = re.compile(r"NR (\d+) \(([0-9a-f]+)")
EXIT = re.compile(r"NR (\d+) = (-?\d+)")
WRITES, READS = {1, 20, 44}, {0, 19, 45}
LONG = 0.001


def _ids(text: str, key: str) -> list[int]:
    words = text.split()
    out: list[int] = []
    if key not in words:
        return out
    for w in words[words.index(key) + 1 :]:
        if not w.replace(",", "").isdigit():
            break
        out += [int(x) for x in w.split(",") if x]
    return out


def main() -> None:
    data, pids_file = sys.argv[1], sys.argv[2]
    with open(pids_file) as f:
        ids = f.read()
    gw = _ids(ids, "pid")[0]
    kids = set(_ids(ids, "kids"))
    wrk = set(_ids(ids, "wrk"))
    ngx = set(_ids(ids, "nginx"))
    watched = {gw} | wrk | ngx | kids
    out = subprocess.run(
        ["perf", "script", "-i", data, "-F", "comm,tid,cpu,time,event,trace"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout

    def who(tid: int) -> str:
        if tid == gw:
            return "loop"
        if tid in kids:
            return "writer"
        if tid in wrk:
            return "wrk"
        if tid in ngx:
            return "nginx"
        return "idle" if tid == 0 else "other"

    cur: dict[int, tuple[float, int]] = {}
    segs: dict[int, list[tuple[float, float, int]]] = collections.defaultdict(list)
    since: dict[int, float] = {}
    waits: dict[int, list[tuple[float, float, int]]] = collections.defaultdict(list)
    oncpu: dict[int, float] = {}
    runs: list[tuple[float, float]] = []
    loop_sys: list[float] = []
    reading: dict[int, int] = {}
    start: dict[int, tuple[float, int]] = {}
    reqs: list[tuple[float, float, int]] = []  # start, end, wrk tid
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        tid, cpu, t, ev, rest = int(m[2]), int(m[3]), float(m[4]), m[5], m[6] or ""
        if ev == "sched:sched_switch":
            s = SWITCH.search(rest)
            if not s:
                continue
            prev, pstate, nxt = int(s[1]), s[2], int(s[3])
            if cpu in cur:
                segs[cpu].append((cur[cpu][0], t, cur[cpu][1]))
            cur[cpu] = (t, nxt)
            if prev in watched:
                if prev in oncpu and prev == gw:
                    runs.append((oncpu.pop(prev), t))
                if pstate.startswith("R"):
                    since[prev] = t
            if nxt in watched:
                if nxt in since:
                    waits[nxt].append((since.pop(nxt), t, cpu))
                oncpu[nxt] = t
        elif ev == "sched:sched_wakeup":
            w = WAKE.search(rest + " ")
            if w and int(w[1]) in watched and int(w[1]) not in since:
                since[int(w[1])] = t
        elif ev == "raw_syscalls:sys_enter":
            e = ENTER.search(rest)
            if not e:
                continue
            nr, fd = int(e[1]), int(e[2], 16)
            if tid == gw:
                loop_sys.append(t)
            elif tid in wrk:
                if nr in WRITES and fd not in start:
                    start[fd] = (t, tid)
                elif nr in READS:
                    reading[tid] = fd
        elif ev == "raw_syscalls:sys_exit" and tid in wrk:
            x = EXIT.search(rest)
            if x and int(x[1]) in READS and int(x[2]) > 0 and tid in reading:
                fd = reading.pop(tid)
                if fd in start:
                    s0, owner = start.pop(fd)
                    reqs.append((s0, t, owner))
    if not reqs:
        print("no requests found in the trace")
        return
    # long runs of the loop: on a CPU, no system call for LONG
    long_runs = [(x, y) for x, y, _ in find_long_runs(runs, loop_sys, LONG)]

    def ran(cpu: int, x: float, y: float) -> collections.Counter[str]:
        return time_by_name(segs[cpu], x, y, who)

    # each wait's split by who ran, once
    split: dict[tuple[int, float], collections.Counter[str]] = {}
    for tid, ws in waits.items():
        for x, y, cpu in ws:
            split[(tid, x)] = ran(cpu, x, y)

    def overlap(
        ws: list[tuple[float, float, int]], tid: int, a: float, b: float
    ) -> collections.Counter[str]:
        c: collections.Counter[str] = collections.Counter()
        for x, y, _ in ws:
            if y > a and x < b:
                share = (min(y, b) - max(x, a)) / ((y - x) or 1)
                for k, v in split[(tid, x)].items():
                    c[k] += v * share
        return c

    reqs.sort(key=lambda r: r[1] - r[0])
    lat = [b - a for a, b, _ in reqs]
    n = len(reqs)
    p50, p99 = lat[n // 2], lat[int(n * 0.99)]
    print(
        f"requests in the trace: {n}; latency p50 {p50 * 1e3:.2f} ms,"
        f" p90 {lat[int(n * 0.9)] * 1e3:.2f},"
        f" p99 {p99 * 1e3:.2f}, max {lat[-1] * 1e3:.2f}"
    )
    bands = {
        "p45-p55": reqs[int(n * 0.45) : int(n * 0.55)],
        "p90-p99": reqs[int(n * 0.90) : int(n * 0.99)],
        "slowest 1%": reqs[int(n * 0.99) :],
    }
    ngw = next(iter(ngx)) if ngx else -1
    for name, band in bands.items():
        tot: collections.Counter[str] = collections.Counter()
        for a, b, owner in band:
            tot["latency"] += b - a
            for k, v in overlap(waits.get(owner, []), owner, a, b).items():
                tot["wrk waiting (" + k + ")"] += v
            for k, v in overlap(waits.get(gw, []), gw, a, b).items():
                tot["loop waiting (" + k + ")"] += v
            for k, v in overlap(waits.get(ngw, []), ngw, a, b).items():
                tot["nginx waiting (" + k + ")"] += v
            for x, y in long_runs:
                if y > a and x < b:
                    tot["loop long run"] += min(y, b) - max(x, a)
        k = len(band) or 1
        parts = sorted(((v / k, key) for key, v in tot.items() if key != "latency"), reverse=True)
        print(
            f"  {name:10s} n={len(band):5d} mean latency {tot['latency'] / k * 1e3:.2f} ms;",
            "mean overlap:",
            ", ".join(f"{key} {v * 1e3:.2f}" for v, key in parts if v * 1e3 >= 0.02),
        )


if __name__ == "__main__":
    main()
