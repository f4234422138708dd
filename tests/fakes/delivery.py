"""Writing a response body piece by piece, misbehaving as a Fault says."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from aiohttp import web

from .faults import Fault

__all__ = ["Delivered", "abort_connection", "deliver"]


class Delivered:
    """How far a delivery got; ``chunks_sent`` is read when the client disconnects."""

    def __init__(self) -> None:
        self.chunks_sent = 0
        self.headers_sent = False


def abort_connection(request: web.BaseRequest) -> None:
    """Close with RST rather than FIN: SO_LINGER 0 makes close() discard and reset."""
    transport = request.transport
    if transport is None:
        return
    sock: Any = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def deliver(
    request: web.Request,
    pieces: list[bytes],
    fault: Fault | None,
    progress: Delivered,
    *,
    content_type: str,
    streaming: bool,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Send ``pieces`` as the body; the fault decides delays, stalls and cut-offs."""
    response = web.StreamResponse(status=status, headers=headers)
    response.content_type = content_type
    if streaming:
        response.headers["Cache-Control"] = "no-cache"
    else:
        response.content_length = sum(len(p) for p in pieces)
    kind = fault.kind if fault else None
    # A cut-off always lands before the end, otherwise it would be no fault at all.
    cut_at = min(fault.after_chunks, len(pieces) - 1) if fault is not None else -1
    await response.prepare(request)  # StreamResponse sends the headers right away
    progress.headers_sent = True
    if fault is not None and kind == "slow_first_chunk":
        await asyncio.sleep(fault.seconds)
    for index, piece in enumerate(pieces):
        if fault is not None and index == cut_at:
            if kind == "stall":
                await asyncio.sleep(fault.seconds)
            elif kind == "reset_mid_body":
                # An RST can overtake unread data in the peer's kernel; give it time to land.
                await asyncio.sleep(0.05)
                abort_connection(request)
                return response
            elif kind == "drop_mid_stream":
                if request.transport is not None:
                    request.transport.close()
                return response
            elif kind == "end_early":
                break
        await response.write(piece)
        progress.chunks_sent += 1
    await response.write_eof()
    return response
