"""The writer process runs its batches off the CPU its gateway is on at that moment.

Measured with ``perf sched`` (docs/notes/2026-11-29-s11/p99full.md; 2 cores, every
default on, wrk at c=8): a batch costs the writer process ~30 ms of CPU; the pipe
write that hands it over wakes the writer on the waker's CPU (a synchronous wake-up
assumes the waker is about to sleep, and the request loop does not), so the two then
shared that CPU and the scheduler gave the writer its turns a whole tick at a time
(4 ms at ``HZ=250``) while the loop, runnable, waited with every request in flight: up to
4% of the wall time in the runs measured, the P99 of that configuration.  Neither nice
values nor ``SCHED_BATCH`` changed it (a tick, not a wake-up, hands the CPU over), and
``SCHED_IDLE`` starved the writer on a busy machine.

So before each job the writer leaves the CPU the gateway's thread last ran on (its
affinity becomes its original set minus that CPU, when anything is left): the batch runs
on another core when one has room, the kernel's placement otherwise.  Two system calls
and one small ``/proc`` read per batch; nothing on machines with one allowed CPU or
without ``sched_setaffinity``.

At idle priority (:mod:`lockgate.storage.write_priority`) it still keeps off the loop's
CPU: letting an idle writer use every CPU was tried (session 13) and not kept, because a
writer lifted mid-batch stays wherever it is running, the loop's CPU included, at normal
priority until its next batch (the loop waiting behind it showed in the trace), and no
gain showed against the noise.
"""

from __future__ import annotations

import os

__all__ = ["CpuAvoider", "last_cpu"]


def last_cpu(pid: int) -> int | None:
    """The CPU ``pid``'s main thread last ran on (``/proc/PID/stat`` field 39), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(b")") + 2 :].split()
    try:
        return int(fields[36])  # field 39; fields[0] is field 3
    except (IndexError, ValueError):
        return None


class CpuAvoider:
    """Keeps the calling process off the CPU ``pid`` is on (``avoid()`` before each job)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        getter = getattr(os, "sched_getaffinity", None)
        self._allowed: frozenset[int] = frozenset(getter(0)) if getter is not None else frozenset()
        self._current = self._allowed

    @property
    def active(self) -> bool:
        return len(self._allowed) > 1

    def avoid(self) -> frozenset[int]:
        """Move off the CPU ``pid`` last ran on; the CPUs now allowed."""
        if not self.active:
            return self._current
        cpu = last_cpu(self.pid)
        wanted = self._allowed - {cpu} if cpu in self._allowed else self._allowed
        if wanted != self._current:
            try:
                os.sched_setaffinity(0, wanted)
            except OSError:  # a cpuset changed under us: keep what the kernel gives
                return self._current
            self._current = wanted
        return wanted
