"""The lean client writes the requests started in one pass of the loop together, after
that pass (``Client.write_soon``): an upstream on the same host then reads several per
wake-up instead of sleeping and waking once per request."""

from __future__ import annotations

import asyncio
import select
import socket

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


async def test_requests_of_one_pass_are_written_after_it_together() -> None:
    accepted: list[socket.socket] = []
    server = await _serve(accepted)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    client = Client()
    try:
        # three kept-alive connections in the pool
        assert await asyncio.gather(*(_send(client, url) for _ in range(3))) == [ANSWER] * 3
        assert client.opened == 3 and len(accepted) == 3
        loop = asyncio.get_running_loop()
        seen: list[list[bool]] = []
        tasks = [asyncio.create_task(_send(client, url)) for _ in range(3)]
        # Runs after the three tasks' first steps (each took a pooled connection and
        # queued its request) and before the write the first of them scheduled.
        loop.call_soon(lambda: seen.append([_readable(s) for s in accepted]))
        assert await asyncio.gather(*tasks) == [ANSWER] * 3
        assert seen == [[False, False, False]]  # nothing written during the pass
        assert client.opened == 3  # and every request went over a kept-alive connection
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_a_full_batch_is_written_at_once() -> None:
    """Past ``_BATCH`` requests in one pass, the first batch does not wait for the pass."""
    from lockgate.providers.http1 import _BATCH

    accepted: list[socket.socket] = []
    server = await _serve(accepted)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    client = Client()
    n = _BATCH + 2
    try:
        assert await asyncio.gather(*(_send(client, url) for _ in range(n))) == [ANSWER] * n
        assert len(accepted) == n
        loop = asyncio.get_running_loop()
        seen: list[int] = []
        tasks = [asyncio.create_task(_send(client, url)) for _ in range(n)]
        loop.call_soon(lambda: seen.append(sum(_readable(s) for s in accepted)))
        assert await asyncio.gather(*tasks) == [ANSWER] * n
        assert seen == [_BATCH]  # the full batch went out; the last two waited for the pass
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
