"""The fast lane (``server.fast_lane``) answers the hot routes as the ASGI path does.

Two real gateways in front of one fake provider, one serving the hot routes from its
own protocol (serving/fastlane.py), one through ASGI (``fast_lane: false``).  Each
request below is sent byte for byte the same to both over a raw socket; the answers
must agree in status, header names and order, header values (but for the per-request
ones: date, request id, timings) and body (but for the fake's ids and timestamps):
whole answers, errors, streams, HTTP/1.0, ``Expect: 100-continue``, pipelined
requests, ``connection: close`` and an oversized body.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httptools
import orjson
import pytest
from tests.e2e.conftest import model_list
from tests.fakes import ThreadedFake, start_in_thread
from tests.live_server import LiveGateway, serve_in_thread
from tests.support import MASTER

from lockgate.serving.protocol import GuardedHttpProtocol
from lockgate.settings import settings_from_mapping

WAIT = 30.0  # bound on any single socket read
#: headers whose values differ between any two requests
VARYING = {b"date", b"x-request-id", b"x-lockgate-overhead-ms", b"x-lockgate-upstream-ms"}
#: the fake's per-answer ids and clocks, and the gateway's request ids in bodies
_IDS = re.compile(rb'"(chatcmpl-fake|msg_|req_|toolu_)[0-9A-Za-z_]*"|"created":\d+')
CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    http_version: bytes = b"1.1"
    interim: tuple[int, ...] = ()

    def meaning(self) -> tuple[Any, ...]:
        headers = [(n, b"*" if n in VARYING else v) for n, v in self.headers]
        return self.status, self.http_version, self.interim, headers, _IDS.sub(b"*", self.body)


def request(
    path: str,
    body: bytes,
    *,
    key: str = MASTER,
    version: str = "1.1",
    extra: tuple[str, ...] = (),
    method: str = "POST",
) -> bytes:
    lines = [
        f"{method} {path} HTTP/{version}",
        "host: gw",
        f"authorization: Bearer {key}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Reader:
    """httptools' response parser collecting the answers on one connection."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.answers: list[Answer] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._body = b""
        self._interim: list[int] = []

    def on_message_begin(self) -> None:
        self._headers, self._body = [], b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self._interim.append(status)
            return
        version = self.parser.get_http_version().encode()
        answer = Answer(status, self._headers, self._body, version, tuple(self._interim))
        self.answers.append(answer)
        self._interim = []


def read_answers(sock: socket.socket, count: int) -> tuple[list[Answer], bool]:
    """``count`` answers from ``sock``; and whether the server closed the socket after."""
    reader = _Reader()
    while len(reader.answers) < count:
        data = sock.recv(65536)
        assert data, f"closed after {len(reader.answers)} of {count} answers"
        reader.parser.feed_data(data)
    # Every answer is in: does the server close, or keep the connection open?
    sock.settimeout(0.5)
    try:
        data = sock.recv(65536)
    except TimeoutError:
        return reader.answers, False
    assert data == b"", f"bytes after the last answer: {data[:200]!r}"
    return reader.answers, True


def exchange(
    gw: LiveGateway, data: bytes, *, count: int = 1, after_100: bytes | None = None
) -> tuple[list[Answer], bool]:
    """Send ``data`` (and, once "100 Continue" came, ``after_100``); read the answers."""
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(data)
        interim = ()
        if after_100 is not None:
            assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
            interim = (100,)
            sock.sendall(after_100)
        answers, closed = read_answers(sock, count)
    for answer in answers[:1]:
        answer.interim = interim + answer.interim
    return answers, closed


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFake]:
    with start_in_thread() as fake:
        yield fake


@pytest.fixture(scope="module")
def pair(
    fake: ThreadedFake, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[bool, LiveGateway]]:
    gateways: dict[bool, LiveGateway] = {}
    with ExitStack() as stack:
        for fast in (True, False):
            db: Path = tmp_path_factory.mktemp("fast" if fast else "asgi") / "gw.db"
            data = {
                "model_list": model_list(fake),
                "router_settings": {"num_retries": 0},
                "general_settings": {
                    "master_key": MASTER,
                    "database_url": f"sqlite+aiosqlite:///{db}",
                    "max_chat_body_bytes": 1_000_000,
                },
                "server": {"fast_lane": fast},
            }
            gateways[fast] = stack.enter_context(
                serve_in_thread(settings_from_mapping(data, env={}))
            )
        yield gateways


def stream_body(model: str = "gpt-4o-mini", **extra: object) -> bytes:
    messages = [{"role": "user", "content": "tell me a story"}]
    return orjson.dumps({"model": model, "messages": messages, "stream": True, **extra})


MESSAGES = orjson.dumps(
    {
        "model": "claude-haiku",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }
)
EMBED = orjson.dumps({"model": "gpt-4o-mini", "input": ["one", "two"]})

CASES: dict[str, tuple[bytes, int, bytes | None]] = {
    "chat": (request("/v1/chat/completions", CHAT), 1, None),
    "chat without /v1": (request("/chat/completions", CHAT), 1, None),
    "bad key": (request("/v1/chat/completions", CHAT, key="sk-wrong"), 1, None),
    "malformed json": (request("/v1/chat/completions", b"{nope"), 1, None),
    "unknown model": (
        request("/v1/chat/completions", CHAT.replace(b"gpt-4o-mini", b"gpt-nope")),
        1,
        None,
    ),
    "body too large": (request("/v1/chat/completions", b" " * 1_000_001 + CHAT), 1, None),
    "a control character in a header": (
        request("/v1/chat/completions", CHAT, extra=("x-request-id: a\x01b",)),
        1,
        None,
    ),
    "stream": (request("/v1/chat/completions", stream_body()), 1, None),
    "stream with usage": (
        request("/v1/chat/completions", stream_body(stream_options={"include_usage": True})),
        1,
        None,
    ),
    "messages": (request("/v1/messages", MESSAGES), 1, None),
    "messages stream": (
        request("/v1/messages", MESSAGES.replace(b'"max_tokens"', b'"stream":true,"max_tokens"')),
        1,
        None,
    ),
    "embeddings": (request("/v1/embeddings", EMBED), 1, None),
    "http/1.0": (request("/v1/chat/completions", CHAT, version="1.0"), 1, None),
    "http/1.0 stream": (request("/v1/chat/completions", stream_body(), version="1.0"), 1, None),
    "connection close": (
        request("/v1/chat/completions", CHAT, extra=("connection: close",)),
        1,
        None,
    ),
    "pipelined": (
        request("/v1/chat/completions", CHAT)
        + request("/v1/chat/completions", stream_body())
        + request("/v1/models", b"", method="GET")
        + request("/v1/messages", MESSAGES),
        4,
        None,
    ),
    "expect 100-continue": (
        request("/v1/chat/completions", b"", extra=("expect: 100-continue",)).replace(
            b"content-length: 0", f"content-length: {len(CHAT)}".encode()
        ),
        1,
        CHAT,
    ),
    "expect 100-continue, refused key": (
        request("/v1/chat/completions", b"", key="sk-wrong", extra=("expect: 100-continue",)),
        1,
        None,
    ),
    "not a hot route": (request("/v1/models", b"", method="GET"), 1, None),
    "a hot path, not its method": (request("/v1/chat/completions", b"", method="GET"), 1, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fast_lane_answers_like_the_asgi_path(pair: dict[bool, LiveGateway], case: str) -> None:
    data, count, after_100 = CASES[case]
    fast, fast_closed = exchange(pair[True], data, count=count, after_100=after_100)
    asgi, asgi_closed = exchange(pair[False], data, count=count, after_100=after_100)
    assert [a.meaning() for a in fast] == [a.meaning() for a in asgi]
    assert fast_closed == asgi_closed
    # the cases say something: each answer is what the case asks for
    statuses = [a.status for a in fast]
    names = {n for a in fast for n, _ in a.headers}
    assert b"date" in names and b"server" in names
    if "stream" in case:
        assert b"transfer-encoding" in {n for n, _ in fast[0].headers}
        assert fast[0].body.count(b"data: ") >= 3
    expected = {
        "bad key": [401],
        "malformed json": [400],
        "unknown model": [404],
        "body too large": [413],
        "expect 100-continue, refused key": [401],
        "a hot path, not its method": [405],
        "a control character in a header": [400],
    }.get(case, [200] * count)
    assert statuses == expected
    if case.startswith(("http/1.0", "connection close")):
        assert fast_closed and (b"connection", b"close") in fast[0].headers
    if case == "expect 100-continue":
        assert fast[0].interim == (100,)


@pytest.mark.parametrize("fast", [True, False])
def test_hot_routes_take_the_fast_lane_only_when_it_is_on(
    pair: dict[bool, LiveGateway], fast: bool
) -> None:
    gw = pair[fast]
    assert gw.server is not None
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(request("/v1/models", b"", method="GET"))
        read_answers(sock, 1)
        served = [p for p in gw.server.server_state.connections if p.cycle is not None]
        assert len(served) == 1 and isinstance(served[0], GuardedHttpProtocol)
        assert served[0]._exchange is None  # a GET goes to the ASGI app
        sock.sendall(request("/v1/chat/completions", CHAT))
        (answer,), closed = read_answers(sock, 1)
        assert answer.status == 200 and not closed
        assert (served[0]._exchange is not None) is fast


def test_a_stream_to_a_slow_reader_arrives_whole(pair: dict[bool, LiveGateway]) -> None:
    """A client that does not read while a long stream is written (the gateway's write
    buffer fills and it waits, pause/resume writing) still gets every event, in order."""
    # ~30,000 events, ~8 MB: more than the client's small window and the gateway's
    # socket buffer hold
    words = [f"{i % 10}" for i in range(30_000)]
    body = orjson.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": " ".join(words)}],
            "stream": True,
        }
    )
    bodies = {}
    for fast, gw in pair.items():
        port = int(gw.url.rsplit(":", 1)[1])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        sock.settimeout(WAIT)
        with sock:
            sock.connect(("127.0.0.1", port))
            sock.sendall(request("/v1/chat/completions", body))
            time.sleep(1.0)  # not read meanwhile: the answer piles up on the gateway's side
            # (whether the socket stays open is not asked: reading ~8 MB through a 4 KiB
            # window can outlast the keep-alive timeout on a loaded machine)
            (answer,), _ = read_answers(sock, 1)
        assert answer.status == 200
        bodies[fast] = answer.body
        text = "".join(
            (orjson.loads(line[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
            for line in answer.body.split(b"\n\n")
            if line.startswith(b"data: {")
        )
        assert text == " ".join(["echo:", *words])
        assert answer.body.endswith(b"data: [DONE]\n\n")
    assert _IDS.sub(b"*", bodies[True]) == _IDS.sub(b"*", bodies[False])


@pytest.mark.parametrize("fast", [True, False])
def test_a_trusted_proxys_forwarded_client_is_the_client(
    fake: ThreadedFake, tmp_path: Path, fast: bool
) -> None:
    """Behind a proxy on 127.0.0.1 (uvicorn's default trusted host), X-Forwarded-For names
    the client on both paths: per-IP limits count the forwarded address, not the proxy's."""
    data = {
        "model_list": model_list(fake),
        "general_settings": {
            "master_key": MASTER,
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/gw.db",
        },
        "limits": {"per_ip": {"requests": "1/hour"}},
        "server": {"fast_lane": fast},
    }
    with serve_in_thread(settings_from_mapping(data, env={})) as gw:

        def status(forwarded: str) -> int:
            extra = (f"x-forwarded-for: {forwarded}",)
            (answer,), _ = exchange(gw, request("/v1/chat/completions", CHAT, extra=extra))
            return answer.status

        assert [status("203.0.113.1"), status("203.0.113.2"), status("203.0.113.1")] == [
            200,
            200,
            429,
        ]
