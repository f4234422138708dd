"""Where the request loop's time goes at saturation, stall by stall (issue 18, c=8 tail).

Reads one ``perf record -k mono -a`` file holding ``sched:sched_switch``,
``sched:sched_wakeup``, ``raw_syscalls:sys_enter`` (filtered to the gateway's main thread)
and ``cpu-clock`` samples (bench/p99_tail.sh records exactly that), and splits the main
thread's wall time into:

- **run**: on a CPU.  A stretch on a CPU with no system call for ``LONG`` or more is a
  *long run* (Python busy: GC, a big batch, a slow callback); its cpu-clock samples'
  symbols say what it was.
- **runnable**: preempted, or woken and not yet on a CPU; who had the CPU meanwhile.
- **sleep, epoll**: idle, waiting for I/O (every request out at nginx, wrk or the writer).
- **sleep, futex**: waiting for the GIL (or a lock): which thread woke it.

Also lists the runnable waits of other threads of interest (wrk, nginx, the writer
child), since wrk's own delays count in the latency it reports.  With ``--gc FILE`` (the
JSON lines bench/tailprobe writes: gen, start, end in CLOCK_MONOTONIC seconds) each long
run says whether a collection overlapped it.

    python3 bench/tail_timeline.py PERF_DATA GATEWAY_PID [--kids PIDS] [--gc FILE] [--label L]
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

LINE = re.compile(r"^\s*(.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):(?:\s+(.*))?$")
SWITCH = re.compile(
    r"prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> "
    r"next_comm=(.*?) next_pid=(\d+)"
)
WAKE = re.compile(r"comm=(.*?) pid=(\d+) ")
NR = re.compile(r"NR (\d+)")
LONG = 0.001
EPOLL = {232, 281, 441}
FUTEX = {202, 98}


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def find_long_runs(
    runs: list[tuple[float, float]], calls: list[float], least: float
) -> list[tuple[float, float, float]]:
    """(start, end, length) of every stretch of ``least`` or more inside the on-CPU
    intervals ``runs`` with no system call (``calls``: sorted entry times)."""
    found: list[tuple[float, float, float]] = []
    for x, y in runs:
        i = bisect.bisect_left(calls, x)
        prev = x
        while i < len(calls) and calls[i] <= y:
            if calls[i] - prev >= least:
                found.append((prev, calls[i], calls[i] - prev))
            prev = calls[i]
            i += 1
        if y - prev >= least:
            found.append((prev, y, y - prev))
    return found


def time_by_name(
    segments: list[tuple[float, float, int]], x: float, y: float, name: Callable[[int], str]
) -> collections.Counter[str]:
    """Seconds each ``name(tid)`` spent on one CPU (its ``segments``) within [x, y]."""
    ran: collections.Counter[str] = collections.Counter()
    for s, e, tid in segments:
        if e > x and s < y:
            ran[name(tid)] += min(e, y) - max(s, x)
    return ran


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("gw", type=int)
    ap.add_argument("--kids", default="")
    ap.add_argument("--threads", default="", help="the gateway's other threads (tids)")
    ap.add_argument("--gc", default="")
    ap.add_argument("--label", default="")
    ap.add_argument("--json", default="", help="also write the figures here")
    a = ap.parse_args()
    gw = a.gw
    kids = {int(x) for x in a.kids.split(",") if x}
    own = {int(x) for x in a.threads.split(",") if x}
    out = subprocess.run(
        ["perf", "script", "-i", a.data, "-F", "comm,tid,cpu,time,event,trace,ip,sym"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    comms: dict[int, str] = {}
    cur: dict[int, tuple[float, int]] = {}  # cpu -> (since, tid)
    segs: dict[int, list[tuple[float, float, int]]] = collections.defaultdict(list)
    samples: list[tuple[float, int, str]] = []  # (t, tid, sym)
    sys_t: list[float] = []  # gw's syscall entries
    last_nr = -1
    # gw state
    state = "run"
    since = 0.0
    first = last = 0.0
    intervals: list[tuple[str, float, float, str]] = []  # kind, a, b, detail
    waker_of_sleep = ""
    sleep_kind = ""
    # other threads' runnable waits: tid -> since
    rwait: dict[int, float] = {}
    other_waits: list[tuple[int, float, float, int]] = []
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        comm, tid, cpu, t, ev, rest = m[1], int(m[2]), int(m[3]), float(m[4]), m[5], m[6] or ""
        first = first or t
        last = t
        if ev == "sched:sched_switch":
            s = SWITCH.search(rest)
            if not s:
                continue
            prev, pstate, nxt = int(s[2]), s[3], int(s[5])
            comms[prev], comms[nxt] = s[1], s[4]
            if cpu in cur:
                segs[cpu].append((cur[cpu][0], t, cur[cpu][1]))
            cur[cpu] = (t, nxt)
            if prev == gw:
                if state == "run" and since:
                    intervals.append(("run", since, t, ""))
                if pstate.startswith("R"):
                    state, since = "runnable-p", t
                else:
                    state, since = "sleep", t
                    sleep_kind = (
                        "epoll"
                        if last_nr in EPOLL
                        else "futex"
                        if last_nr in FUTEX
                        else f"nr{last_nr}"
                    )
            elif prev != 0 and pstate.startswith("R"):
                rwait[prev] = t
            if nxt == gw:
                if state.startswith("runnable") and since:
                    intervals.append((state, since, t, str(cpu)))
                elif state == "sleep" and since:  # woken without a wakeup event seen
                    intervals.append(("sleep-" + sleep_kind, since, t, waker_of_sleep))
                state, since = "run", t
            elif nxt in rwait:
                other_waits.append((nxt, rwait.pop(nxt), t, cpu))
        elif ev == "sched:sched_wakeup":
            w = WAKE.search(rest + " ")
            if not w:
                continue
            wakee = int(w[2])
            comms[wakee] = w[1]
            if wakee == gw and state == "sleep":
                intervals.append(("sleep-" + sleep_kind, since, t, f"{comm}/{tid}"))
                state, since = "runnable-w", t
            elif wakee != gw:
                rwait[wakee] = t
        elif ev == "raw_syscalls:sys_enter":
            if tid == gw:
                n = NR.search(rest)
                last_nr = int(n[1]) if n else -1
                sys_t.append(t)
        elif ev.startswith("cpu-clock"):
            samples.append((t, tid, rest.split()[-1] if rest.split() else "?"))
    span = (last - first) or 1.0

    gcs: list[tuple[int, float, float]] = []
    if a.gc and Path(a.gc).exists():
        for ln in Path(a.gc).read_text().splitlines():
            g = json.loads(ln)
            if first <= g["end"] and g["start"] <= last:
                gcs.append((g["gen"], g["start"], g["end"]))

    def name(tid: int) -> str:
        if tid in kids:
            return "writer"
        if tid == 0:
            return "idle"
        c = comms.get(tid, "?")
        if tid == gw:
            return "loop"
        if tid in own:
            return "gw-thread:" + c
        return c if c.startswith(("wrk", "nginx", "lockgate", "uvloop", "python")) else "other:" + c

    def who_ran(cpu: int, x: float, y: float) -> collections.Counter[str]:
        return time_by_name(segs[cpu], x, y, name)

    # long on-CPU runs without a syscall
    runs = [(x, y) for k, x, y, _ in intervals if k == "run"]
    long_runs = find_long_runs(runs, sys_t, LONG)
    loop_samples = [(t, s) for t, tid, s in samples if tid == gw]
    ts = [t for t, _ in loop_samples]

    totals: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    lengths: dict[str, list[float]] = collections.defaultdict(list)
    for k, x, y, _ in intervals:
        kk = k if not k.startswith("runnable") else "runnable"
        totals[kk] += y - x
        counts[kk] += 1
        lengths[kk].append(y - x)
    report: dict[str, object] = {"label": a.label, "window_s": round(span, 3)}
    print(f"== {a.label}: window {span:.2f} s (figures per second of wall time)")
    for k in sorted(totals):
        ls = lengths[k]
        print(
            f"  {k:14s} {totals[k] / span * 1e3:7.1f} ms/s  n={counts[k] / span:7.0f}/s  "
            f"p50 {_pct(ls, 50) * 1e6:6.0f} us  p99 {_pct(ls, 99) * 1e6:6.0f} us  "
            f"max {max(ls) * 1e3:6.2f} ms  >=1ms: {sum(x >= LONG for x in ls)}"
        )
        report[k] = {
            "ms_per_s": round(totals[k] / span * 1e3, 2),
            "n_ge_1ms": sum(x >= LONG for x in ls),
        }
    # stalls >= 1 ms: runnable waits (who ran), futex sleeps (who woke), long runs (what ran)
    stall_by: collections.Counter[str] = collections.Counter()
    stall_list: list[tuple[float, float, str]] = []
    for k, x, y, d in intervals:
        if y - x < LONG:
            continue
        if k.startswith("runnable"):
            ran = who_ran(int(d), x, y)
            top = ran.most_common(1)[0][0] if ran else "?"
            stall_by["runnable:" + top] += y - x
            stall_list.append(
                (
                    x,
                    y - x,
                    f"{k} ran: " + ", ".join(f"{n} {v * 1e3:.1f}" for n, v in ran.most_common(3)),
                )
            )
        elif k == "sleep-futex":
            stall_by["futex woken by " + d.split("/")[0]] += y - x
            stall_list.append((x, y - x, f"futex woken by {d}"))
    for x, y, L in long_runs:
        i, j = bisect.bisect_left(ts, x), bisect.bisect_right(ts, y)
        syms = collections.Counter(s for _, s in loop_samples[i:j])
        gc_hit = [g for g, s, e in gcs if s < y and e > x]
        tag = f"gc{max(gc_hit)}" if gc_hit else "python"
        stall_by["long run:" + tag] += L
        stall_list.append(
            (x, L, f"long run ({tag}) " + ", ".join(f"{s} {c}" for s, c in syms.most_common(4)))
        )
    print(
        "  stalls >= 1 ms by cause (ms per s):",
        ", ".join(f"{k} {v / span * 1e3:.2f}" for k, v in stall_by.most_common(10)),
    )
    report["stalls_ms_per_s"] = {k: round(v / span * 1e3, 3) for k, v in stall_by.items()}
    stall_list.sort(key=lambda r: -r[1])
    for x, L, d in stall_list[:25]:
        print(f"    {x - first:7.3f}s {L * 1e3:6.2f} ms  {d}")
    if gcs:
        by_gen: dict[int, list[float]] = collections.defaultdict(list)
        for g, s, e in gcs:
            by_gen[g].append(e - s)
        print(
            "  gc in window:",
            ", ".join(
                f"gen{g} n={len(v)} max {max(v) * 1e3:.2f} ms sum {sum(v) * 1e3:.1f} ms"
                for g, v in sorted(by_gen.items())
            ),
        )
        report["gc"] = {
            f"gen{g}": [len(v), round(max(v) * 1e3, 3), round(sum(v) * 1e3, 2)]
            for g, v in by_gen.items()
        }
    # other threads' runnable waits
    per: dict[str, list[float]] = collections.defaultdict(list)
    blame: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for tid, x, y, cpu in other_waits:
        n = name(tid)
        per[n].append(y - x)
        if y - x >= LONG / 2 and n.startswith(("wrk", "nginx", "writer", "gw-thread")):
            blame[n].update(who_ran(cpu, x, y))
    print(
        "  other threads, runnable waits (ms per s total; n >= 1 ms; max ms;"
        " who ran in waits >= 0.5 ms):"
    )
    for n, ls in sorted(per.items(), key=lambda kv: -sum(kv[1]))[:8]:
        by = ", ".join(f"{k} {v / span * 1e3:.1f}" for k, v in blame[n].most_common(4))
        total, n_long = sum(ls) / span * 1e3, sum(x >= LONG for x in ls)
        print(f"    {n:24s} {total:7.1f}  {n_long:4d}  {max(ls) * 1e3:6.2f}  {by}")
    report["other_blame_ms_per_s"] = {
        n: {k: round(v / span * 1e3, 2) for k, v in c.most_common(6)} for n, c in blame.items()
    }
    # long runs: lengths and what ran in the longer ones
    if long_runs:
        ls = [L for _, _, L in long_runs]
        syms_long: collections.Counter[str] = collections.Counter()
        for x, y, L in long_runs:
            if L >= 2 * LONG:
                i, j = bisect.bisect_left(ts, x), bisect.bisect_right(ts, y)
                syms_long.update(s for _, s in loop_samples[i:j])
        print(
            f"  long runs: n={len(ls) / span:.1f}/s, p50 {_pct(ls, 50) * 1e3:.2f} ms,"
            f" p90 {_pct(ls, 90) * 1e3:.2f},"
            f" max {max(ls) * 1e3:.2f}; >= 2 ms: {sum(x >= 2 * LONG for x in ls)}, samples there:",
            ", ".join(f"{k} {v}" for k, v in syms_long.most_common(12)),
        )
    report["other_runnable_ms_per_s"] = {n: round(sum(ls) / span * 1e3, 2) for n, ls in per.items()}
    # cpu use per task group
    use: collections.Counter[str] = collections.Counter()
    for segl in segs.values():
        for s, e, tid in segl:
            use[name(tid)] += e - s
    print("  cores:", ", ".join(f"{k} {v / span:.2f}" for k, v in use.most_common(10)))
    report["cores"] = {k: round(v / span, 3) for k, v in use.items()}
    if a.json:
        Path(a.json).write_text(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
