"""The fast lane writes the whole answers finished in one pass of the loop together,
after that pass (``FastLane.answer_soon``): a client on the same host (a load generator,
a proxy) then reads several per wake-up instead of sleeping and waking once per answer.

A real uvicorn server with lockgate's protocol in the test's own loop; the hot route's
endpoint waits on a gate, so every request's answer is finished in the same pass once
the gate opens, and a probe scheduled right after that pass's tasks looks at the
clients' sockets.
"""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from lockgate.server import PROTOCOL
from lockgate.serving.fastlane import _BATCH, FAST_LANE_STATE_KEY, FastLane

WAIT = 30.0  # bound on every wait below


@dataclass
class Gate:
    """The hot route's endpoint: each request waits until the gate opens."""

    opened: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    waiting: int = 0

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        async with self.arrived:
            self.waiting += 1
            self.arrived.notify_all()
        await self.opened.wait()
        return Response(b"answer to " + body, media_type="text/plain")

    async def until_waiting(self, count: int) -> None:
        async with asyncio.timeout(WAIT), self.arrived:
            await self.arrived.wait_for(lambda: self.waiting >= count)


@asynccontextmanager
async def serving(gate: Gate) -> AsyncIterator[int]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        yield {FAST_LANE_STATE_KEY: FastLane({"/hot": gate.endpoint})}

    config = uvicorn.Config(
        Starlette(lifespan=lifespan),
        host="127.0.0.1",
        port=0,
        http=PROTOCOL,
        lifespan="on",
        access_log=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup()
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(server.shutdown(), WAIT)


def _request(n: int) -> bytes:
    body = b"request %d" % n
    head = b"POST /hot HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n\r\n" % len(body)
    return head + body


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock.fileno()], [], [], 0)[0])


async def _answer(sock: socket.socket) -> bytes:
    """One whole answer (a content-length body) from ``sock``."""
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(WAIT):
        while True:
            chunk = await loop.sock_recv(sock, 4096)
            assert chunk, "closed before the answer"
            data += chunk
            head, blank, body = data.partition(b"\r\n\r\n")
            sizes = [ln for ln in head.split(b"\r\n") if ln.startswith(b"content-length:")]
            if blank and sizes and len(body) >= int(sizes[0].split(b":")[1]):
                return data


async def _one_pass(n: int, probe: Callable[[list[socket.socket]], object]) -> list[bytes]:
    """``n`` requests on ``n`` kept-alive connections, answered in one pass of the loop;
    ``probe`` called right after that pass's tasks; the answers."""
    gate = Gate()
    async with serving(gate) as port:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(n)]
        try:
            for i, sock in enumerate(socks):
                sock.sendall(_request(i))
                sock.setblocking(False)
            await gate.until_waiting(n)
            gate.opened.set()
            # Runs after every waiting endpoint's task has resumed and finished its
            # answer, before the write the first of them scheduled.
            asyncio.get_running_loop().call_soon(probe, socks)
            answers = [await _answer(sock) for sock in socks]
            # each connection is still open (kept alive) and answers again
            gate.opened.clear()
            socks[0].sendall(_request(99))
            await gate.until_waiting(n + 1)
            gate.opened.set()
            assert (await _answer(socks[0])).endswith(b"answer to request 99")
            return answers
        finally:
            for sock in socks:
                sock.close()


async def test_answers_finished_in_one_pass_are_written_after_it_together() -> None:
    seen: list[list[bool]] = []
    answers = await _one_pass(3, lambda socks: seen.append([_readable(s) for s in socks]))
    assert seen == [[False, False, False]]  # nothing written during the pass
    for i, answer in enumerate(answers):
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"\r\n\r\nanswer to request %d" % i)


async def test_a_full_batch_of_answers_is_written_at_once() -> None:
    """Past ``_BATCH`` answers in one pass, the first batch does not wait for the pass."""
    n = _BATCH + 2
    seen: list[int] = []
    answers = await _one_pass(n, lambda socks: seen.append(sum(map(_readable, socks))))
    assert seen == [_BATCH]  # the full batch went out; the last two waited for the pass
    assert [a.rpartition(b"\r\n\r\n")[2] for a in answers] == [
        b"answer to request %d" % i for i in range(n)
    ]
