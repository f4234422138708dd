"""Where a process's main thread waited runnable, and who had its CPU meanwhile.

Reads ``perf sched record -a`` data (through ``perf script``): every interval in which the
thread was runnable but not running (preempted, or woken and not yet on a CPU), and the
tasks that ran on the CPU it then ran on during that interval.  Used for issue 18's P99 at
c=8 (docs/notes/2026-11-29-s11/p99full.md): the writer process took the request loop's CPU a
tick (4 ms) at a time.

    python3 bench/sched_waits.py PERF_DATA GATEWAY_PID [CHILD_PIDS,comma-separated] [LABEL]
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys

SWITCH = re.compile(
    r"\[(\d+)\]\s+([\d.]+):\s+sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) "
    r"prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)"
)
WAKE = re.compile(r"\[(\d+)\]\s+([\d.]+):\s+sched:sched_wak(?:ing|eup): comm=.*? pid=(\d+) ")
LONG = 0.0005  # a wait this long (s) or longer is reported by who ran meanwhile


def main() -> None:
    data, gw = sys.argv[1], int(sys.argv[2])
    kids = {int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if x}
    label = sys.argv[4] if len(sys.argv) > 4 else ""
    out = subprocess.run(
        ["perf", "script", "-i", data, "-F", "cpu,time,event,trace"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    current: dict[int, tuple[float, int, str]] = {}
    segments: dict[int, list[tuple[float, float, int, str]]] = collections.defaultdict(list)
    waits: list[tuple[float, float, int, str]] = []
    since: float | None = None
    kind = ""
    first = last = 0.0
    for line in out.splitlines():
        m = SWITCH.search(line)
        if m:
            cpu, t, prev, nxt = int(m[1]), float(m[2]), int(m[4]), int(m[7])
            first, last = first or t, t
            if cpu in current:
                start, pid, comm = current[cpu]
                segments[cpu].append((start, t, pid, comm))
            current[cpu] = (t, nxt, m[6])
            if prev == gw and m[5].startswith("R"):
                since, kind = t, "p"  # preempted while runnable
            if nxt == gw and since is not None:
                waits.append((since, t, cpu, kind))
                since = None
            continue
        m = WAKE.search(line)
        if m and int(m[3]) == gw and since is None:
            since, kind = float(m[2]), "w"  # woken, not yet running

    def who(pid: int, comm: str) -> str:
        if pid in kids:
            return "writer child"
        if pid == 0:
            return "idle"
        return comm if comm.startswith(("wrk", "nginx")) else "other:" + comm

    span = (last - first) or 1.0
    long_by: collections.Counter[str] = collections.Counter()
    child_waits: list[tuple[float, str]] = []
    for a, b, cpu, k in waits:
        ran: collections.Counter[str] = collections.Counter()
        for s, e, pid, comm in segments[cpu]:
            if e > a and s < b:
                ran[who(pid, comm)] += min(e, b) - max(s, a)
        if b - a >= LONG:
            long_by.update(ran)
        if ran["writer child"] > 0.0003:
            child_waits.append((b - a, k))
    lengths = sorted(b - a for a, b, _, _ in waits)
    run_child = sum(e - s for segs in segments.values() for s, e, p, _ in segs if p in kids)
    print(
        f"{label}: window {span:.2f} s; writer child ran {run_child / span:.2f} cores; "
        f"runnable waits n={len(waits)}, total {sum(lengths) * 1e3:.1f} ms; "
        f">= {LONG * 1e3} ms: {sum(x >= LONG for x in lengths)}"
    )
    print(
        "  who ran during waits >= 0.5 ms:",
        ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in long_by.most_common(8)),
    )
    child_waits.sort()
    print(
        f"  waits with > 0.3 ms of the writer child: n={len(child_waits)},",
        "ms (p preempted, w woken):",
        " ".join(f"{w * 1e3:.2f}{k}" for w, k in child_waits),
    )


if __name__ == "__main__":
    main()
