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

It also runs on the shortest CPU slice the kernel allows (100 µs, ``sched_setattr``'s
``sched_runtime``, Linux 6.12 on, no privilege needed; :func:`request_slice`).  Off the
loop's CPU, the writer shares the other cores with whatever serves the requests beside the
gateway (its clients, its upstreams, on the benchmark machine wrk and nginx): woken there,
those waited until the writer had used its slice (the kernel's default, 1.4 ms on two
cores, held to the next 4 ms tick).  Traced request by request (docs/notes/2026-11-30-s12/
p99tail.md, c=8, every default on), those waits were the part of the slowest 1% of requests
the gateway itself caused.  With a short slice a task woken on the writer's CPU takes it
at once; the writer's share of the CPU stays what its nice value gives, only the order
changes.  Other systems, architectures without a known system call number, and older
kernels (which accept and ignore the value) keep the default.  No maintained library
exposes ``sched_setattr`` (the ``os`` module has no slice), hence the ``ctypes`` lines.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["SLICE_NS", "CpuAvoider", "current_slice_ns", "last_cpu", "request_slice"]

#: the writer's slice: the shortest the kernel takes (it clamps to 0.1-100 ms)
SLICE_NS = 100_000
#: (sched_setattr, sched_getattr) system call numbers per machine
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275), "arm64": (274, 275)}


class _SchedAttr(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32),
        ("sched_util_max", ctypes.c_uint32),
    ]


def _calls() -> tuple[ctypes.CDLL, int, int] | None:
    numbers = _SYSCALLS.get(os.uname().machine) if sys.platform.startswith("linux") else None
    if numbers is None:
        return None
    try:
        return ctypes.CDLL(None, use_errno=True), *numbers
    except OSError:  # pragma: no cover - every Linux process has a C library
        return None


def _get(tid: int) -> _SchedAttr | None:
    calls = _calls()
    if calls is None:
        return None
    libc, _, get = calls
    attr = _SchedAttr()
    if libc.syscall(get, tid, ctypes.byref(attr), ctypes.sizeof(attr), 0) != 0:
        return None
    return attr


def current_slice_ns(tid: int = 0) -> int | None:
    """Thread ``tid``'s CPU slice in ns as the kernel reports it (0: the calling thread);
    None where it cannot be read."""
    attr = _get(tid)
    return None if attr is None else int(attr.sched_runtime)


def request_slice(ns: int = SLICE_NS) -> bool:
    """Ask for an ``ns`` slice on the calling thread (threads it starts inherit it); True
    when the kernel took the call.  Only for the ordinary policies: a real-time or idle
    one is left as it is."""
    calls, attr = _calls(), _get(0)
    if calls is None or attr is None or attr.sched_policy not in (os.SCHED_OTHER, os.SCHED_BATCH):
        return False
    libc, set_, _ = calls
    attr.size = ctypes.sizeof(attr)
    attr.sched_flags = 0
    attr.sched_runtime = ns  # policy and nice stay as read
    return bool(libc.syscall(set_, 0, ctypes.byref(attr), 0) == 0)


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
    """Keeps the calling process off the CPU ``pid`` is on (``avoid()`` before each job),
    on a ``slice_ns`` CPU slice (None: the kernel's default)."""

    def __init__(self, pid: int, *, slice_ns: int | None = SLICE_NS) -> None:
        self.pid = pid
        if slice_ns is not None:  # once, in the writer process: see the module's docstring
            request_slice(slice_ns)
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
