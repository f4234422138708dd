"""The writer process at idle priority, lifted when starved (storage/write_priority.py):
real writer processes, a real process competing for their CPU, the kernel's policy read
back; every record counted in the database."""

from __future__ import annotations

import asyncio
import os
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.audit.conftest import make_record
from tests.hardening.conftest import migrated, usage_rows
from tests.hardening.test_write_process import audit_writer, usage_writer

from lockgate.audit.repository import AuditRepository
from lockgate.audit.writer import AuditWriter
from lockgate.metrics import Metrics
from lockgate.records import pack
from lockgate.storage.database import Database
from lockgate.storage.write_priority import WriterPriority, can_leave_idle
from lockgate.usage.writer import UsageWriter

ROOT = str(Path(__file__).resolve().parents[2] / "src")
CPUS = sorted(os.sched_getaffinity(0))
#: spins on one CPU for at most 120 s (the test kills it long before)
SPINNER = (
    "import os, sys, time; os.sched_setaffinity(0, {int(sys.argv[1])}); "
    "end = time.monotonic() + 120\nwhile time.monotonic() < end: pass"
)


@pytest.fixture
async def url(tmp_path: Path) -> str:
    return await migrated(f"sqlite+aiosqlite:///{tmp_path}/writes.db")


def writers(db: Database, tmp_path: Path) -> tuple[UsageWriter, AuditWriter]:
    return usage_writer(db, tmp_path, batch_size=500), audit_writer(db, tmp_path, batch_size=500)


def spinning_on(cpu: int) -> subprocess.Popen[bytes]:
    """A process busy on ``cpu`` (pinned there, running), at this process's nice value."""
    proc = subprocess.Popen([sys.executable, "-c", SPINNER, str(cpu)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.sched_getaffinity(proc.pid) == {cpu}:
            with open(f"/proc/{proc.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if fields[0] == "R" and int(fields[11]) > 0:  # running, some CPU used pinned
                return proc
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("the spinner never ran")


def metric(metrics: Metrics, line: str) -> float:
    for text in metrics.render().decode().splitlines():
        if text.startswith(line + " "):
            return float(text.rsplit(" ", 1)[1])
    raise AssertionError(f"{line} not on /metrics")


def test_this_test_process_may_leave_idle():
    """The project's machines run the suite with CAP_SYS_NICE (as root): the guard's
    precondition, so that the tests below exercise the idle mode and not the fallback."""
    assert can_leave_idle()


async def test_the_writer_runs_idle_and_its_rows_land(url, tmp_path):
    db = Database(url, writer="process", priority=WriterPriority(idle=True))
    usage, audit = writers(db, tmp_path)
    try:
        for n in range(300):
            usage.submit(make_record(n, request_id=f"u{n}"))
            audit.submit(make_record(n, request_id=f"a{n}"))
        await usage.flush()
        process = db.write_process
        assert process is not None and process.pid is not None
        # its first job ran at normal priority; with nothing waiting it went idle after it
        assert os.sched_getscheduler(process.pid) == os.SCHED_IDLE
        assert process.priority.mode == "idle"
        assert os.sched_getaffinity(process.pid) < set(CPUS)  # off the loop's CPU
        await audit.flush()
        assert process.backlog_seconds() == 0.0
        # idle or lifted, it still keeps off the CPU its parent's loop is on
        assert os.sched_getaffinity(process.pid) < set(CPUS)
    finally:
        await usage.aclose()
        await audit.aclose()
        await db.aclose()
    assert len(await usage_rows(url)) == 300


async def test_normal_priority_keeps_the_writer_normal(url, tmp_path):
    db = Database(url, writer="process", priority=WriterPriority(idle=False))
    usage, _ = writers(db, tmp_path)
    try:
        usage.submit(make_record(1))
        await usage.flush()
        process = db.write_process
        assert process is not None and process.pid is not None
        assert os.sched_getscheduler(process.pid) == os.SCHED_OTHER
        assert process.priority.mode == "normal"
    finally:
        await usage.aclose()
        await db.aclose()


async def test_a_starved_idle_writer_is_lifted_every_record_lands_then_it_goes_back(url, tmp_path):
    """The writer process shares one CPU with a process that never sleeps: at idle
    priority its batch would wait for as long as that process runs; the guard lifts it,
    and every usage and audit record is written and counted.  Once the CPU is free and
    nothing waits, it goes back to idle."""
    cpu = CPUS[-1]
    priority = WriterPriority(idle=True, starve_after=0.05, hold=0.0)
    db = Database(url, writer="process", priority=priority)
    process = db.write_process
    assert process is not None
    metrics = Metrics()
    metrics.watch_writer(process)
    seen: list[tuple[str, float]] = []
    hook = priority.listener
    assert hook is not None

    def listener(mode: str) -> None:
        seen.append((mode, process.backlog_seconds()))
        hook(mode)

    priority.listener = listener
    usage, audit = writers(db, tmp_path)
    before = os.sched_getaffinity(0)
    spinner: subprocess.Popen[bytes] | None = None
    try:
        # the writer process is started pinned to `cpu` (it inherits this process's CPUs)
        os.sched_setaffinity(0, {cpu})
        usage.submit(make_record(0, request_id="first"))
        await usage.flush()
        os.sched_setaffinity(0, before)
        assert process.pid is not None
        assert os.sched_getaffinity(process.pid) == {cpu}
        # idle after its first job, with nothing waiting
        assert os.sched_getscheduler(process.pid) == os.SCHED_IDLE
        assert priority.switches == {"idle": 0, "normal": 0}
        spinner = spinning_on(cpu)
        for n in range(1, 2001):
            usage.submit(make_record(n, request_id=f"u{n}"))
            audit.submit(make_record(n, request_id=f"a{n}"))
        await usage.flush()
        await audit.flush()
        assert priority.switches["normal"] >= 1
        assert seen[0][0] == "normal" and seen[0][1] >= priority.starve_after
        assert metric(metrics, 'lockgate_writer_priority_switches_total{to="normal"}') >= 1
        spinner.kill()
        spinner.wait(timeout=30)
        spinner = None
        # caught up: a job answered with nothing behind it sends the writer back to idle
        # (and the last job may not be lifted again by other load on the machine)
        priority.starve_after = 600.0
        usage.submit(make_record(5000, request_id="last"))
        await usage.flush()
        assert priority.mode == "idle" and priority.switches["idle"] >= 1
        assert os.sched_getscheduler(process.pid) == os.SCHED_IDLE
        assert metric(metrics, "lockgate_writer_idle") == 1.0
        assert metric(metrics, "lockgate_writer_backlog_seconds") == 0.0
        assert usage.stats.dropped == 0 and audit.bound.dropped == 0
    finally:
        os.sched_setaffinity(0, before)
        if spinner is not None:
            spinner.kill()
            spinner.wait(timeout=30)
        await usage.aclose()
        await audit.aclose()
        await db.aclose()
    assert len(await usage_rows(url)) == 2002
    assert not (tmp_path / "usage-dl.jsonl").exists()
    check = Database(url)
    try:
        result = await AuditRepository(check).verify()
    finally:
        await check.aclose()
    assert result.ok and result.checked == 2000


# Without CAP_SYS_NICE: a fresh interpreter started by setpriv(1) with that capability out
# of its bounding set (so not in its effective set either); it reports whether it may
# leave idle, and the mode and policy of its writer process.
UNPRIVILEGED = """
import asyncio, os, pickle, resource, sys
sys.path.insert(0, sys.argv[1])
from lockgate.storage.write_priority import WriterPriority, can_leave_idle
from lockgate.storage.write_process import WriteProcess
from lockgate.usage.repository import write_usage_batch

async def main():
    process = WriteProcess(sys.argv[2], priority=WriterPriority(idle=True))
    await process.run(write_usage_batch, pickle.loads(bytes.fromhex(sys.argv[3])))
    print(can_leave_idle(), process.priority.mode, os.sched_getscheduler(process.pid))
    await process.aclose()

asyncio.run(main())
"""


def test_without_the_right_to_leave_idle_the_writer_stays_normal(tmp_path):
    """Without CAP_SYS_NICE, and with an RLIMIT_NICE below 20 (the usual default is 0), an
    idle writer could not be lifted again, so it is never made idle; its record is
    written."""
    assert resource.getrlimit(resource.RLIMIT_NICE)[0] < 20  # inherited by the child
    url = asyncio.run(migrated(f"sqlite+aiosqlite:///{tmp_path}/writes.db"))
    record = pickle.dumps(pack([make_record(1, request_id="capless")])).hex()
    plain = url.replace("+aiosqlite", "")
    command = ["setpriv", "--bounding-set", "-sys_nice", sys.executable, "-c", UNPRIVILEGED]
    done = subprocess.run(
        [*command, ROOT, plain, record],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    *logged, last = done.stdout.strip().splitlines()
    assert last.split() == ["False", "normal", str(os.SCHED_OTHER)]
    assert any("may not leave SCHED_IDLE" in line for line in logged)
    assert [r["request_id"] for r in asyncio.run(usage_rows(url))] == ["capless"]
