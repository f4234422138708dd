"""What embedding on the event loop costs the OTHER requests of a gateway worker.

One ``lockgate serve`` (one worker) in front of the nginx mock (bench/harness/mock), with
the semantic cache on one alias (``cached``) and not on another (``gpt-4o-mini``). For each
setting of the local embedder (``thread``: every forward pass in a worker thread;
``inline``: texts of <= 96 tokens on the loop whatever the load; ``quiet``: on the loop
only while the worker handles at most ``inline_max_in_flight`` requests) and each
scenario, wrk drives the gateway for ``--duration`` seconds:

* ``mixed``: ``--plain-conns`` connections of plain requests (no semantic cache) and,
  at the same time, ``--cached-conns`` connections of semantic-cache requests (questions of
  the public paraphrase dev file: hits and misses); the plain requests' latency is the
  price of the lookups' forward passes for everyone else;
* ``alone``: one connection of semantic-cache requests (the worker otherwise idle):
  what the lookup itself gains from inlining.

Settings are restarted fresh and taken in a rotated order per repeat. Each line reports
wrk's requests, RPS, P50 and P99 with the 95% order-statistic interval of the P99 (ranks
from Binomial(n, 0.99) over the latency histogram wrk kept; values read from its
percentile table at 0.01 steps, rounded outward). Run it under the bench lock:

    flock /tmp/lockgate-bench.lock nice -n -10 .venv/bin/python bench/bench_semantic_gateway.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from scipy.stats import binom

REPO = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/paraphrase-dev.jsonl")
KEY = "sk-bench-local-0001"
SETTINGS = {"thread": (0, 0), "inline": (96, 0), "quiet": (96, 1)}

LUA = r"""
local key = "__KEY__"
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
local counter = 0
function request()
  counter = counter + 1
  return wrk.format("POST", "/v1/chat/completions", headers, bodies[(counter % #bodies) + 1])
end
local statuses = {}
function response(status, headers, body)
  if status ~= 200 then statuses[#statuses + 1] = status end
end
function done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for i = 9500, 9999 do p[#p + 1] = string.format("%d", latency:percentile(i / 100)) end
  io.write(string.format(
    'JSON:{"requests":%d,"duration_us":%d,"p50_us":%d,"max_us":%d,"errors":%d,"tail":[%s]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout, table.concat(p, ",")))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_health(port: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing healthy on port {port}")


def bodies(home: Path, pairs: int) -> tuple[Path, Path]:
    """Semantic-cache questions (both sides of the dev file's first pairs of <= 18 words)
    and plain requests, one JSON body a line."""
    questions: list[str] = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if len(row["q1"].split()) <= 18 and len(row["q2"].split()) <= 18:
            questions += [row["q1"], row["q2"]]
        if len(questions) >= 2 * pairs:
            break
    cached, plain = home / "cached.txt", home / "plain.txt"
    with cached.open("w") as out:
        for q in questions:
            msg = [{"role": "user", "content": q}]
            out.write(json.dumps({"model": "cached", "messages": msg, "temperature": 0.7}) + "\n")
    with plain.open("w") as out:
        for i in range(50):
            msg = [{"role": "user", "content": f"Plain request {i}: say hello."}]
            body = {"model": "gpt-4o-mini", "messages": msg, "temperature": 0.7}
            out.write(json.dumps(body) + "\n")
    return cached, plain


def config(home: Path, mock: int, inline_tokens: int, max_in_flight: int) -> Path:
    path = home / f"lockgate-{inline_tokens}-{max_in_flight}.yaml"
    upstream = {"api_base": f"http://127.0.0.1:{mock}/v1", "api_key": "sk-dummy"}
    cfg = {
        "model_list": [
            {"model_name": name, "params": {"model": "openai/gpt-4o-mini", **upstream}}
            for name in ("gpt-4o-mini", "cached")
        ],
        "general_settings": {
            "master_key": KEY,
            "database_url": f"sqlite+aiosqlite:///{home}/lockgate.db",
        },
        "guardrails": {"injection": {"mode": "off"}},
        "usage": {"enabled": False},
        "audit": {"enabled": False},
        "server": {"host": "127.0.0.1", "log_level": "warning"},
        "semantic_cache": {
            "index": "memory://",
            "capacity": 10000,
            "inline_embed_tokens": inline_tokens,
            "inline_max_in_flight": max_in_flight,
            "aliases": {"cached": {}},
        },
    }
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def wrk(
    port: int, script: Path, body_file: Path, conns: int, seconds: int
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "BENCH_BODIES": str(body_file)},
    )


def result(proc: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = proc.communicate(timeout=120)
    line = next(x for x in out.splitlines() if x.startswith("JSON:"))
    raw = json.loads(line[5:])
    n = int(raw["requests"])
    # percentiles 95.00 .. 99.99 by 0.01, then the maximum, ms
    tail = [v / 1e3 for v in raw["tail"]] + [raw["max_us"] / 1e3]
    lo, hi = binom.ppf(0.025, n, 0.99), binom.ppf(0.975, n, 0.99) + 1  # 1-based ranks

    def at(rank: float, up: bool) -> float:
        pct = 100.0 * rank / n
        index = (pct - 95.0) * 100
        index = int(index + 0.999) if up else int(index)
        return tail[max(0, min(len(tail) - 1, index))]

    return {
        "n": n,
        "rps": n / (raw["duration_us"] / 1e6),
        "p50": raw["p50_us"] / 1e3,
        "p99": tail[400],
        "lo": at(lo, False),
        "hi": at(hi, True),
        "errors": raw["errors"],
    }


def line(label: str, r: dict[str, float]) -> str:
    return (
        f"{label:<34} n={int(r['n']):>6} rps {r['rps']:7.1f}  P50 {r['p50']:6.2f}  "
        f"P99 {r['p99']:6.2f} [{r['lo']:.2f}, {r['hi']:.2f}] ms  errors {int(r['errors'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--plain-conns", type=int, default=8)
    parser.add_argument("--cached-conns", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--settings", default="thread,inline,quiet")
    args = parser.parse_args()
    names = args.settings.split(",")
    home = Path(tempfile.mkdtemp(prefix="lockgate-semgw."))
    shutil.copytree(REPO / "bench" / "harness", home, dirs_exist_ok=True)
    script = home / "bench.lua"
    script.write_text(LUA.replace("__KEY__", KEY))
    cached, plain = bodies(home, args.pairs)
    mock = free_port()
    env = {**os.environ, "BENCH_HOME": str(home), "PORT": str(mock)}
    subprocess.run([str(home / "mock" / "start.sh")], env=env, check=True, capture_output=True)
    lockgate = str(REPO / ".venv" / "bin" / "lockgate")
    try:
        for rep in range(args.repeats):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for name in order:
                tokens, limit = SETTINGS[name]
                port = free_port()
                cfg = config(home, mock, tokens, limit)
                log = (home / f"lockgate-{name}-{rep}.log").open("w")
                proc = subprocess.Popen(
                    [lockgate, "serve", "-c", str(cfg), "--port", str(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=home,
                    start_new_session=True,
                )
                try:
                    wait_health(port)
                    result(wrk(port, script, cached, 2, 6))  # warm-up: stores the questions
                    result(wrk(port, script, plain, 1, 2))
                    print(
                        f"== repeat {rep}, setting {name} (inline_embed_tokens {tokens},"
                        f" inline_max_in_flight {limit}); {os.getloadavg()}",
                        flush=True,
                    )
                    a = wrk(port, script, plain, args.plain_conns, args.duration)
                    b = wrk(port, script, cached, args.cached_conns, args.duration)
                    print(line(f"  mixed: plain x{args.plain_conns}", result(a)))
                    print(line(f"  mixed: semantic x{args.cached_conns}", result(b)))
                    print(
                        line(
                            "  alone: semantic x1",
                            result(wrk(port, script, cached, 1, args.duration)),
                        ),
                        flush=True,
                    )
                finally:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=30)
                    log.close()
    finally:
        subprocess.run([str(home / "stop_pid.sh"), "nginx"], env=env, capture_output=True)
    print(f"uptime: {os.getloadavg()}")


if __name__ == "__main__":
    main()
