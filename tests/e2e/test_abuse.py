"""Abuse from the client side against a live gateway: others keep being served meanwhile.

One real uvicorn gateway (the guarded protocol, short limits so the test waits seconds)
faces slow headers, slow bodies, silent and idle sockets, a flood of sockets past the
connection cap, huge and numerous headers, and malformed requests.  A canary client asks
for /health and a chat completion all along; every one of its requests must succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import model_list
from tests.fakes import ThreadedFake
from tests.live_server import LiveGateway, serve_in_thread
from tests.support import MASTER, bearer

from lockgate.settings import settings_from_mapping

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
LIMITS = {
    "header_timeout": 1.0,
    "body_timeout": 1.0,
    "keep_alive_timeout": 1.0,
    "max_connections": 300,
    "max_header_bytes": 16384,
    "max_headers": 50,
}
HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer " + MASTER.encode()
WAIT = 15.0  # upper bound for any single read; the limits above are 1 s


def start(
    fake: ThreadedFake, db: Path, **http: object
) -> contextlib.AbstractContextManager[LiveGateway]:
    data = {
        "model_list": model_list(fake),
        "general_settings": {"master_key": MASTER, "database_url": f"sqlite+aiosqlite:///{db}"},
        "server": {"http": {**LIMITS, **http}},
    }
    return serve_in_thread(settings_from_mapping(data, env={}))


@pytest.fixture(scope="module")
def gw(
    fake_server: ThreadedFake, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    with start(fake_server, tmp_path_factory.mktemp("abuse") / "gw.db") as live:
        yield live


def port_of(gw: LiveGateway) -> int:
    return int(gw.url.rsplit(":", 1)[1])


async def connect(gw: LiveGateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port_of(gw))


async def status_of(reader: asyncio.StreamReader) -> int | None:
    """The status of the response on this socket, or None if it closed without one."""
    try:
        line = await asyncio.wait_for(reader.readline(), WAIT)
    except ConnectionError:
        return None
    return int(line.split()[1]) if line else None


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the server closes this socket (reading to EOF) within the wait."""
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(reader.read(), WAIT)
    return True


@contextlib.asynccontextmanager
async def canary(gw: LiveGateway) -> AsyncIterator[list[int]]:
    """A well-behaved client asking all along; yields the statuses it got."""
    statuses: list[int] = []
    stop = asyncio.Event()

    async def run() -> None:
        async with httpx.AsyncClient(base_url=gw.url, headers=bearer(), timeout=WAIT) as client:
            while not stop.is_set():
                statuses.append((await client.get("/health")).status_code)
                statuses.append((await client.post("/v1/chat/completions", json=CHAT)).status_code)
                await asyncio.sleep(0.05)

    task = asyncio.create_task(run())
    try:
        yield statuses
    finally:
        stop.set()
        await task
    assert len(statuses) >= 2 and set(statuses) == {200}, statuses


async def trickle_head(writer: asyncio.StreamWriter) -> None:
    """The rest of a request head, a byte every 0.4 s (longer than header_timeout)."""
    with contextlib.suppress(ConnectionError):
        for byte in b"\r\nx-slow: 1234567890\r\n\r\n":
            await asyncio.sleep(0.4)
            writer.write(bytes([byte]))
            await writer.drain()


async def test_slow_headers_get_408_while_others_are_served(gw: LiveGateway) -> None:
    """A head sent a byte at a time is cut off with 408 after header_timeout."""
    async with canary(gw):
        reader, writer = await connect(gw)
        writer.write(HEAD)
        dripping = asyncio.create_task(trickle_head(writer))
        assert await status_of(reader) == 408
        dripping.cancel()
        writer.close()


async def test_slow_head_after_an_answered_request_gets_408(gw: LiveGateway) -> None:
    """The head deadline of a kept-alive connection's next request holds too: its timer
    was armed for the first request's head (earlier), fires first and must wait again
    for the deadline now in force instead of letting the slow head run on."""
    reader, writer = await connect(gw)
    body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
    writer.write(
        HEAD + b"\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    writer.write(body)
    assert await status_of(reader) == 200
    # at once (a wait could outlast keep_alive_timeout on a loaded box): the first head's
    # timer is still pending, set for an earlier deadline than this head's
    writer.write(HEAD)
    dripping = asyncio.create_task(trickle_head(writer))
    rest = b""
    with contextlib.suppress(ConnectionError):
        rest = await asyncio.wait_for(reader.read(), WAIT)  # the server closes after its 408
    dripping.cancel()
    writer.close()
    assert b"HTTP/1.1 408 " in rest


async def test_slow_body_gets_408_while_others_are_served(gw: LiveGateway) -> None:
    """A body sent a byte at a time is cut off with 408 after body_timeout."""
    async with canary(gw):
        reader, writer = await connect(gw)
        writer.write(HEAD + b"\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{")

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for _ in range(100):
                    await asyncio.sleep(0.4)
                    writer.write(b" ")
                    await writer.drain()

        dripping = asyncio.create_task(trickle())
        assert await status_of(reader) == 408
        dripping.cancel()
        writer.close()


async def test_silent_socket_is_closed(gw: LiveGateway) -> None:
    """A socket that never sends a byte is closed after header_timeout."""
    reader, writer = await connect(gw)
    assert await closed(reader)
    writer.close()


async def test_idle_keep_alive_socket_is_closed(gw: LiveGateway) -> None:
    """After a response, an idle keep-alive connection is closed after keep_alive_timeout."""
    reader, writer = await connect(gw)
    writer.write(b"GET /health HTTP/1.1\r\nhost: gw\r\n\r\n")
    assert await status_of(reader) == 200
    assert await closed(reader)
    writer.close()


def flood_size() -> int:
    """A few thousand sockets, leaving room under the open-files limit (each costs two fds
    here: the gateway runs in this process)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(200, min(3000, (soft - 1000) // 2))


async def test_socket_flood_past_the_cap_costs_only_the_flood(
    fake_server: ThreadedFake, tmp_path: Path
) -> None:
    """Thousands of silent sockets past the cap: the oldest are shed, the canary is served."""
    n = flood_size()
    # header_timeout is long here: only eviction can close the silent sockets in time.
    cap = n * 2 // 3
    with start(
        fake_server, tmp_path / "flood.db", max_connections=cap, header_timeout=60.0
    ) as small:
        async with canary(small) as statuses:
            await asyncio.sleep(0.2)  # the canary holds a served keep-alive connection
            socks = [await connect(small) for _ in range(n)]
            before = len(statuses)

            async def shed(reader: asyncio.StreamReader) -> bool:
                with contextlib.suppress(TimeoutError, ConnectionError):
                    return await asyncio.wait_for(reader.read(), 10.0) == b""
                return False

            # the oldest silent sockets made room for the newest (header_timeout is 60 s)
            oldest = await asyncio.gather(*(shed(r) for r, _ in socks[: n // 3]))
            assert sum(oldest) >= n // 3 - 10
            for _ in range(200):  # served during the flood, not only after it
                if len(statuses) > before:
                    break
                await asyncio.sleep(0.05)
            assert len(statuses) > before
            for _, writer in socks:
                writer.close()


async def test_every_slot_busy_gets_503_with_retry_after(
    fake: ThreadedFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When every connection has a request in flight, a newcomer gets 503 + Retry-After."""
    with start(fake, tmp_path / "cap.db", max_connections=2, body_timeout=10.0) as small:
        busy = []
        for _ in range(2):
            reader, writer = await connect(small)
            writer.write(HEAD + b"\r\ncontent-length: 10\r\n\r\n")  # head done, body pending
            await writer.drain()
            busy.append((reader, writer))
        await asyncio.sleep(1.0)  # both heads parsed: two connections with a request in flight
        with caplog.at_level(logging.WARNING, logger="lockgate.server"):
            reader, writer = await connect(small)
            response = await asyncio.wait_for(reader.read(), WAIT)
        assert response.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: 1" in response.lower() and b"connection_limit" in response
        assert any("connection_limit" in r.getMessage() for r in caplog.records)
        for _, w in [*busy, (reader, writer)]:
            w.close()
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(timeout=WAIT) as client:
            metrics = (await client.get(small.url + "/metrics", headers=bearer())).text
        assert 'lockgate_connections_rejected_total{reason="connection_limit"} 1.0' in metrics


async def test_huge_header_gets_431(gw: LiveGateway) -> None:
    """An 8 MB header is refused with 431 (read in full by the client), others are served."""
    async with canary(gw):
        reader, writer = await connect(gw)
        with contextlib.suppress(ConnectionError):
            writer.write(HEAD + b"\r\nx-big: " + b"a" * 8 * 1024 * 1024 + b"\r\n\r\n")
            await writer.drain()
        assert await status_of(reader) == 431
        writer.close()


@pytest.mark.parametrize("count", [200, 10_000])
async def test_many_headers_get_431(gw: LiveGateway, count: int) -> None:
    """More headers than max_headers (200 small ones, within the byte limit; or 10,000): 431."""
    async with canary(gw):
        reader, writer = await connect(gw)
        many = b"".join(b"\r\nx-h%d: 1" % i for i in range(count))
        with contextlib.suppress(ConnectionError):
            writer.write(HEAD + many + b"\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()
        assert await status_of(reader) == 431
        writer.close()


def test_headers_within_limits_are_served(gw: LiveGateway) -> None:
    """A request with a few ordinary headers and a large body is not caught by the limits."""
    headers = {**bearer(), **{f"x-extra-{i}": "v" * 100 for i in range(20)}}
    body = {**CHAT, "messages": [{"role": "user", "content": "x" * 300_000}]}
    r = httpx.post(gw.v1 + "/chat/completions", json=body, headers=headers, timeout=WAIT)
    assert r.status_code == 200, r.text


DEEP = (
    b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "x": '
    + (b"[" * 1000 + b"]" * 1000)
    + b"}"
)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"model": "gpt-4o-mini", "messages": [', id="truncated-json"),
        pytest.param(b'{"model": "gpt-4o-mini", "messages": "hi"}', id="messages-not-a-list"),
        pytest.param(b"[1, 2, 3]", id="not-an-object"),
        pytest.param(
            b'{"model": "gpt-4o-mini", "max_tokens": -1000000000,'
            b' "messages": [{"role": "user", "content": "hi"}]}',
            id="negative-max-tokens",
        ),
        pytest.param(DEEP, id="deep-json"),
    ],
)
async def test_bad_input_gets_a_4xx_while_others_are_served(gw: LiveGateway, body: bytes) -> None:
    """Malformed or absurd requests earn a 4xx and never cost the canary anything."""
    async with canary(gw), httpx.AsyncClient(timeout=WAIT) as client:
        r = await client.post(
            gw.v1 + "/chat/completions",
            content=body,
            headers={**bearer(), "content-type": "application/json"},
        )
        assert 400 <= r.status_code < 500, r.text


async def test_reused_request_id_does_not_stop_anyone(gw: LiveGateway) -> None:
    """A client's x-request-id sent twice is served twice, and the gateway goes on serving."""
    async with canary(gw), httpx.AsyncClient(timeout=WAIT, headers=bearer()) as client:
        for _ in range(2):
            r = await client.post(
                gw.v1 + "/chat/completions", json=CHAT, headers={"x-request-id": "req-reused-1"}
            )
            assert r.status_code == 200, r.text
        usage = await client.get(gw.url + "/admin/usage")
        assert usage.status_code < 500
