"""glibc heap settings of the serving process (lockgate.serving.heap)."""

from __future__ import annotations

import platform

from lockgate.serving import heap


def test_arena_limit_and_trim_reach_glibc():
    assert platform.libc_ver()[0] == "glibc"  # CI and the images run on glibc
    assert heap.limit_arenas(8) is True
    bytes(50_000_000)  # a large block freed again: something to hand back
    assert isinstance(heap.trim(), bool)
