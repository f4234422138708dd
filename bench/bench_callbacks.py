"""Cost of the logging callbacks per request record.

    nice -n 10 .venv/bin/python bench/bench_callbacks.py [--records 20000] [--repeats 7]

Two figures per sink: ``submit`` (the request path: a filter and a deque append) and
``encode`` (the background task's JSON per record, which still runs on the event
loop).  No HTTP: the shippers' queues are sized to hold every record and never
flushed.  Prints the median µs per record over the repeats with a bootstrap 95% CI.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable

from bench_access_log import _record

from lockgate.callbacks.build import build_callback_sinks
from lockgate.callbacks.config import CallbackSettings
from lockgate.callbacks.shipper import RecordShipper
from lockgate.records import RequestRecord


def _ci(samples: list[float]) -> str:
    rng = random.Random(0)
    boots = sorted(statistics.median(rng.choices(samples, k=len(samples))) for _ in range(2000))
    return f"{statistics.median(samples):.2f} µs (95% CI {boots[50]:.2f}-{boots[1949]:.2f})"


def _time(fn: Callable[[], None], n: int, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) / n * 1e6)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n, reps = args.records, args.repeats
    settings = CallbackSettings.model_validate(
        {
            "webhooks": [{"url": "http://127.0.0.1:9/hook"}],
            "otel_logs": {"endpoint": "http://127.0.0.1:9"},
            "langfuse": {"host": "http://127.0.0.1:9", "public_key": "pk", "secret_key": "sk"},
            "delivery": {
                "max_queue": n * reps + 1,
                "batch_size": 10_000,
                "flush_interval_seconds": 3600,
            },
        }
    )
    sinks = build_callback_sinks(settings, None)
    records: list[RequestRecord] = [_record(i) for i in range(n)]
    for sink in sinks:
        assert isinstance(sink, RecordShipper)

        def submit(s: RecordShipper = sink) -> None:
            for r in records:
                s.submit(r)

        def encode(s: RecordShipper = sink) -> None:
            for i in range(0, n, 100):
                s._encode(records[i : i + 100])

        print(
            f"{sink.name}: submit {_ci(_time(submit, n, reps))}; "
            f"encode {_ci(_time(encode, n, reps))} per record ({reps} x {n} records)"
        )
        sink._buffer.clear()
        await sink.aclose()


if __name__ == "__main__":
    asyncio.run(main())
