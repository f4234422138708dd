"""A chunked upload to /v1/files (no Content-Length) is cut off once it passes the file
limit, not spooled to disk to the end and refused after: one caller could otherwise fill
the disk the database shares with every tenant."""

from __future__ import annotations

import select
import socket
import time
from urllib.parse import urlsplit

from tests.e2e.conftest import GatewayFactory, model_list
from tests.fakes import ThreadedFake
from tests.support import MASTER

LIMIT = 1 << 20  # batches.max_file_bytes in this test
CHUNK = 64 * 1024
MOST = 64 << 20  # what the client is willing to send


def _answer_ready(sock: socket.socket) -> bool:
    ready, _, _ = select.select([sock], [], [], 0)
    return bool(ready)


def test_a_chunked_upload_is_refused_once_it_passes_the_limit(
    gateway_factory: GatewayFactory, fake: ThreadedFake
) -> None:
    gw = gateway_factory(model_list(fake), batches={"max_file_bytes": LIMIT})
    url = urlsplit(gw.url)
    head = (
        "POST /v1/files HTTP/1.1\r\n"
        f"host: {url.hostname}\r\n"
        f"authorization: Bearer {MASTER}\r\n"
        "content-type: multipart/form-data; boundary=XyZ\r\n"
        "transfer-encoding: chunked\r\n\r\n"
    ).encode()
    preamble = (
        b'--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    data = b"x" * CHUNK
    sent = 0
    answered_after: int | None = None
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(preamble), preamble))
        deadline = time.monotonic() + 120
        while sent < MOST and time.monotonic() < deadline:  # bounded in bytes and time
            if _answer_ready(sock):
                answered_after = sent
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
            except (BrokenPipeError, ConnectionResetError):
                break  # the server stopped reading: the answer is waiting
            sent += len(data)
        if answered_after is None:
            answered_after = sent
            if sent >= MOST:  # all sent: end the body so a server that reads it all answers
                end = b"\r\n--XyZ--\r\n"
                sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(end), end))
        answer = b""
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # socket buffers on loopback hold a few MiB; the server read little more than the limit
    assert answered_after < 24 * LIMIT, answered_after
