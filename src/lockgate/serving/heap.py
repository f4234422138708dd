"""glibc heap settings for the long-running gateway process (no-ops on other C libraries).

* ``limit_arenas``: glibc gives each thread that allocates its own malloc arena; the
  gateway's threads (SQLite connections, the write thread) each kept a mostly empty one
  (~1.5 MB idle RSS in bench/bench_startup.py).  Under the GIL they rarely allocate at
  the same moment, so two arenas cost no measurable contention.
* ``trim``: once start-up's garbage is collected, hand the heap's free pages back to the
  OS (~1 MB) instead of keeping them resident until reused.
"""

from __future__ import annotations

import contextlib
import ctypes

__all__ = ["limit_arenas", "trim"]

_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:  # pragma: no cover - every Linux and macOS process has one
        return None


def limit_arenas(arenas: int = 2) -> bool:
    """At most ``arenas`` malloc arenas; call before the process starts threads."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    return bool(mallopt is not None and mallopt(_M_ARENA_MAX, arenas))


def trim() -> bool:
    """Return the heap's free pages to the OS; True when glibc released any."""
    libc = _libc()
    malloc_trim = getattr(libc, "malloc_trim", None)
    if malloc_trim is None:
        return False
    with contextlib.suppress(OSError):
        return bool(malloc_trim(0))
    return False  # pragma: no cover
