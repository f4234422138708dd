"""The writer process runs at idle priority, and is lifted while its work waits too long.

Traced in session 12 (docs/notes/2026-11-30-s12/p99tail.md): with every default on, what
is left of the gateway's own part of its slowest 1% at c=8 is the proxy in front and the
clients' threads waiting, runnable, behind the writer process on the CPU that process was
moved to (0.85-1.55 ms of those requests).  A ``SCHED_IDLE`` task gives its CPU up the
moment any other task wakes there (the kernel preempts it on that wake-up, not at the next
tick), so a writer at idle priority costs the processes that serve requests nothing but its
cache footprint.  It also runs only when a CPU has nothing else to do, so on a machine
that is busy for long it may not run at all: session 11 and 12 saw such a writer starve and
its queues spill.

A new writer process starts (imports, connects) at normal priority and goes idle after its
first job.  The guard: a job (one batch, one transaction) not answered within
``starve_after`` seconds of being handed to
:class:`~lockgate.storage.write_process.WriteProcess` (the wait for the jobs before it
included) lifts the process to ``SCHED_OTHER`` at its nice value, so it competes as any
process does; it goes back to idle once it has caught up: a job answered with no other job
waiting, ``hold`` seconds or more after the lift.  The bound is a few batches' time at full
speed (0.1 s by default): records a lagging writer leaves queued set off young collections
of the gateway's GC on the request loop (4-8 ms each, traced with a 0.5 s bound).  Records
are never lost by it: a starved job is only slower, never dropped (the writers' queues,
bounds and dead-letter files are unchanged).  Every switch is counted
(``lockgate_writer_priority_switches_total{to}``), and the age of the oldest job waiting or
in flight is ``lockgate_writer_backlog_seconds``.  The writer still keeps off the loop's
CPU (:mod:`lockgate.storage.write_cpu`), idle or not.

Leaving ``SCHED_IDLE`` needs ``CAP_SYS_NICE`` or an ``RLIMIT_NICE`` that allows nice 0's
priority (the kernel treats idle as below nice 19).  Whether this process may is probed
once, on a thread of its own that goes idle and back; where it may not, the writer stays at
its normal priority (logged once): an idle writer that cannot be lifted could starve for
good.  If a lift is refused anyway (limits changed under us), the caller drops
the child and the batch is retried on a new one, which runs at normal priority.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Literal

import structlog

__all__ = ["WriterPriority", "can_leave_idle", "set_policy"]

log = structlog.get_logger("lockgate.storage")

Mode = Literal["idle", "normal"]

_IDLE = getattr(os, "SCHED_IDLE", None)
_OTHER = getattr(os, "SCHED_OTHER", 0)


def can_leave_idle() -> bool:
    """Whether a thread of this process may go to ``SCHED_IDLE`` and come back."""
    if _IDLE is None or not hasattr(os, "sched_setscheduler"):
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, _IDLE, os.sched_param(0))
        except OSError:
            result.append(False)
            return
        try:
            os.sched_setscheduler(0, _OTHER, os.sched_param(0))
        except OSError:
            result.append(False)  # this thread stays idle; it ends here
            return
        result.append(True)

    thread = threading.Thread(target=probe, name="lockgate-sched-probe", daemon=True)
    thread.start()
    thread.join()
    return result == [True]


def set_policy(pid: int, mode: Mode) -> None:
    """Every thread of process ``pid`` to ``mode`` (its nice value kept).

    A process or thread that is gone is skipped; a refusal raises ``PermissionError``."""
    assert _IDLE is not None
    policy = _IDLE if mode == "idle" else _OTHER
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setscheduler(tid, policy, os.sched_param(0))


class WriterPriority:
    """The writer process's scheduling mode: idle when wanted and safe, lifted when starved."""

    def __init__(self, *, idle: bool, starve_after: float = 0.1, hold: float = 2.0) -> None:
        self.wanted: Mode = "idle" if idle else "normal"
        self.starve_after = starve_after
        self.hold = hold
        #: the mode the current child runs in
        self.mode: Mode = "normal"
        self._supported: bool | None = None
        self._lifted_at = 0.0
        self._fresh = False
        #: switches by the mode switched to (the app's metrics read these)
        self.switches: dict[Mode, int] = {"idle": 0, "normal": 0}
        #: told ``(mode)`` of each switch made by the guard
        self.listener: Callable[[str], object] | None = None

    @property
    def supported(self) -> bool:
        if self._supported is None:
            self._supported = self.wanted == "idle" and can_leave_idle()
            if self.wanted == "idle" and not self._supported:
                log.warning(
                    "database writer stays at normal priority: this process may not leave"
                    " SCHED_IDLE (needs CAP_SYS_NICE or RLIMIT_NICE >= 20)"
                )
        return self._supported

    def started(self, pid: int) -> None:
        """A new child ``pid``: it starts (imports, connects) at normal priority and goes
        idle after its first job, when nothing waits (``settle``)."""
        self.mode = "normal"
        self._fresh = True

    def lift(self, pid: int) -> None:
        """The child's job waited too long: to ``SCHED_OTHER`` (``PermissionError`` if
        refused; the child may then be idle still and must be replaced)."""
        if self.mode != "idle":
            return
        try:
            set_policy(pid, "normal")
        except PermissionError:
            self._supported = False
            raise
        self.mode = "normal"
        self._lifted_at = time.monotonic()
        self._switched("normal")
        log.info("database writer starved at idle priority; lifted", pid=pid)

    def settle(self, pid: int, waiting: int) -> None:
        """A job was answered with ``waiting`` more behind it: to idle when caught up (a
        new child after its first job; a lifted one ``hold`` seconds after its lift)."""
        if (
            self.mode != "normal"
            or waiting
            or self.wanted != "idle"
            or not (self._fresh or time.monotonic() - self._lifted_at >= self.hold)
            or not self.supported
        ):
            return
        try:
            set_policy(pid, "idle")
        except PermissionError:  # lowering is always allowed; a cpuset or LSM said no
            self._supported = False
            return
        self.mode = "idle"
        if self._fresh:
            self._fresh = False
        else:
            self._switched("idle")

    def _switched(self, mode: Mode) -> None:
        self.switches[mode] += 1
        if self.listener is not None:
            self.listener(mode)
