"""Where the usage and audit writers spend CPU: the request loop's thread vs the rest.

Submits ``--n`` records to a UsageWriter and an AuditWriter on a file SQLite database,
flushes them, and reports per record the CPU time of the calling thread (the request
loop in the gateway) and of the whole process (the write thread and aiosqlite's threads
included; with ``--writer process`` also of the writer process, measured from /proc
while it runs, after one warm-up batch has started it).  CPU time, not wall time: the
figure holds on a busy machine.  Run against another commit with ``PYTHONPATH=<its src>``
for a before/after.

    .venv/bin/python bench/bench_writes.py [--n 20000] [--repeats 5] [--batch 500]
        [--writer thread|process]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from lockgate.audit.writer import AuditWriter
from lockgate.records import RequestRecord
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter
from lockgate.usage.repository import UsageRepository
from lockgate.usage.writer import UsageWriter


def record(n: int, run: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"req-{run}-{n}",
        started_at=1_800_000_000.0 + n,
        api="openai",
        key_id="key1",
        key_name="team-a-key",
        team="team-a",
        user=f"user-{n % 50}",
        model="gpt-4o-mini",
        provider="openai",
        deployment="gpt-4o-mini#0",
        upstream_model="gpt-4o-mini",
        status=200,
        error_type=None,
        error_code=None,
        stream=False,
        prompt_tokens=40,
        completion_tokens=9,
        cached_tokens=0,
        cost_usd=0.0000114,
        latency_ms=3.2,
        overhead_ms=0.4,
        ttft_ms=None,
        attempts=1,
        cache="bypass",
        notes={
            "guards": {
                "injection": {
                    "score": 0.0123,
                    "flagged": False,
                    "action": "pass",
                    "reason": "model:0.01",
                    "reasons": ["model:0.01"],
                }
            }
        },
        client_ip="127.0.0.1",
        # as the gateway's records carry them (audit keeps both)
        request_headers={
            "host": "127.0.0.1:15000",
            "content-type": "application/json",
            "authorization": "[redacted]",
            "content-length": "245",
        },
        attempt_log=[{"deployment": "gpt-4o-mini#0", "status": 200, "latency_ms": 1.1}],
    )


def children_cpu() -> float:
    """CPU seconds of this process's live children (the writer process), from /proc."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def once(n: int, run: int, tmp: Path, batch: int, writer: str) -> tuple[float, float, float]:
    """(loop-thread CPU us per record, process CPU us per record, of which the writer
    process's) for one run."""
    db = Database(f"sqlite+aiosqlite:///{tmp}/w{run}.db", writer=writer)  # type: ignore[arg-type]
    await db.migrate()
    usage = UsageWriter(
        UsageRepository(db),
        batch_size=batch,
        flush_interval=3600,
        dead_letter=DeadLetter(tmp / "u.jsonl", "usage"),
    )
    audit = AuditWriter(
        db, batch_size=batch, flush_interval=3600, dead_letter=DeadLetter(tmp / "a.jsonl", "audit")
    )
    usage.submit(record(n, run))  # starts the writer process (or thread) before timing
    await usage.flush()
    records = [record(i, run) for i in range(n)]
    loop0, proc0, kids0 = time.thread_time(), time.process_time(), children_cpu()
    for r in records:
        usage.submit(r)
        audit.submit(r)
    await usage.flush()
    await audit.flush()
    loop1, proc1, kids1 = time.thread_time(), time.process_time(), children_cpu()
    proc1 += kids1 - kids0
    assert usage.stats.written == n + 1 and audit.stats.written == n
    await usage.aclose()
    await audit.aclose()
    await db.aclose()
    return (loop1 - loop0) / n * 1e6, (proc1 - proc0) / n * 1e6, (kids1 - kids0) / n * 1e6


async def run(n: int, repeats: int, batch: int, writer: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = [await once(n, i, Path(tmp), batch, writer) for i in range(repeats)]
    loop = sorted(r[0] for r in results)
    proc = sorted(r[1] for r in results)
    kids = sorted(r[2] for r in results)
    print(
        f"{n} records x {repeats} runs, batches of {batch}, {writer} writer,"
        " usage + audit rows per record:"
        f" request-loop thread {statistics.median(loop):.1f} us CPU"
        f" ({loop[0]:.1f}-{loop[-1]:.1f}),"
        f" all threads and processes {statistics.median(proc):.1f} us"
        f" ({proc[0]:.1f}-{proc[-1]:.1f}), of which the writer process"
        f" {statistics.median(kids):.1f} ({kids[0]:.1f}-{kids[-1]:.1f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--writer", choices=("thread", "process"), default="process")
    a = ap.parse_args()
    asyncio.run(run(a.n, a.repeats, a.batch, a.writer))


if __name__ == "__main__":
    main()
