"""Live CPU per request with this wave's capabilities enabled, side by side with the bare proxy.

    python3 bench/bench_capabilities_live.py [--rounds 3] [--dur 6] [--conc 8]
        [--cases plain,prompt,experiment,routing-repeat] [--src <other checkout>/src]

One ``lockgate serve`` with every default on (bench/lockgate-full.yaml) plus a routed
alias (``gpt-4o-mini-routed``: the two-model router over the nginx mock), the bare
Starlette + uvicorn + aiohttp proxy and the nginx mock (bench/harness), each in a
process group of its own.  The admin API stores bench_prompts.py's prompt (two versions,
labels ``production`` and ``beta``) and a 50/50 experiment on ``beta`` by user.  Then,
in ``--rounds`` rounds (order reversed every round), wrk sends each case for ``--dur``
seconds (bench/wrk/chat_bodies.lua, bodies taken in turn):

* ``bare``: the bare proxy, plain body (the floor);
* ``plain``: lockgate, the plain body of bench/harness/wrk/chat.lua;
* ``prompt``: the registry prompt by label, rendered (4 messages);
* ``experiment``: the same prompt under the experiment, 64 users;
* ``routing-repeat``: the routed alias on 4 prompts over and over (embeddings memoised).

CPU per request is read from /proc for the target's process (threads included).  Prints
every run with the 1-minute load, the median per case, the ratio bare / case (the RPS
ratio when both are bound by one core), and each case's paired difference against
``plain`` of the same round with a t 95% CI.  ``AUTOGROUP_NICE=-10`` also sets the
autogroup nice of every process group (see run_gateway.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_capabilities import QUESTIONS, setup_posts
from bench_prompts import VARS

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("VENV", REPO / ".venv"))
KEY = "sk-bench-local-0001"
CLK = os.sysconf("SC_CLK_TCK")
T95 = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}
PLAIN = (
    "Summarize the following in one sentence: The quick brown fox jumps over the lazy dog "
    "near the riverbank while the farmer watches from the porch and the sun slowly sets "
    "behind the distant rolling green hills."
)
ROUTING = (
    "\nrouting:\n  aliases:\n    gpt-4o-mini-routed:\n"
    "      {strong: gpt-4o-mini, weak: gpt-4o-mini-weak, threshold: 0.5}\n"
)
WEAK = (
    "  - model_name: gpt-4o-mini-weak\n    params:\n      model: openai/gpt-4o-mini\n"
    "      api_base: http://127.0.0.1:18080/v1\n      api_key: sk-dummy\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK


def chat(model: str, content: str, **extra: Any) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return json.dumps(body, separators=(",", ":"))


def bodies() -> dict[str, list[str]]:
    prompt = {"name": "support", "label": "production", "variables": VARS}
    return {
        "bare": [chat("gpt-4o-mini", PLAIN)],
        "plain": [chat("gpt-4o-mini", PLAIN)],
        "prompt": [chat("gpt-4o-mini", "thanks", prompt=prompt)],
        "experiment": [
            chat("gpt-4o-mini", "thanks", prompt={**prompt, "label": "beta"}, user=f"user-{i}")
            for i in range(64)
        ],
        "routing-repeat": [chat("gpt-4o-mini-routed", q) for q in QUESTIONS],
    }


def setup(port: int) -> None:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {KEY}"}
    ) as client:
        for path, body in setup_posts("gpt-4o-mini"):
            client.post(path, json=body).raise_for_status()


def wrk(port: int, bodies_file: Path, dur: int, conc: int) -> dict[str, float]:
    env = dict(os.environ, BENCH_BODIES=str(bodies_file))
    script = REPO / "bench/wrk/chat_bodies.lua"
    cmd = ["wrk", "-t1", f"-c{conc}", f"-d{dur}s", "-s", str(script), f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(out.split("JSON:")[1].splitlines()[0])
    return result


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"process on port {port} exited")
        url = f"http://127.0.0.1:{port}{path}"
        if subprocess.run(["curl", "-fs", "-o", "/dev/null", url]).returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit(f"port {port} not ready")


def autogroup(pid: int) -> None:
    nice = os.environ.get("AUTOGROUP_NICE")
    if nice and Path("/proc/self/autogroup").exists():
        try:
            Path(f"/proc/{pid}/autogroup").write_text(nice)
        except OSError as exc:
            print(f"autogroup nice not set for {pid}: {exc}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dur", type=int, default=6)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--cases", default="plain,prompt,experiment,routing-repeat")
    ap.add_argument("--src", help="run lockgate from this src folder (PYTHONPATH)")
    a = ap.parse_args()
    cases = ["bare", *[c for c in a.cases.split(",") if c]]
    home = Path(tempfile.mkdtemp(prefix="lockgate-caplive."))
    shutil.copytree(REPO / "bench/harness", home, dirs_exist_ok=True)
    (home / "venv-pyproxy").symlink_to(VENV)
    mock, bare, gate = free_port(), free_port(), free_port()
    env = dict(os.environ, BENCH_HOME=str(home), PORT=str(mock))
    subprocess.run([str(home / "mock/start.sh")], env=env, check=True, capture_output=True)
    config = (REPO / "bench/lockgate-full.yaml").read_text()
    config = config.replace("model_list:\n", "model_list:\n" + WEAK, 1) + ROUTING
    config = config.replace("127.0.0.1:18080", f"127.0.0.1:{mock}")
    (home / "c.yaml").write_text(config.replace("${BENCH_HOME}", str(home)))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        procs["bare"] = subprocess.Popen(
            [
                *(str(VENV / "bin/uvicorn"), "app:app", "--port", str(bare), "--loop", "uvloop"),
                *("--http", "httptools", "--no-access-log", "--log-level", "warning"),
            ],
            cwd=home / "pyproxy",
            env=dict(os.environ, CLIENT="aiohttp", UPSTREAM=f"http://127.0.0.1:{mock}"),
            stdout=(home / "bare.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs["lockgate"] = subprocess.Popen(
            [
                str(VENV / "bin/python"),
                "-m",
                "lockgate",
                "serve",
                "-c",
                str(home / "c.yaml"),
                "--port",
                str(gate),
            ],
            cwd=home,
            env=dict(os.environ, PYTHONPATH=a.src) if a.src else None,
            stdout=(home / "lockgate.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_ready(bare, "/health", procs["bare"])
        wait_ready(gate, "/health", procs["lockgate"])
        for proc in procs.values():
            autogroup(proc.pid)
        autogroup(int(Path(home / "pids/nginx.pid").read_text()))
        autogroup(os.getpid())
        setup(gate)
        files: dict[str, Path] = {}
        for name, items in bodies().items():
            files[name] = home / f"{name}.jsonl"
            files[name].write_text("\n".join(items) + "\n")
        port_of = {c: bare if c == "bare" else gate for c in cases}
        pid_of = {c: procs["bare" if c == "bare" else "lockgate"].pid for c in cases}
        for case in cases:  # warm every path (the router's model, prompts compiled)
            run = wrk(port_of[case], files[case], 2, a.conc)
            if run["err_status"] or run["err_read"] or run["err_connect"]:
                raise SystemExit(f"{case}: errors in the warm-up: {run}")
        cpu: dict[str, list[float]] = {c: [] for c in cases}
        rps: dict[str, list[float]] = {c: [] for c in cases}
        p99: dict[str, list[float]] = {c: [] for c in cases}
        for r in range(a.rounds):
            for case in cases if r % 2 == 0 else list(reversed(cases)):
                load = Path("/proc/loadavg").read_text().split()[0]
                before = cpu_seconds(pid_of[case])
                run = wrk(port_of[case], files[case], a.dur, a.conc)
                ms = (cpu_seconds(pid_of[case]) - before) * 1000 / max(run["requests"], 1)
                errors = run["err_status"] + run["err_read"] + run["err_connect"]
                cpu[case].append(ms)
                rps[case].append(run["rps"])
                p99[case].append(run["p99_us"] / 1000)
                print(
                    f"{case:15s} round{r} rps={run['rps']:8.1f} p99={run['p99_us'] / 1000:6.1f}ms"
                    f" cpu={ms:.3f}ms/req errors={errors:.0f} load={load}",
                    flush=True,
                )
    finally:
        for proc in procs.values():
            with_group = proc.poll() is None
            if with_group:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            proc.wait(timeout=60)
        subprocess.run([str(home / "stop_pid.sh"), "nginx"], env=env, check=False)
    floor = statistics.median(cpu["bare"])
    print(
        "\n| case | CPU ms/req median (runs) | RPS median | P99 ms median | bare/case CPU ratio |"
        " paired vs plain, ms/req (95% CI) |"
    )
    print("|---|---|---|---|---|---|")
    for case in cases:
        med = statistics.median(cpu[case])
        runs = ", ".join(f"{v:.3f}" for v in cpu[case])
        paired = ""
        if case not in ("bare", "plain") and "plain" in cpu:
            diffs = [x - y for x, y in zip(cpu[case], cpu["plain"], strict=True)]
            mean = statistics.mean(diffs)
            half = T95.get(len(diffs), 2.0) * statistics.stdev(diffs) / len(diffs) ** 0.5
            paired = f"{mean:+.3f} ({mean - half:+.3f}..{mean + half:+.3f}), n={len(diffs)}"
        print(
            f"| {case} | {med:.3f} ({runs}) | {statistics.median(rps[case]):,.0f} |"
            f" {statistics.median(p99[case]):.1f} | {floor / med:.2f} | {paired} |"
        )


if __name__ == "__main__":
    main()
