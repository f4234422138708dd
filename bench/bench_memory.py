"""Memory per request with every default on: RSS over N requests and what holds it.

The ASGI app is driven in-process (like bench_pipeline.py), ``--conc`` requests at a
time, against the mock provider or a real upstream (``--api-base``, e.g. the nginx mock
of run_gateway.sh on http://127.0.0.1:18080/v1).  RSS is printed every ``--every``
requests; with ``--trace`` tracemalloc compares a snapshot after warm-up with one at
the end and prints the allocation sites that grew most.

    .venv/bin/python bench/bench_memory.py --n 100000 [--trace] [--api-base URL] [--distinct]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from asgi_lifespan import LifespanManager
from bench_pipeline import KEY, MESSAGE, one

from lockgate.app import create_app
from lockgate.settings import settings_from_mapping


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bodies(distinct: bool) -> Any:
    """The request bodies: one repeated, or each with a distinct user text and ``user``."""
    if not distinct:
        body = orjson.dumps(MESSAGE)
        while True:
            yield body
    for i in itertools.count():
        msg = {
            **MESSAGE,
            "user": f"user-{i % 5000}",
            "messages": [{"role": "user", "content": f"{MESSAGE['messages'][0]['content']} #{i}"}],
        }
        yield orjson.dumps(msg)


async def run(a: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        params: dict[str, Any] = {"model": "mock/mock-1"}
        if a.api_base:
            params = {"model": "openai/gpt-4o-mini", "api_base": a.api_base, "api_key": "sk-x"}
        data = {
            "model_list": [{"model_name": "mock", "params": params}],
            "general_settings": {
                "master_key": KEY,
                "database_url": f"sqlite+aiosqlite:///{tmp}/b.db",
            },
            "usage": {"dead_letter_file": f"{tmp}/u.jsonl"},
            "audit": {"dead_letter_file": f"{tmp}/a.jsonl"},
        }
        app = create_app(settings_from_mapping(data, env={}))
        source = bodies(a.distinct)
        async with LifespanManager(app, startup_timeout=120, shutdown_timeout=120) as manager:
            state = dict(manager._state)

            async def request() -> int:
                body = next(source)
                return await one(app, {**state, "__body": body}, body)

            async def batch(k: int) -> None:
                statuses = await asyncio.gather(*(request() for _ in range(k)))
                assert set(statuses) == {200}, statuses

            done = 0
            while done < a.warmup:
                await batch(a.conc)
                done += a.conc
            gc.collect()
            base = rss_mib()
            print(f"after warm-up ({done}): RSS {base:.1f} MiB")
            pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
            t0 = [0.0]

            def on_gc(phase: str, info: dict[str, int]) -> None:
                if phase == "start":
                    t0[0] = time.perf_counter()
                else:
                    pauses[info["generation"]].append(time.perf_counter() - t0[0])

            gc.callbacks.append(on_gc)
            if a.trace:
                tracemalloc.start(12)
                first = tracemalloc.take_snapshot()
            kinds = Counter(type(o).__qualname__ for o in gc.get_objects()) if a.types else None
            started = time.perf_counter()
            while done < a.warmup + a.n:
                await batch(a.conc)
                done += a.conc
                if (done - a.warmup) % a.every < a.conc:
                    print(
                        f"{done - a.warmup:>8} requests: RSS {rss_mib():.1f} MiB"
                        f" (+{rss_mib() - base:.1f}), {time.perf_counter() - started:.0f} s,"
                        f" {sys.getallocatedblocks()} blocks, {len(gc.get_objects())} gc objects"
                    )
            gc.callbacks.remove(on_gc)
            for gen, ps in pauses.items():
                if ps:
                    print(
                        f"gc gen{gen}: {len(ps)} collections, max {max(ps) * 1e3:.1f} ms,"
                        f" over 5 ms: {sum(p > 0.005 for p in ps)}, total {sum(ps) * 1e3:.0f} ms"
                    )
            gc.collect()
            print(f"end: RSS {rss_mib():.1f} MiB, growth {rss_mib() - base:.1f} MiB over {a.n}")
            if kinds is not None:
                grown = Counter(type(o).__qualname__ for o in gc.get_objects())
                grown.subtract(kinds)
                print("gc-tracked objects that grew, by type:")
                for name, n in grown.most_common(a.top):
                    print(f"  {n:+8d}  {name}")
            if a.trace:
                last = tracemalloc.take_snapshot()
                total = sum(s.size_diff for s in last.compare_to(first, "filename"))
                print(f"traced growth in all: {total / 1024:+.0f} KiB")
                stats = last.compare_to(first, "traceback")
                for s in stats[: a.top]:
                    print(f"\n{s.size_diff / 1024:+.0f} KiB in {s.count_diff:+d} blocks")
                    for line in s.traceback.format()[-14:]:
                        print("   ", line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--warmup", type=int, default=5_000)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--every", type=int, default=10_000)
    ap.add_argument("--api-base", default=None)
    ap.add_argument("--distinct", action="store_true", help="a distinct text and user per request")
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--types", action="store_true", help="growth of gc-tracked objects by type")
    ap.add_argument("--top", type=int, default=8)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
