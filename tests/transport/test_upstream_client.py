"""The provider Transport against scripted upstreams on 127.0.0.1, through both clients:
the lean HTTP/1.1 client (``http1.py``) and aiohttp (the fallback)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.audit.test_tls import self_signed

from lockgate.errors import (
    BadRequestError,
    UpstreamBadResponseError,
    UpstreamConnectionError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
)
from lockgate.providers.base import Timeouts
from lockgate.providers.http1 import HIGH_WATER
from lockgate.providers.transport import ClientName, Transport

from .upstreams import Received, ScriptedUpstream, chunked, http_answer, reset

T = Timeouts(connect=10, first_byte=10, idle=10, total=60)
STALL = Timeouts(connect=10, first_byte=0.2, idle=0.2, total=0.5)
BODY = b'{"model": "m", "messages": []}'
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-test"}
ANSWER = b'{"choices": []}'
LIMIT = 1024 * 1024
SSE = b'data: {"a": 1}\n\ndata: {"a": 2}\n\n'
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


@pytest.fixture(params=["lean", "aiohttp"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    """A Transport on the lean client, then one on aiohttp."""
    client: ClientName = request.param
    t = Transport("openai", 512, client=client)
    yield t
    await t.aclose()


@pytest.fixture()
async def lean() -> AsyncIterator[Transport]:
    """A Transport on the lean client only (its pool's figures are read)."""
    t = Transport("openai", 512)
    yield t
    await t.aclose()


async def never() -> None:
    """A stall that ends only with the test."""
    await asyncio.Event().wait()


async def test_content_length_chunked_and_gzip_answers_on_one_connection(
    transport: Transport,
) -> None:
    """A content-length answer, a chunked one in pieces and a gzip one: each body whole,
    all three over one kept-alive connection."""

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        if got.nth == 0:
            w.write(http_answer(ANSWER))
        elif got.nth == 1:
            w.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
            w.write(b"transfer-encoding: chunked\r\n\r\n")
            await w.drain()
            w.write(chunked(b'{"choices"', b": [1, 2]", b"}"))
        else:
            w.write(http_answer(gzip.compress(b'{"z": 3}'), headers={"content-encoding": "gzip"}))
        await w.drain()
        return True

    async with ScriptedUpstream(answer) as up:
        url = up.url()
        assert await transport.post_json(url, BODY, HEADERS, T, LIMIT) == ANSWER
        assert await transport.post_json(url, BODY, HEADERS, T, LIMIT) == b'{"choices": [1, 2]}'
        assert await transport.post_json(url, BODY, HEADERS, T, LIMIT) == b'{"z": 3}'
    assert up.connections == 1
    assert [r.body for r in up.received] == [BODY] * 3
    assert up.received[0].header("authorization") == "Bearer sk-test"
    assert up.received[0].header("host") == url.split("/")[2]


async def test_deflate_and_close_delimited_answers(transport: Transport) -> None:
    """A deflate body with neither length nor chunks ends with the connection."""

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        body = zlib.compress(b'{"closed": true}')
        w.write(http_answer(body, headers={"content-encoding": "deflate"}, length=False))
        await w.drain()
        return False

    async with ScriptedUpstream(answer) as up:
        for _ in range(2):
            got = await transport.post_json(up.url(), BODY, HEADERS, T, LIMIT)
            assert got == b'{"closed": true}'
    assert up.connections == 2


async def test_tls_upstream_with_a_test_ca(tmp_path: Path) -> None:
    """HTTPS to a self-signed upstream: verified with the test CA passed in, refused by the
    default context (whose trust store does not hold it), on both clients."""
    cert, key = self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        w.write(http_answer(ANSWER))
        await w.drain()
        return True

    async with ScriptedUpstream(answer, ssl_context=server) as up:
        for client in ("lean", "aiohttp"):
            good = Transport("openai", 8, client=client, ssl_context=trusting)
            default = Transport("openai", 8, client=client)
            try:
                assert await good.post_json(up.url(), BODY, HEADERS, T, LIMIT) == ANSWER
                assert await good.post_json(up.url(), BODY, HEADERS, T, LIMIT) == ANSWER
                with pytest.raises(UpstreamConnectionError, match="cannot connect"):
                    await default.post_json(up.url(), BODY, HEADERS, T, LIMIT)
            finally:
                await good.aclose()
                await default.aclose()
    assert len(up.received) == 4  # two per client; the refused handshakes sent nothing


async def test_an_idle_connection_the_upstream_closed_is_not_used(lean: Transport) -> None:
    """The upstream closes after each answer (no ``connection: close``): once the client has
    seen the close, the next request goes on a new connection and nothing fails."""

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        w.write(http_answer(ANSWER))
        await w.drain()
        return False

    async with ScriptedUpstream(answer) as up:
        assert lean.lean is not None
        for _ in range(3):
            assert await lean.post_json(up.url(), BODY, HEADERS, T, LIMIT) == ANSWER
            for _ in range(500):  # until the close has reached the client's loop
                if lean.lean.open_connections == 0:
                    break
                await asyncio.sleep(0.01)
            assert lean.lean.open_connections == 0
    assert len(up.received) == 3
    assert up.connections == 3


def closes_second_request(got: Received) -> bool:
    """The keep-alive race, scripted: the request reached the upstream, which closed the
    connection without a byte of an answer (as an idle-timeout close crossing it)."""
    return got.nth == 1


async def race_answer(got: Received, w: asyncio.StreamWriter) -> bool:
    if closes_second_request(got):
        return False
    w.write(http_answer(ANSWER))
    await w.drain()
    return True


async def test_keepalive_race_without_idempotency_key_is_not_sent_again(
    transport: Transport,
) -> None:
    """A POST the upstream may have acted on is never sent twice behind the retry layer's
    back: the close is an UpstreamConnectionError and the upstream saw the request once."""
    async with ScriptedUpstream(race_answer) as up:
        assert await transport.post_json(up.url(), BODY, HEADERS, T, LIMIT) == ANSWER
        with pytest.raises(UpstreamConnectionError):
            await transport.post_json(up.url(), BODY, HEADERS, T, LIMIT)
    assert len(up.received) == 2
    assert up.connections == 1


async def test_keepalive_race_with_idempotency_key_is_sent_once_more(lean: Transport) -> None:
    """With an Idempotency-Key (the upstream de-duplicates), the request whose reused
    connection closed unanswered goes again, once, on a new connection."""
    keyed = {**HEADERS, "idempotency-key": "k-1"}
    async with ScriptedUpstream(race_answer) as up:
        assert await lean.post_json(up.url(), BODY, keyed, T, LIMIT) == ANSWER
        assert await lean.post_json(up.url(), BODY, keyed, T, LIMIT) == ANSWER
    assert [(r.conn, r.nth) for r in up.received] == [(0, 0), (0, 1), (1, 0)]


async def test_a_fresh_connection_closed_unanswered_is_not_retried(lean: Transport) -> None:
    """Only a reused connection's close is the race: on a new one it is the upstream's
    failure, raised after one send even with an Idempotency-Key."""

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        return False

    async with ScriptedUpstream(answer) as up:
        with pytest.raises(UpstreamConnectionError):
            await lean.post_json(up.url(), BODY, {**HEADERS, "idempotency-key": "k"}, T, LIMIT)
    assert len(up.received) == 1


async def test_stalled_upstreams_time_out(transport: Transport) -> None:
    """No head for a stream: first-byte timeout; a stream silent after one event: the
    idle-gap timeout after that event; a plain answer's body that never ends: the total."""

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        if got.n == 1:
            w.write(SSE_HEAD + chunked(b'data: {"a": 1}\n\n')[:-5])  # no last chunk
        elif got.n == 2:
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{")
        await w.drain()
        await never()
        return True

    async with ScriptedUpstream(answer) as up:
        with pytest.raises(UpstreamTimeoutError, match="did not answer"):
            await transport.open_stream(up.url(), BODY, HEADERS, STALL)
        # the stalled connection was closed: the next requests go on new ones
        resp = await transport.open_stream(up.url(), BODY, HEADERS, T)
        seen = []
        with pytest.raises(UpstreamTimeoutError, match="stalled"):
            async for event in transport.events(resp, STALL, LIMIT):
                seen.append(event)
        assert seen == [("", b'{"a": 1}')]
        with pytest.raises(UpstreamTimeoutError):
            await transport.post_json(up.url(), BODY, HEADERS, STALL, LIMIT)


async def test_answers_past_max_response_bytes(transport: Transport) -> None:
    """Declared too long, chunked past the limit, a gzip body that inflates past it, a
    stream past it (its events within the limit still delivered): all 502 too large."""
    big = b"x" * 300

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        if got.n == 0:
            w.write(http_answer(big))
        elif got.n == 1:
            w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            w.write(chunked(big[:150], big[150:]))
        elif got.n == 2:
            bomb = gzip.compress(b"0" * (4 * 1024 * 1024))
            w.write(http_answer(bomb, headers={"content-encoding": "gzip"}, length=False))
        else:
            w.write(SSE_HEAD + chunked(SSE, b"data: " + big + b"\n\n"))
        await w.drain()
        return got.n != 2

    async with ScriptedUpstream(answer) as up:
        for _ in range(3):
            with pytest.raises(UpstreamBadResponseError) as err:
                await transport.post_json(up.url(), BODY, HEADERS, T, 200)
            assert err.value.code == "upstream_response_too_large"
        resp = await transport.open_stream(up.url(), BODY, HEADERS, T)
        seen = []
        with pytest.raises(UpstreamBadResponseError) as err:
            async for event in transport.events(resp, T, 200):
                seen.append(event[1])
        assert err.value.code == "upstream_response_too_large"
        assert seen == [b'{"a": 1}', b'{"a": 2}']


async def test_a_stream_reset_mid_way_is_a_connection_error(transport: Transport) -> None:
    """Events, then a TCP reset: the events arrive, then UpstreamConnectionError."""

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        w.write(SSE_HEAD + chunked(SSE)[:-5])
        await w.drain()
        await asyncio.sleep(0.05)
        reset(w)
        return False

    async with ScriptedUpstream(answer) as up:
        resp = await transport.open_stream(up.url(), BODY, HEADERS, T)
        seen = []
        with pytest.raises(UpstreamConnectionError):
            async for event in transport.events(resp, T, LIMIT):
                seen.append(event[1])
        assert seen == [b'{"a": 1}', b'{"a": 2}']


async def test_error_answers_are_classified(transport: Transport) -> None:
    """A 429 with retry-after is the rate-limit error carrying it; the connection stays."""

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        body = b'{"error": {"message": "slow down", "type": "rate_limit"}}'
        w.write(http_answer(body, status=429, headers={"retry-after": "7"}))
        await w.drain()
        return True

    async with ScriptedUpstream(answer) as up:
        for _ in range(2):
            with pytest.raises(UpstreamRateLimitedError) as err:
                await transport.post_json(up.url(), BODY, HEADERS, T, LIMIT)
            assert err.value.retry_after == 7
    assert up.connections == 1


async def test_connections_stay_within_max_connections() -> None:
    """Twelve concurrent requests through a pool of two: at most two connections open at
    the upstream at once, every request answered (both clients)."""

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.01)
        w.write(http_answer(ANSWER))
        await w.drain()
        return True

    for client in ("lean", "aiohttp"):
        t = Transport("openai", 2, client=client)
        try:
            async with ScriptedUpstream(answer) as up:
                calls = [t.post_json(up.url(), BODY, HEADERS, T, LIMIT) for _ in range(12)]
                assert await asyncio.gather(*calls) == [ANSWER] * 12
            assert up.peak <= 2
            assert len(up.received) == 12
        finally:
            await t.aclose()


async def test_a_slow_reader_pauses_the_upstream(lean: Transport) -> None:
    """Back-pressure: while the stream is not read, the client buffers at most about the
    high-water mark and the upstream cannot finish writing; read on, every byte arrives."""
    total = 32 * 1024 * 1024
    written = []

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\n")
        w.write(b"content-length: %d\r\n\r\n" % total)
        piece = b"y" * 65536
        for _ in range(total // len(piece)):
            w.write(piece)
            await w.drain()
            written.append(len(piece))
        return True

    async with ScriptedUpstream(answer) as up:
        resp = await lean.open_stream(
            up.url(), BODY, HEADERS, T, expect="application/vnd.amazon.eventstream"
        )
        stable = 0
        last = -1
        for _ in range(1000):  # until the upstream's writes stop moving
            await asyncio.sleep(0.01)
            stable = stable + 1 if len(written) == last else 0
            last = len(written)
            if stable >= 20:
                break
        assert resp.buffered <= HIGH_WATER + 1024 * 1024
        assert sum(written) < total
        got = 0
        async for data in lean.raw_chunks(resp, T, total):
            got += len(data)
        assert got == total


async def test_credentials_in_the_url_go_through_aiohttp(lean: Transport) -> None:
    """A URL with user:password is aiohttp's (it sends them as Basic auth): the lean client
    opens no connection for it."""

    async def answer(got: Received, w: asyncio.StreamWriter) -> bool:
        w.write(http_answer(ANSWER))
        await w.drain()
        return True

    async with ScriptedUpstream(answer) as up:
        url = up.url().replace("http://", "http://user:pw@")
        assert await lean.post_json(url, BODY, {"x-one": "1"}, T, LIMIT) == ANSWER
        assert await lean.post_json(up.url(), BODY, {"x-one": "1"}, T, LIMIT) == ANSWER
    assert lean.lean is not None
    assert lean.lean.opened == 1  # only the plain URL's
    assert up.received[0].header("authorization") == "Basic " + base64.b64encode(b"user:pw").decode(
        "ascii"
    )
    assert up.received[1].header("authorization") is None


async def test_a_header_with_a_line_break_is_refused(lean: Transport) -> None:
    """No header can smuggle a second header or request onto the wire."""
    with pytest.raises(BadRequestError):
        await lean.post_json("http://127.0.0.1:9/v1", BODY, {"x-a": "1\r\nx-b: 2"}, T, LIMIT)
