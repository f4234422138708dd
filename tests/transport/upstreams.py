"""Scripted HTTP/1.1 upstreams on 127.0.0.1 for the transport tests: every answer is
written byte by byte by the test, so framing, closes, stalls and resets are exact."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Answer", "Received", "ScriptedUpstream", "chunked", "http_answer", "reset"]


@dataclass(slots=True)
class Received:
    """One request as the upstream read it."""

    conn: int  # which connection (0, 1, ...) in the order accepted
    nth: int  # its place on that connection (0 = first)
    head: bytes
    body: bytes
    n: int  # its place among all requests the upstream read (0 = first)

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.encode():
                return value.strip().decode()
        return None


#: writes the answer to one request; returns False to stop reading that connection
Answer = Callable[[Received, asyncio.StreamWriter], Awaitable[bool]]


def http_answer(
    body: bytes,
    status: int = 200,
    headers: dict[str, str] | None = None,
    length: bool = True,
) -> bytes:
    """A whole answer's bytes (``length=False``: no content-length, close-delimited)."""
    lines = [f"HTTP/1.1 {status} X"]
    for key, value in {"content-type": "application/json", **(headers or {})}.items():
        lines.append(f"{key}: {value}")
    if length:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(*parts: bytes) -> bytes:
    """A chunked body of ``parts`` with its last chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class ScriptedUpstream:
    """``answer`` is called for every request; ``received`` and ``peak`` are for asserts."""

    answer: Answer
    ssl_context: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    open_now: int = 0
    peak: int = 0
    connections: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> ScriptedUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, path: str = "/v1/chat/completions") -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = self.connections
        self.connections += 1
        self.open_now += 1
        self.peak = max(self.peak, self.open_now)
        try:
            nth = 0
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                got = Received(conn, nth, head, body, len(self.received))
                self.received.append(got)
                nth += 1
                if not await self.answer(got, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # a test server: its end at teardown is not an error
        finally:
            self.open_now -= 1
            if not writer.transport.is_closing():
                writer.transport.abort()
