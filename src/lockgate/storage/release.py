"""A written batch's records are let go a slice per loop pass, not all at once.

The usage and audit writers hold each request's record until its batch is written (up to
500 records: the record, its notes and headers, their strings).  When the last writer
holding a batch drops it, freeing those objects ran on the request loop in one piece:
1.5-1.8 ms with nothing else served, about six times a second at 3,600 requests per second
with every default on, each one adding its length to the requests in flight
(``perf`` on the loop thread, docs/notes/2026-11-30-s12/p99tail.md).  :func:`release`
takes the list instead and empties it from the end, ``step`` records per loop pass, so
the same frees are spread between the passes that serve requests.  Nothing is kept
longer than a few passes; the work freed is the same.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["STEP", "release"]

#: records freed per loop pass (about 3 µs each with bench-shaped records)
STEP = 32


def release(items: list[Any], step: int = STEP) -> None:
    """Empty ``items`` ``step`` entries per loop pass (the caller keeps no other reference
    it needs: the list is cleared in place).  Without a running loop: at once."""
    if len(items) <= step:
        items.clear()
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        items.clear()
        return

    def drop() -> None:
        del items[-step:]
        if items:
            loop.call_soon(drop)

    drop()
