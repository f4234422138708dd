"""Suite-runner overhead: N cases through the gateway in-process against the mock provider.

    PYTHONPATH=src:. .venv/bin/python bench/bench_evals.py [-n 1000] [--repeats 3]

Each case renders a Jinja2 template with its own variables, goes through the whole gateway
(httpx ASGI transport → auth → guards → limits → cache → dispatcher → mock) and is graded
by five deterministic assertions (contains, not_contains, regex, max_latency_ms,
max_tokens).  No answer cache (every case is a fresh call), no progress bar.  Reported: wall
seconds for the whole run (resolve + estimate + answers + verdicts) and cases per second,
min and median over the repeats; the target in issue #13 is 1,000 cases in under 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from lockgate.evals.client import in_process_client
from lockgate.evals.runner import RunOptions, SuiteRunner
from lockgate.evals.session import settings_prices
from lockgate.evals.store import ResultCache
from lockgate.evals.suite import suite_from_mapping
from lockgate.settings import settings_from_mapping


def _suite(n: int, concurrency: int, run: int) -> dict[str, object]:
    return {
        "targets": ["mock"],
        "concurrency": concurrency,
        "defaults": {
            "prompt": [
                {"role": "system", "content": "You answer questions about {{ topic }}."},
                {
                    "role": "user",
                    "content": "Question {{ i }} (run {{ run }}): what about {{ topic }}?",
                },
            ],
            "assert": [
                {"type": "contains", "value": "{{ topic }}"},
                {"type": "not_contains", "value": "error"},
                {"type": "regex", "value": "Mock answer [0-9a-f]{8}"},
                {"type": "max_latency_ms", "value": 5000},
                {"type": "max_tokens", "value": 200},
            ],
        },
        "cases": [
            {"id": f"c{i}", "vars": {"i": i, "run": run, "topic": f"topic-{i % 37}"}}
            for i in range(n)
        ],
    }


async def main(n: int, repeats: int, concurrency: int) -> None:
    tmp = tempfile.mkdtemp(prefix="lockgate-bench-evals-")
    settings = settings_from_mapping(
        {
            "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
            "general_settings": {"database_url": f"sqlite+aiosqlite:///{tmp}/gw.db"},
            "cache": {"mode": "off"},
        },
        env={},
    )
    times = []
    async with in_process_client(settings) as client:
        for run in range(repeats + 1):  # the first run warms up (imports, template compiles)
            suite = suite_from_mapping(_suite(n, concurrency, run))
            runner = SuiteRunner(
                suite,
                client,
                cache=ResultCache(None),
                prices=settings_prices(settings),
                options=RunOptions(),
            )
            started = time.perf_counter()
            result = await runner.run()
            elapsed = time.perf_counter() - started
            passed = sum(r.status == "pass" for r in result.results)
            assert passed == n, f"{n - passed} cases did not pass"
            if run:
                times.append(elapsed)
            print(
                f"run {run}{' (warm-up)' if not run else ''}: {n} cases in {elapsed:.2f} s"
                f" ({n / elapsed:.0f} cases/s)"
            )
    print(
        f"min {min(times):.2f} s, median {statistics.median(times):.2f} s for {n} cases"
        f" (concurrency {concurrency}, {repeats} runs)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.repeats, args.concurrency))
