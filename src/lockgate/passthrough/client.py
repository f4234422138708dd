"""The pass-through's HTTP client: one pooled aiohttp session, errors mapped to the tree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lockgate.errors import UpstreamConnectionError, UpstreamTimeoutError

if TYPE_CHECKING:  # aiohttp (~5 MiB resident) loads with the first relayed request
    import aiohttp

__all__ = ["PassthroughClient"]


class PassthroughClient:
    """Sends one relayed request; every upstream status comes back as it is."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def send(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], limit_s: float
    ) -> aiohttp.ClientResponse:
        """The upstream's response with its headers read; the caller releases it."""
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        try:
            return await self._session.request(
                method,
                url,
                data=body or None,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=limit_s),
            )
        except TimeoutError:
            raise UpstreamTimeoutError(f"the upstream did not answer within {limit_s} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamConnectionError(f"cannot reach the upstream: {exc!r}") from None

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
