"""The lean client's pool releases connections idle past ``keepalive`` on its own.

Before, an idle pooled connection was closed only when a later request reached it: a
gateway that stopped sending to an upstream kept its sockets open indefinitely.  One
sweep timer per pool now closes them (real sockets to a scripted upstream on 127.0.0.1;
the upstream sees each close).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lockgate.providers.base import Timeouts
from lockgate.providers.transport import Transport

from .upstreams import Received, ScriptedUpstream, http_answer

T = Timeouts(connect=10, first_byte=10, idle=10, total=60)
BODY = b'{"model": "m", "messages": []}'
HEADERS = {"content-type": "application/json"}
ANSWER = b'{"choices": []}'


async def keep_open(got: Received, w: asyncio.StreamWriter) -> bool:
    w.write(http_answer(ANSWER))
    await w.drain()
    return True  # keep-alive: the upstream never closes first


async def until(check: Callable[[], bool], seconds: float = 60.0) -> bool:
    """Poll ``check()`` until true or ``seconds`` passed (a bound, not a timing claim)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if check():
            return True
        await asyncio.sleep(0.02)
    return check()


async def test_idle_connections_to_two_upstreams_are_closed_by_the_sweep() -> None:
    t = Transport("openai", 16, keepalive=0.3)
    pool = t.lean
    assert pool is not None
    try:
        async with ScriptedUpstream(keep_open) as a, ScriptedUpstream(keep_open) as b:
            calls = [t.post_json(up.url(), BODY, HEADERS, T, 1 << 20) for up in (a, b, a, b)]
            assert await asyncio.gather(*calls) == [ANSWER] * 4
            opened = pool.opened
            assert opened >= 2 and pool.open_connections == opened
            # No request follows: only the sweep can close them.
            assert await until(lambda: pool.open_connections == 0), pool.open_connections
            assert await until(lambda: a.open_now == 0 and b.open_now == 0)
            # The pool still works afterwards, on new connections.
            assert await t.post_json(a.url(), BODY, HEADERS, T, 1 << 20) == ANSWER
            assert pool.opened == opened + 1
    finally:
        await t.aclose()
