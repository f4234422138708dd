"""Stopping background tasks at shutdown, with a bound on the wait.

Each package's ``aclose`` cancels its background tasks and waits for them to end. A wait
without a bound once kept a replica in shutdown for good: its dependency monitor's task sat
"cancelling" on a future that never completed (a CI run in session 11; the lost wake-up's
cause was not found). ``stop_tasks`` cancels, gives the tasks ``wait`` seconds to end, logs
any that did not (and any that ended with an error), and returns. A cancellation of the
caller itself still propagates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["STOP_WAIT_S", "stop_tasks"]

log = logging.getLogger("lockgate.shutdown")

STOP_WAIT_S = 2.0


async def stop_tasks(
    tasks: Iterable[asyncio.Task[Any] | None], what: str, wait: float = STOP_WAIT_S
) -> bool:
    """Cancel ``tasks`` and wait at most ``wait`` seconds for them; ``True`` when all ended."""
    pending = [task for task in tasks if task is not None]
    if not pending:
        return True
    for task in pending:
        task.cancel()
    done, still = await asyncio.wait(pending, timeout=wait)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s ended with %r", what, task.exception())
    if still:
        log.warning(
            "%s: %d task(s) still running %.1f s after cancellation", what, len(still), wait
        )
    return not still
