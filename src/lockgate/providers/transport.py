"""The one HTTP seam to upstreams: every provider's calls go through ``Transport``.

The hop runs on the lean HTTP/1.1 client of ``http1.py`` (about half aiohttp's CPU
per request, see bench/README.md "Issue 18, session 9"); what that client does not
serve goes to aiohttp (``transport_aiohttp.py``) automatically: a URL carrying
credentials (aiohttp turns them into Basic auth) or another scheme.  Neither
honours proxy variables of the environment (aiohttp's session never had
``trust_env``).  aiohttp is imported only when such a URL is first used.

Errors are the tree's: ``UpstreamConnectionError`` (cannot connect, dropped),
``UpstreamTimeoutError`` (connect, first byte, total, idle gap of a stream),
``UpstreamBadResponseError`` (not HTTP, too large, wrong content type), and
``classify_upstream_failure`` for a 4xx/5xx answer.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from lockgate.errors import (
    BadRequestError,
    UpstreamBadResponseError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
)
from lockgate.providers.base import Timeouts
from lockgate.providers.http1 import (
    Client,
    ConnectFailed,
    Response,
    Timeout,
    TooLarge,
    request_head,
)
from lockgate.resilience.classify import classify_upstream_failure
from lockgate.settings import ProviderName
from lockgate.sse import SSEDecoder

if TYPE_CHECKING:
    from lockgate.providers.transport_aiohttp import AiohttpTransport

__all__ = ["LimitedSSE", "Transport", "too_large", "wire_of", "wrong_type"]

#: bytes of an upstream error body read for its message (the rest is not needed)
_ERROR_BODY_LIMIT = 64 * 1024
ClientName = Literal["lean", "aiohttp"]


def upstream_timeout(provider: str, phase: str, timeouts: Timeouts) -> UpstreamTimeoutError:
    """The error for a deadline of ``phase`` (``connect``, ``first_byte``, ``idle``, else
    total) that passed: one wording for both transports."""
    if phase == "idle":
        text = f"{provider} stream stalled: no data for {timeouts.idle} s"
    elif phase == "first_byte":
        text = f"{provider} upstream did not answer within {timeouts.first_byte} s"
    elif phase == "connect":
        text = f"{provider} upstream: no connection within {timeouts.connect} s"
    else:
        text = f"{provider} upstream did not finish within {timeouts.total} s"
    return UpstreamTimeoutError(text, public=True)


def too_large(provider: str, limit: int) -> UpstreamBadResponseError:
    """502 ``upstream_response_too_large``: the answer passed ``max_response_bytes``."""
    error = UpstreamBadResponseError(
        f"The {provider} upstream's answer exceeded max_response_bytes ({limit} bytes).",
        code="upstream_response_too_large",
        public=True,
    )
    error.force_retry = False  # the same request would bring the same answer
    return error


def wrong_type(provider: str, ctype: str, body: bytes) -> UpstreamBadResponseError:
    """A stream request answered with another content type (an error page, JSON)."""
    return UpstreamBadResponseError(
        f"{provider} upstream answered a stream request with"
        f" {ctype or 'no content type'}: {body[:200].decode('utf-8', 'replace')}"
    )


def wire_of(provider: ProviderName) -> Literal["openai", "anthropic"]:
    """The wire whose error bodies an upstream of ``provider`` sends."""
    return "anthropic" if provider == "anthropic" else "openai"


class Transport:
    """POSTs JSON to upstreams over keep-alive connection pools.

    ``client="aiohttp"`` sends everything through aiohttp (the tests run both);
    ``ssl_context`` replaces the default verifying context (a test CA).
    """

    def __init__(
        self,
        provider: ProviderName,
        max_connections: int = 512,
        *,
        client: ClientName = "lean",
        ssl_context: ssl.SSLContext | None = None,
        keepalive: float = 120.0,
    ) -> None:
        self.provider: ProviderName = provider
        self._max_connections = max_connections
        self._ssl = ssl_context
        self._lean = Client(max_connections, ssl_context, keepalive) if client == "lean" else None
        self._aio: AiohttpTransport | None = None

    @property
    def lean(self) -> Client | None:
        """The lean client (None when everything goes through aiohttp)."""
        return self._lean

    def _aiohttp(self) -> AiohttpTransport:
        if self._aio is None:
            from lockgate.providers.transport_aiohttp import AiohttpTransport

            self._aio = AiohttpTransport(self.provider, self._max_connections, self._ssl)
        return self._aio

    async def aclose(self) -> None:
        if self._lean is not None:
            await self._lean.aclose()
        if self._aio is not None:
            await self._aio.aclose()

    async def _send(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        stream: bool,
        limit: int,
    ) -> Response | None:
        """The answer's head from the lean client (None: the URL is aiohttp's)."""
        lean = self._lean
        target = lean.target(url) if lean is not None else None
        if lean is None or target is None:
            return None
        origin, host, path = target
        try:
            head = request_head(host, path, headers, len(body))
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        try:
            resp = await lean.request(
                origin,
                head,
                body,
                limit=limit,
                connect=timeouts.connect,
                first_byte=timeouts.first_byte,
                total=timeouts.total,
                idle=timeouts.idle,
                stream=stream,
                replayable="idempotency-key" in headers,
            )
        except Timeout as exc:
            raise self._timeout(exc, timeouts) from None
        except ConnectFailed as exc:
            raise UpstreamConnectionError(
                f"cannot connect to {self.provider} upstream: {exc}"
            ) from None
        except OSError as exc:
            raise UpstreamConnectionError(
                f"{self.provider} upstream connection failed before a response: {exc!r}"
            ) from None
        except TooLarge:
            raise too_large(self.provider, limit) from None
        if resp.status >= 400:
            data = await _error_body(resp)
            raise classify_upstream_failure(
                resp.status, resp.headers, data, wire_of(self.provider), now=time.time()
            )
        return resp

    def _timeout(self, exc: Timeout, timeouts: Timeouts) -> UpstreamTimeoutError:
        return upstream_timeout(self.provider, exc.phase, timeouts)

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
        resp = await self._send(url, body, headers, timeouts, False, limit)
        if resp is None:
            return await self._aiohttp().post_json(url, body, headers, timeouts, limit)
        declared = resp.content_length
        if declared is not None and declared > limit:
            resp.close()
            raise too_large(self.provider, limit)
        parts: list[bytes] = []
        seen = 0
        try:
            while True:
                data = resp.read_nowait()
                if not data:
                    if resp.at_eof():
                        break
                    data = await resp.readany()
                    if not data:
                        break
                seen += len(data)
                if seen > limit:
                    raise TooLarge
                parts.append(data)
        except BaseException as exc:
            resp.close()
            raise self._mapped(exc, timeouts, limit, "mid-body") from None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _mapped(
        self, exc: BaseException, timeouts: Timeouts, limit: int, where: str
    ) -> BaseException:
        """A failure while reading a body, as the error tree (others unchanged)."""
        if isinstance(exc, TooLarge):
            return too_large(self.provider, limit)
        if isinstance(exc, Timeout):
            return self._timeout(exc, timeouts)
        if isinstance(exc, OSError):
            return UpstreamConnectionError(
                f"{self.provider} upstream dropped the connection {where}: {exc!r}"
            )
        return exc

    async def open_stream(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        expect: str = "text/event-stream",
        limit: int = 1 << 62,
    ) -> Any:
        """POST a streaming request and return the response once 2xx headers arrived
        (an object for ``events``, ``event_batches`` and ``raw_chunks``)."""
        resp = await self._send(url, body, headers, timeouts, True, limit)
        if resp is None:
            return await self._aiohttp().open_stream(url, body, headers, timeouts, expect)
        ctype = resp.headers.get("content-type", "")
        if expect not in ctype:
            raise wrong_type(self.provider, ctype, await _error_body(resp))
        return resp

    async def events(
        self, resp: Any, timeouts: Timeouts, limit: int
    ) -> AsyncIterator[tuple[str, bytes]]:
        """The SSE events of an open stream, one by one (see ``event_batches``)."""
        batches = self.event_batches(resp, timeouts, limit)
        try:
            async for batch in batches:
                for item in batch:
                    yield item
        finally:
            await batches.aclose()

    async def event_batches(
        self, resp: Any, timeouts: Timeouts, limit: int
    ) -> AsyncGenerator[list[tuple[str, bytes]]]:
        """The SSE events of an open stream, in the batches one network read completed,
        with the idle-gap deadline applied and at most ``limit`` bytes read in all.

        The idle deadline is one timer on the connection, re-armed only when it fires
        (not per read); events that arrived together cost no further waits, and a
        consumer knows which events it may send on together without delaying any.
        """
        if not isinstance(resp, Response):
            batches = self._aiohttp().event_batches(resp, timeouts, limit)
            try:
                async for item in batches:
                    yield item
            finally:
                await batches.aclose()
            return
        cut = LimitedSSE(self.provider, limit)
        clean = False
        try:
            while True:
                data = await self._next(resp, timeouts, limit)
                if not data:
                    break
                batch = cut.feed(data)
                if batch:
                    yield batch
                cut.check()
            batch = cut.close()
            if batch:
                yield batch
            clean = True
        finally:
            if not clean:
                resp.close()  # the upstream sees the cancel at once

    async def _next(self, resp: Response, timeouts: Timeouts, limit: int) -> bytes:
        """The stream's next bytes (``b""`` at its end), failures as the error tree."""
        try:
            data = resp.read_nowait()  # what already arrived: no wait
            if data or resp.at_eof():
                return data
            return await resp.readany()
        except (TooLarge, Timeout, OSError) as exc:
            raise self._mapped(exc, timeouts, limit, "mid-stream") from None

    async def raw_chunks(self, resp: Any, timeouts: Timeouts, limit: int) -> AsyncIterator[bytes]:
        """The bytes of an open binary stream (AWS event-stream), idle gaps timed, at most
        ``limit`` bytes in all."""
        if not isinstance(resp, Response):
            async for item in self._aiohttp().raw_chunks(resp, timeouts, limit):
                yield item
            return
        seen = 0
        clean = False
        try:
            while True:
                data = await self._next(resp, timeouts, limit)
                if not data:
                    break
                seen += len(data)
                if seen > limit:
                    raise too_large(self.provider, limit)
                yield data
            clean = True
        finally:
            if not clean:
                resp.close()


class LimitedSSE:
    """SSE events decoded from network reads, at most ``limit`` bytes in all: the events
    within the limit are handed out, then ``check`` raises 502 too large."""

    __slots__ = ("decoder", "limit", "over", "provider", "seen")

    def __init__(self, provider: str, limit: int) -> None:
        self.decoder = SSEDecoder()
        self.provider = provider
        self.limit = limit
        self.seen = 0
        self.over = False

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        seen = self.seen = self.seen + len(data)
        if seen > self.limit:
            self.over = True
            data = data[: len(data) - (seen - self.limit)]
        return self.decoder.feed(data)

    def check(self) -> None:
        if self.over:
            raise too_large(self.provider, self.limit)

    def close(self) -> list[tuple[str, bytes]]:
        return self.decoder.close()


async def _error_body(resp: Response) -> bytes:
    """Up to ``_ERROR_BODY_LIMIT`` bytes of an answer that is not used (the connection
    is closed if more follows)."""
    parts: list[bytes] = []
    seen = 0
    try:
        while seen < _ERROR_BODY_LIMIT:
            data = await resp.readany()
            if not data:
                break
            parts.append(data)
            seen += len(data)
    except (OSError, TimeoutError, TooLarge):
        pass
    finally:
        resp.release()
    return b"".join(parts)[:_ERROR_BODY_LIMIT]
