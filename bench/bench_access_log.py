"""Cost of one access-log line (``RequestLogSink.submit`` → formatter → stream).

    nice -n 10 .venv/bin/python bench/bench_access_log.py [--lines 20000] [--repeats 7]

Writes to /dev/null through the handler ``configure_logging`` installs, so the
figure is lockgate's own work per line (record, format, mask, write call), and
prints the median µs per line over the repeats with a bootstrap 95% CI.
"""

from __future__ import annotations

import argparse
import inspect
import random
import statistics
import time

from lockgate.logs import RequestLogSink, configure_logging
from lockgate.records import RequestRecord


def _record(i: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"req_0123456789ab{i:010x}",
        started_at=time.time(),
        api="openai",
        key_id="key_0123abcd",
        key_name="team-a",
        team="alpha",
        user="user-42",
        model="gpt-4o-mini",
        provider="openai",
        deployment="gpt-4o-mini#0",
        upstream_model="gpt-4o-mini",
        status=200,
        error_type=None,
        error_code=None,
        stream=False,
        prompt_tokens=120,
        completion_tokens=48,
        cached_tokens=0,
        cost_usd=0.0000468,
        latency_ms=412.5,
        overhead_ms=0.41,
        ttft_ms=None,
        attempts=1,
        cache="miss",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    formats = ["json"]
    params = inspect.signature(configure_logging).parameters
    if "logs" in params:
        formats.append("text")
    with open("/dev/null", "w") as sink_stream:
        for fmt in formats:
            if "logs" in params:
                from lockgate.logs import LogSettings  # type: ignore[attr-defined]

                configure_logging("info", stream=sink_stream, logs=LogSettings(format=fmt))
            else:
                configure_logging("info", stream=sink_stream)
            sink = RequestLogSink()
            records = [_record(i) for i in range(args.lines)]
            per_line = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                for r in records:
                    sink.submit(r)
                per_line.append((time.perf_counter() - start) / args.lines * 1e6)
            rng = random.Random(0)
            boots = sorted(
                statistics.median(rng.choices(per_line, k=len(per_line))) for _ in range(2000)
            )
            print(
                f"{fmt}: {statistics.median(per_line):.2f} µs/line "
                f"(95% CI {boots[50]:.2f}-{boots[1949]:.2f}; {args.repeats} x {args.lines} lines)"
            )


if __name__ == "__main__":
    main()
