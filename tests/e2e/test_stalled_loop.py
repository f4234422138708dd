"""A stalled gateway does not punish the clients whose bytes arrived in time.

uvloop runs due timers before it reads sockets, so after a stall of the event loop (a GC
pause, a starved CPU, a slow callback) the request-head deadline would fire before the
request that arrived within it is read, and the connection would be closed as idle.  The
gateway (uvloop, as ``lockgate serve`` runs it) is kept busy past its 1 s head deadline
by a callback the test schedules on its loop, while a client sends a whole request: the
request is served.  A socket that stays silent through the stall is still closed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tests.e2e.conftest import model_list
from tests.fakes import ThreadedFake
from tests.live_server import LiveGateway, serve_in_thread
from tests.support import MASTER

from lockgate.settings import settings_from_mapping

STALL = 1.6  # seconds the gateway's loop is kept busy: past the 1 s head deadline
WAIT = 15.0


@pytest.fixture(scope="module")
def gw(
    fake_server: ThreadedFake, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    db: Path = tmp_path_factory.mktemp("stall") / "gw.db"
    data = {
        "model_list": model_list(fake_server),
        "general_settings": {"master_key": MASTER, "database_url": f"sqlite+aiosqlite:///{db}"},
        "server": {"http": {"header_timeout": 1.0, "body_timeout": 1.0}},
    }
    with serve_in_thread(settings_from_mapping(data, env={}), loop="uvloop") as live:
        yield live


def request() -> bytes:
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n"
        b"content-type: application/json\r\nauthorization: Bearer " + MASTER.encode()
    )
    return head + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body


def stalled_while(gw: LiveGateway, sock: socket.socket, data: bytes) -> None:
    """Accepted by the gateway, whose loop is then busy past its deadline while ``data`` is sent."""
    assert gw.loop is not None
    time.sleep(0.3)  # the gateway accepts (and arms its 1 s head deadline)
    gw.loop.call_soon_threadsafe(time.sleep, STALL)  # blocks the gateway's loop
    time.sleep(0.1)
    if data:
        sock.sendall(data)
    time.sleep(STALL)


def answer(sock: socket.socket) -> bytes:
    sock.settimeout(WAIT)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_request_sent_during_a_stall_is_served(gw: LiveGateway) -> None:
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        stalled_while(gw, sock, request())
        reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert b"chat.completion" in reply


def test_silent_socket_is_still_closed_after_a_stall(gw: LiveGateway) -> None:
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        stalled_while(gw, sock, b"")
        assert answer(sock) == b""  # closed without a word, not left open
