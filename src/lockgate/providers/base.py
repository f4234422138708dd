"""The provider seam: one small Protocol every upstream implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lockgate.chat import ChatRequest, ChatResponse, ChatStream
from lockgate.resilience.deadline import Timeouts
from lockgate.settings import Deployment

__all__ = ["Provider", "StreamHandle", "Timeouts"]


@dataclass(slots=True)
class StreamHandle:
    """An upstream stream whose response headers have arrived and were 2xx."""

    chunks: ChatStream


class Provider(Protocol):
    """An upstream speaking one wire protocol.

    Providers raise only ``lockgate.errors.UpstreamError`` subclasses, and know
    nothing of caching, limits or guards.
    """

    name: str

    async def chat(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> ChatResponse: ...

    async def stream(
        self, request: ChatRequest, deployment: Deployment, timeouts: Timeouts
    ) -> StreamHandle:
        """Send the request and wait for 2xx headers; failures before then raise."""
        ...

    async def embed(
        self, body: dict[str, Any], deployment: Deployment, timeouts: Timeouts
    ) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...
