"""CPU of the HTTP layer alone per request: lockgate's protocol, fast lane vs ASGI.

One ``GuardedHttpProtocol`` on a transport that only collects what is written; each
request's bytes go in through ``data_received`` and the loop runs until the answer is
out.  The endpoint answers at once with a fixed JSON ``Response`` (the shape and headers
of a chat answer), so what is measured is parsing, the hand-over to the endpoint and
writing the answer, with no socket, no pipeline and no upstream.  Three ways, in
alternating blocks: the fast lane (``server.fast_lane: true``), the same endpoint
behind the ASGI app (``_HotPaths``, the ``fast_lane: false`` path) and a bare Starlette
app on uvicorn's own httptools protocol (the bare proxy's server stack).

    .venv/bin/python bench/bench_http_layer.py [--n 20000] [--blocks 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson
import uvloop
from ratio_ci import ci
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from lockgate.api.common import json_response
from lockgate.app import _HotPaths
from lockgate.serving.fastlane import FAST_LANE_STATE_KEY, FastLane
from lockgate.serving.protocol import GuardedHttpProtocol

BODY = orjson.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there, how are you?"}]}
)
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:4000\r\n"
    b"Authorization: Bearer sk-bench-local-0001\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%b" % (len(BODY), BODY)
)
ANSWER = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help?"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
}
HEADERS = {
    "x-request-id": "req_0123456789ab0000000001",
    "x-lockgate-overhead-ms": "0.123",
    "x-lockgate-upstream-ms": "1.234",
    "x-lockgate-model": "gpt-4o-mini",
    "x-lockgate-provider": "openai",
    "x-lockgate-deployment": "gpt-4o-mini-0",
}


async def endpoint(request: Request) -> Response:
    body = await request.body()
    assert body == BODY
    return json_response(ANSWER, headers=HEADERS)


class Sink(asyncio.Transport):
    """A transport that keeps count of what was written."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = 0
        self.closed = False
        self.answered = asyncio.Event()

    def write(self, data: Any) -> None:
        if b"HTTP/1.1 200" in bytes(data)[:16]:
            self.answers += 1
            self.answered.set()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 4000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False


def protocol(kind: str) -> tuple[asyncio.Protocol, Sink]:
    state: dict[str, Any] = {}
    if kind == "bare-uvicorn":
        app: Any = Starlette(routes=[Route("/v1/chat/completions", endpoint, methods=["POST"])])
        cls: type[HttpToolsProtocol] = HttpToolsProtocol
    else:
        app = _HotPaths(Starlette(), {"/v1/chat/completions": endpoint})
        cls = GuardedHttpProtocol
        if kind == "fast-lane":
            state[FAST_LANE_STATE_KEY] = FastLane({"/v1/chat/completions": endpoint})
    config = Config(app, http=cls, lifespan="off", access_log=False, log_level="warning")
    config.load()
    server_state = ServerState()
    date = (b"date", b"Sun, 29 Nov 2026 15:00:00 GMT")
    server_state.default_headers = [date, *config.encoded_headers]
    proto = cls(config, server_state, state, asyncio.get_running_loop())
    sink = Sink()
    proto.connection_made(sink)
    return proto, sink


async def block(kind: str, n: int) -> float:
    proto, sink = protocol(kind)
    started = time.process_time()
    for _ in range(n):
        sink.answered.clear()
        proto.data_received(REQUEST)
        await sink.answered.wait()
    spent = time.process_time() - started
    assert sink.answers == n and not sink.closed
    return spent / n * 1e6


async def main(n: int, blocks: int) -> None:
    kinds = ["fast-lane", "asgi", "bare-uvicorn"]
    for kind in kinds:
        await block(kind, 2000)  # warm-up
    results: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(blocks):
        for kind in kinds if i % 2 == 0 else reversed(kinds):
            results[kind].append(await block(kind, n))
    for kind, values in results.items():
        print(f"{kind:13s} {ci(values)} us CPU per request (n={len(values)} blocks of {n})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--blocks", type=int, default=5)
    a = ap.parse_args()
    uvloop.run(main(a.n, a.blocks))
