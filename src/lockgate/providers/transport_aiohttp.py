"""The provider hop through aiohttp: a pooled session per provider.

``transport.Transport`` sends here what its lean client (``http1.py``) does not
serve (credentials in the URL, another scheme); it was the whole hop until session 9.
aiohttp is used rather than httpx because on this hop it measured about ten
times cheaper per request (see bench/README.md).
"""

from __future__ import annotations

import asyncio
import io
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TypeVar

import aiohttp

from lockgate.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeoutError,
)
from lockgate.providers.base import Timeouts
from lockgate.providers.transport import (
    LimitedSSE,
    too_large,
    upstream_timeout,
    wire_of,
    wrong_type,
)
from lockgate.resilience.classify import classify_upstream_failure
from lockgate.settings import ProviderName

__all__ = ["AiohttpTransport"]

#: bytes of an upstream error body read for its message (the rest is not needed)
_ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
#: bodies above this go to aiohttp as a file object (its own threshold is 1 MiB)
_LARGE_BODY = 512 * 1024
_T = TypeVar("_T")


class AiohttpTransport:
    """POSTs JSON to upstreams over one keep-alive connection pool."""

    def __init__(
        self,
        provider: ProviderName,
        max_connections: int = 512,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.provider: ProviderName = provider
        self._max_connections = max_connections
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Created lazily inside the running loop (aiohttp binds sessions to a loop).
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=120,
                ttl_dns_cache=300,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, raise_for_status=False
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _send(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        stream: bool,
    ) -> aiohttp.ClientResponse:
        # No socket-read timer: a non-streamed answer is bounded by ``total`` (its first
        # byte can only come with the whole answer), and streams time the first chunk
        # and each idle gap themselves.  A read timer would be re-armed on every packet.
        timeout = aiohttp.ClientTimeout(total=timeouts.total, sock_connect=timeouts.connect)
        # aiohttp writes a large bytes body in one blocking step (and warns); a file
        # object is sent in pieces.  Inline images and PDFs make multi-MB bodies common.
        data: bytes | io.BytesIO = io.BytesIO(body) if len(body) > _LARGE_BODY else body
        try:
            if stream:
                # Streams have no socket-read timeout (idle gaps are timed per chunk),
                # so the wait for headers is bounded here.
                async with asyncio.timeout(timeouts.first_byte):
                    resp = await self._get_session().post(
                        url, data=data, headers=headers, timeout=timeout
                    )
            else:
                resp = await self._get_session().post(
                    url, data=data, headers=headers, timeout=timeout
                )
        except TimeoutError:
            raise upstream_timeout(self.provider, "first_byte", timeouts) from None
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamConnectionError(
                f"cannot connect to {self.provider} upstream: {exc}"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamConnectionError(
                f"{self.provider} upstream connection failed before a response: {exc!r}"
            ) from None
        if resp.status >= 400:
            try:
                data = await resp.content.read(_ERROR_BODY_LIMIT)
            except (aiohttp.ClientError, OSError, TimeoutError):
                data = b""
            finally:
                resp.release()
            raise classify_upstream_failure(
                resp.status, resp.headers, data, wire_of(self.provider), now=time.time()
            )
        return resp

    async def post_json(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        limit: int,
    ) -> bytes:
        """POST and return the 2xx body (at most ``limit`` bytes); every failure is an
        ``UpstreamError``."""
        resp = await self._send(url, body, headers, timeouts, stream=False)
        try:
            declared = resp.content_length
            if declared is not None and declared > limit:
                raise too_large(self.provider, limit)
            parts: list[bytes] = []
            seen = 0
            async for part in resp.content.iter_chunked(_CHUNK):
                seen += len(part)
                if seen > limit:
                    raise too_large(self.provider, limit)
                parts.append(part)
            return b"".join(parts)
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"{self.provider} upstream body timed out", public=True
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamConnectionError(
                f"{self.provider} upstream dropped the connection mid-body: {exc!r}"
            ) from None
        finally:
            resp.release()

    async def open_stream(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        expect: str = "text/event-stream",
    ) -> aiohttp.ClientResponse:
        """POST a streaming request and return the response once 2xx headers arrived."""
        resp = await self._send(url, body, headers, timeouts, stream=True)
        ctype = resp.headers.get("content-type", "")
        if expect not in ctype:
            data = await resp.read()
            resp.release()
            raise wrong_type(self.provider, ctype, data)
        return resp

    async def event_batches(
        self, resp: aiohttp.ClientResponse, timeouts: Timeouts, limit: int
    ) -> AsyncGenerator[list[tuple[str, bytes]]]:
        """The SSE events of an open stream, in the batches one network read completed,
        with the idle-gap deadline applied and at most ``limit`` bytes read in all.

        The idle deadline is armed once per network read, not once per line, and events
        that arrived together cost no further waits; a consumer also knows which events
        it may send on together without delaying any.
        """
        content = resp.content
        idle = timeouts.idle
        cut = LimitedSSE(self.provider, limit)
        with _Mapped(self.provider, resp, timeouts) as mapped:
            while True:
                data = content.read_nowait()  # what already arrived: no deadline to arm
                if not data:
                    if content.at_eof():
                        break
                    async with asyncio.timeout(idle):
                        data = await content.readany()
                    if not data:
                        break
                batch = cut.feed(data)
                if batch:
                    yield batch
                cut.check()
            batch = cut.close()
            if batch:
                yield batch
            mapped.clean = True

    async def raw_chunks(
        self, resp: aiohttp.ClientResponse, timeouts: Timeouts, limit: int
    ) -> AsyncIterator[bytes]:
        """The bytes of an open binary stream (AWS event-stream), idle gaps timed, at most
        ``limit`` bytes in all."""
        chunks = _idle_chunks(resp.content, timeouts.idle, limit, self.provider)
        async for data in self._guarded(chunks, resp, timeouts):
            yield data

    async def _guarded(
        self, items: AsyncIterator[_T], resp: aiohttp.ClientResponse, timeouts: Timeouts
    ) -> AsyncIterator[_T]:
        with _Mapped(self.provider, resp, timeouts) as mapped:
            async for item in items:
                yield item
            mapped.clean = True


class _Mapped:
    """Upstream failures while reading a stream as the error tree; the connection is
    closed on an early exit so the upstream sees the cancel at once."""

    __slots__ = ("clean", "provider", "resp", "timeouts")

    def __init__(self, provider: str, resp: aiohttp.ClientResponse, timeouts: Timeouts) -> None:
        self.provider = provider
        self.resp = resp
        self.timeouts = timeouts
        self.clean = False

    def __enter__(self) -> _Mapped:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        # On an early exit (client gone, error) close the connection so the
        # upstream sees the cancel at once instead of generating on.
        if self.clean:
            self.resp.release()
        else:
            self.resp.close()
        if exc is None or isinstance(exc, UpstreamError):
            return
        if isinstance(exc, TimeoutError):
            raise upstream_timeout(self.provider, "idle", self.timeouts) from None
        if isinstance(exc, (aiohttp.ClientError, OSError)):
            raise UpstreamConnectionError(
                f"{self.provider} upstream dropped the stream: {exc!r}"
            ) from None


async def _idle_chunks(
    content: aiohttp.StreamReader, idle: float | None, limit: int, provider: str
) -> AsyncIterator[bytes]:
    seen = 0
    while True:
        async with asyncio.timeout(idle):
            data = await content.readany()
        if not data:
            return
        seen += len(data)
        if seen > limit:
            raise too_large(provider, limit)
        yield data
