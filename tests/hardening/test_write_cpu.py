"""The writer process leaves its gateway's CPU before each batch (storage/write_cpu.py):
real processes pinned to known CPUs, their affinity read back from the kernel."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest
from tests.hardening.conftest import migrated

from lockgate.storage.write_cpu import CpuAvoider, last_cpu

CPUS = sorted(os.sched_getaffinity(0))
if len(CPUS) < 2:  # the project's machines have two cores or more
    pytest.fail("these tests need two CPUs", pytrace=False)

SLEEPER = "import os, sys, time; os.sched_setaffinity(0, {int(sys.argv[1])}); time.sleep(60)"


def pinned_sleeper(cpu: int) -> subprocess.Popen[bytes]:
    """A process that moved itself to ``cpu`` and sleeps there (its last CPU is ``cpu``)."""
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER, str(cpu)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if os.sched_getaffinity(proc.pid) == {cpu} and last_cpu(proc.pid) == cpu:
            time.sleep(0.05)  # it has run on cpu since pinning itself, and now sleeps
            return proc
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"the sleeper never settled on CPU {cpu}")


@pytest.mark.parametrize("cpu", [CPUS[0], CPUS[-1]])
def test_avoid_leaves_the_cpu_the_other_process_is_on(cpu):
    sleeper = pinned_sleeper(cpu)
    before = os.sched_getaffinity(0)
    try:
        avoider = CpuAvoider(sleeper.pid, slice_ns=None)
        assert avoider.active
        allowed = avoider.avoid()
        assert allowed == frozenset(before) - {cpu}
        assert os.sched_getaffinity(0) == set(allowed)
    finally:
        os.sched_setaffinity(0, before)
        sleeper.kill()
        sleeper.wait(timeout=30)


def test_avoid_follows_the_other_process_when_it_moves():
    first, second = CPUS[0], CPUS[-1]
    before = os.sched_getaffinity(0)
    a = pinned_sleeper(first)
    try:
        avoider = CpuAvoider(a.pid, slice_ns=None)
        assert first not in avoider.avoid()
        a.kill()
        a.wait(timeout=30)
        b = pinned_sleeper(second)
        try:
            avoider.pid = b.pid
            allowed = avoider.avoid()
            assert second not in allowed and first in allowed
        finally:
            b.kill()
            b.wait(timeout=30)
    finally:
        os.sched_setaffinity(0, before)


def test_one_allowed_cpu_is_kept_and_a_gone_process_changes_nothing():
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {CPUS[0]})
        alone = CpuAvoider(os.getpid(), slice_ns=None)
        assert not alone.active
        assert alone.avoid() == frozenset({CPUS[0]})
        assert os.sched_getaffinity(0) == {CPUS[0]}
    finally:
        os.sched_setaffinity(0, before)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    assert last_cpu(gone.pid) is None
    avoider = CpuAvoider(gone.pid, slice_ns=None)
    assert avoider.avoid() == frozenset(before)
    assert os.sched_getaffinity(0) == before


@contextlib.asynccontextmanager
async def writer_after_one_job(tmp_path) -> AsyncIterator[int]:
    """The pid of a real writer process (SQLite) that has run one usage batch."""
    from tests.audit.conftest import make_record

    from lockgate.records import pack
    from lockgate.storage.database import Database
    from lockgate.usage.repository import write_usage_batch

    url = await migrated(f"sqlite+aiosqlite:///{tmp_path}/writes.db")
    db = Database(url, writer="process")
    try:
        process = db.write_process
        assert process is not None
        await process.run(write_usage_batch, pack([make_record(1, request_id="one")]))
        assert process.pid is not None
        yield process.pid
    finally:
        await db.aclose()


async def test_the_writer_process_runs_its_batches_off_one_cpu(tmp_path):
    """After a job the writer process may run on every CPU but one: the one its parent
    (this test's process) was on when the job arrived."""
    async with writer_after_one_job(tmp_path) as pid:
        allowed = os.sched_getaffinity(pid)
        assert len(allowed) == len(CPUS) - 1
        assert allowed < set(CPUS)


def run_python(code: str) -> str:
    """``code``'s output in a fresh interpreter (its slice changes never reach this one)."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_a_thread_gets_the_slice_it_asks_for_and_an_idle_one_keeps_its_own():
    """request_slice takes on an ordinary thread (read back from the kernel) and is
    refused on a SCHED_IDLE one, whose slice stays what it was."""
    ask = "from lockgate.storage.write_cpu import request_slice as r, current_slice_ns as c; "
    assert run_python(ask + "print(r(200_000), c())") == "True 200000"
    idle = "import os; os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0)); "
    took, before, after = run_python(idle + ask + "b = c(); print(r(200_000), b, c())").split()
    assert took == "False" and before == after != "200000"


async def test_the_writer_process_runs_on_the_shortest_slice(tmp_path):
    """The writer process asks for a 100 µs slice; its parent (this test) keeps its own."""
    from lockgate.storage.write_cpu import SLICE_NS, current_slice_ns

    mine = current_slice_ns()
    async with writer_after_one_job(tmp_path) as pid:
        assert current_slice_ns(pid) == SLICE_NS
        assert current_slice_ns() == mine != SLICE_NS
