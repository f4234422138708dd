"""The one HTTP seam of the callbacks: POST a body, get a status (or an exception)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpPoster", "Poster"]


class Poster(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body``; the response status (raises on connection errors and timeouts)."""
        ...

    async def aclose(self) -> None: ...


class AiohttpPoster:
    """A pooled aiohttp session, opened on first use (inside the running loop)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=8),
            )
        async with self._session.post(url, data=body, headers=dict(headers)) as resp:
            await resp.read()
            return resp.status

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
