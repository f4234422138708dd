"""The writer process leaves its gateway's CPU before each batch (storage/write_cpu.py):
real processes pinned to known CPUs, their affinity read back from the kernel."""

from __future__ import annotations

import os
import subprocess
import sys
import time

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
        avoider = CpuAvoider(sleeper.pid)
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
        avoider = CpuAvoider(a.pid)
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
        alone = CpuAvoider(os.getpid())
        assert not alone.active
        assert alone.avoid() == frozenset({CPUS[0]})
        assert os.sched_getaffinity(0) == {CPUS[0]}
    finally:
        os.sched_setaffinity(0, before)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    assert last_cpu(gone.pid) is None
    avoider = CpuAvoider(gone.pid)
    assert avoider.avoid() == frozenset(before)
    assert os.sched_getaffinity(0) == before


async def test_the_writer_process_runs_its_batches_off_one_cpu(tmp_path):
    """After a job the writer process may run on every CPU but one: the one its parent
    (this test's process) was on when the job arrived."""
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
        pid = process.pid
        assert pid is not None
        allowed = os.sched_getaffinity(pid)
        assert len(allowed) == len(CPUS) - 1
        assert allowed < set(CPUS)
    finally:
        await db.aclose()
