"""The ``server.http`` section: timeouts and limits that protect the listener itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HttpLimits"]


class HttpLimits(BaseModel):
    """What one client may hold of the server before it is cut off.

    Every number bounds something an anonymous client can do without a key, so each one
    is on by default; the defaults suit LLM clients (small headers, bodies of a few MB
    sent at once, pooled keep-alive connections).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: seconds from connection open (or the first byte of a later request) to the end of
    #: the request head; past it the client gets 408 and the socket is closed
    header_timeout: float = Field(default=10.0, gt=0)
    #: seconds from the end of the head to the end of the body (408 past it)
    body_timeout: float = Field(default=60.0, gt=0)
    #: seconds an idle keep-alive connection is kept open between requests
    keep_alive_timeout: float = Field(default=15.0, gt=0)
    #: open connections per process; past it the oldest connection with no request in
    #: flight is closed, and when every one is busy the newcomer gets 503 + Retry-After
    max_connections: int = Field(default=4096, ge=1)
    #: bytes of the request head (request line + headers); 431 past it
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    #: number of request headers; 431 past it
    max_headers: int = Field(default=100, ge=1)
    #: raise the process's soft RLIMIT_NOFILE to the hard limit at start-up
    raise_nofile_limit: bool = True
    #: serve /metrics without a key on this extra port (None: only the main port, master key)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
