"""The lean client writes the requests started in one pass of the loop together, after
that pass (``Client.write_soon``): an upstream on the same host then reads several per
wake-up instead of sleeping and waking once per request."""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from lockgate.providers.http1 import Client, lean_url, request_head

ANSWER = b'{"ok": true}'
REPLY = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(ANSWER),
    ANSWER,
)
BODY = b'{"model": "m"}'


async def _serve(accepted: list[socket.socket]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer.get_extra_info("socket"))
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(len(BODY))
                writer.write(REPLY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock.fileno()], [], [], 0)[0])


async def _send(client: Client, url: str) -> bytes:
    target = lean_url(url)
    assert target is not None
    origin, host, path = target
    head = request_head(host, path, {"content-type": "application/json"}, len(BODY))
    resp = await client.request(
        origin,
        head,
        BODY,
        limit=1 << 20,
        connect=10,
        first_byte=None,
        total=30,
        idle=None,
        stream=False,
        replayable=False,
    )
    return await resp.read()


@pytest.fixture()
async def upstream() -> AsyncIterator[tuple[Client, str, list[socket.socket]]]:
    """A lean client, the URL of a local upstream and the sockets that upstream accepted."""
    accepted: list[socket.socket] = []
    server = await _serve(accepted)
    port = server.sockets[0].getsockname()[1]
    client = Client()
    yield client, f"http://127.0.0.1:{port}/v1/chat/completions", accepted
    await client.aclose()
    server.close()
    await server.wait_closed()


async def _one_pass(client: Client, url: str, n: int, probe: Callable[[], object]) -> None:
    """``n`` requests started in one pass of the loop, ``probe`` called right after their
    first steps; every one answered."""
    tasks = [asyncio.create_task(_send(client, url)) for _ in range(n)]
    # Runs after the tasks' first steps (each took a pooled connection and queued its
    # request) and before the write the first of them scheduled.
    asyncio.get_running_loop().call_soon(probe)
    assert await asyncio.gather(*tasks) == [ANSWER] * n


async def test_requests_of_one_pass_are_written_after_it_together(
    upstream: tuple[Client, str, list[socket.socket]],
) -> None:
    client, url, accepted = upstream
    # three kept-alive connections in the pool
    assert await asyncio.gather(*(_send(client, url) for _ in range(3))) == [ANSWER] * 3
    assert client.opened == 3 and len(accepted) == 3
    seen: list[list[bool]] = []
    await _one_pass(client, url, 3, lambda: seen.append([_readable(s) for s in accepted]))
    assert seen == [[False, False, False]]  # nothing written during the pass
    assert client.opened == 3  # and every request went over a kept-alive connection


async def test_a_full_batch_is_written_at_once(
    upstream: tuple[Client, str, list[socket.socket]],
) -> None:
    """Past ``_BATCH`` requests in one pass, the first batch does not wait for the pass."""
    from lockgate.providers.http1 import _BATCH

    client, url, accepted = upstream
    n = _BATCH + 2
    assert await asyncio.gather(*(_send(client, url) for _ in range(n))) == [ANSWER] * n
    assert len(accepted) == n
    seen: list[int] = []
    await _one_pass(client, url, n, lambda: seen.append(sum(_readable(s) for s in accepted)))
    assert seen == [_BATCH]  # the full batch went out; the last two waited for the pass
