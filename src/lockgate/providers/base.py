"""The provider seam: one small Protocol every upstream implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lockgate.chat import ChatRequest, ChatResponse, ChatStream
from lockgate.settings import Deployment

__all__ = ["AttemptTimeouts", "Provider", "StreamHandle"]


@dataclass(frozen=True, slots=True)
class AttemptTimeouts:
    """Time limits of one upstream attempt, in seconds."""

    connect: float = 10.0
    #: from sending the request to the response headers (and, streaming, the first chunk)
    first_byte: float = 600.0
    #: longest quiet gap between two stream chunks
    idle: float = 600.0
    #: the whole attempt
    total: float = 600.0


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
        self, request: ChatRequest, deployment: Deployment, timeouts: AttemptTimeouts
    ) -> ChatResponse: ...

    async def stream(
        self, request: ChatRequest, deployment: Deployment, timeouts: AttemptTimeouts
    ) -> StreamHandle:
        """Send the request and wait for 2xx headers; failures before then raise."""
        ...

    async def embed(
        self, body: dict[str, Any], deployment: Deployment, timeouts: AttemptTimeouts
    ) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...
