"""Cost of the limiter per request on each backend: µs per reserve and finish, round trips.

Round trips and Redis CPU per script call come from Redis ``INFO commandstats`` (counted by
the server, so they include nothing the client does).

    PYTHONPATH=src python bench/bench_limits.py [--redis-url redis://127.0.0.1:6379/0] [-n 5000]

Without ``--redis-url`` a throwaway redis-server is started on a free loopback port (its
data is flushed either way, so never point it at a Redis that holds anything).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from lockgate.limits import Limiter, LimitRule, LimitStore, create_limit_store

RULE_SETS: dict[str, list[LimitRule]] = {
    "1 rule": [LimitRule.requests("key:a", "1000000000/minute")],
    "5 rules": [
        LimitRule.requests("key:a", "1000000000/minute"),
        LimitRule.tokens("key:a", "1000000000000/minute"),
        LimitRule.concurrent("key:a", 1000),
        LimitRule.requests("user:u", "1000000000/minute"),
        LimitRule.spend("team:t", 1e12, "month"),
    ],
}


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    """The given Redis URL, or a redis-server started for the run."""
    if url is not None:
        yield url
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-limits-")
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def pct(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(q * len(samples)))]


async def sequential(store: LimitStore, rules: list[LimitRule], n: int) -> tuple[str, float]:
    """Per-call latencies of reserve and finish, one request at a time."""
    limiter = Limiter(store, time.time)
    for _ in range(min(n, 200)):  # warm up: connections, script cache
        await limiter.finish(
            await limiter.reserve(rules, tokens=100, cost=1e-4), tokens=80, cost=1e-4
        )
    reserve: list[float] = []
    finish: list[float] = []
    clock = time.perf_counter
    start = clock()
    for _ in range(n):
        t0 = clock()
        reservation = await limiter.reserve(rules, tokens=100, cost=1e-4)
        t1 = clock()
        await limiter.finish(reservation, tokens=80, cost=1e-4)
        t2 = clock()
        reserve.append((t1 - t0) * 1e6)
        finish.append((t2 - t1) * 1e6)
    total = clock() - start
    text = (
        f"reserve mean {statistics.fmean(reserve):7.1f} µs  p50 {pct(reserve, 0.5):7.1f}  "
        f"p99 {pct(reserve, 0.99):7.1f} | finish mean {statistics.fmean(finish):7.1f} µs  "
        f"p99 {pct(finish, 0.99):7.1f}"
    )
    return text, n / total


async def concurrent(store: LimitStore, rules: list[LimitRule], n: int, tasks: int) -> float:
    """Requests (reserve + finish) per second with ``tasks`` requests in flight."""
    limiter = Limiter(store, time.time)

    async def worker(count: int) -> None:
        for _ in range(count):
            reservation = await limiter.reserve(rules, tokens=100, cost=1e-4)
            await limiter.finish(reservation, tokens=80, cost=1e-4)

    start = time.perf_counter()
    await asyncio.gather(*(worker(n // tasks) for _ in range(tasks)))
    return (n // tasks) * tasks / (time.perf_counter() - start)


async def main(redis_url: str | None, n: int) -> None:
    with redis_server(redis_url) as url:
        admin = redis.Redis.from_url(url)
        for backend in ("memory://", url):
            name = "memory" if backend == "memory://" else "redis "
            count = n * 4 if name == "memory" else n
            for label, rules in RULE_SETS.items():
                admin.flushall()
                store = create_limit_store(backend, timeout=0.1)
                try:
                    text, rate = await sequential(store, rules, count)
                    admin.config_resetstat()
                    per_request = await concurrent(store, rules, count, 32)
                    evalsha = admin.info("commandstats").get("cmdstat_evalsha", {})
                    calls = evalsha.get("calls", 0)
                    server_us = evalsha.get("usec_per_call", 0.0)
                finally:
                    await store.aclose()
                trips = calls / ((count // 32) * 32)
                redis_text = (
                    f", round trips/request {trips:.2f}, Redis CPU/script call {server_us:.1f} µs"
                    if name == "redis "
                    else ""
                )
                print(
                    f"{name} {label:7} {text} | seq {rate:8.0f} req/s, "
                    f"32 in flight {per_request:8.0f} req/s{redis_text}"
                )
        admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("-n", type=int, default=5000, help="requests per Redis run (memory: 4x)")
    args = parser.parse_args()
    asyncio.run(main(args.redis_url, args.n))
