"""Probe a fresh `lockgate serve` (default limits) with the connection-abuse set.

    .venv/bin/python bench/probe_abuse.py [--port 15997]

Starts the gateway with a mock model on loopback, then sends an 8 MB header, 10,000
headers, a head at 1 byte per 2 s, a head with a silent body, a silent socket and an idle
keep-alive socket, printing for each the first response line, "closed" or "no answer".
Run it against another checkout with PYTHONPATH=<checkout>/src for a before/after.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

MASTER = b"sk-master-probe-0001"
BODY = b'{"model":"mock","messages":[{"role":"user","content":"hi"}]}'
AUTH = b"authorization: Bearer " + MASTER + b"\r\n"


def request(extra: bytes = b"") -> bytes:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n" + AUTH + extra
    return head + b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(BODY) + BODY


def first_line(s: socket.socket, wait: float) -> str:
    s.settimeout(wait)
    try:
        data = s.recv(200)
    except TimeoutError:
        return f"no answer after {wait:.0f} s"
    except ConnectionError as exc:
        return repr(exc)
    return data.split(b"\r\n")[0].decode() if data else "closed"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=15997)
    port = ap.parse_args().port
    work = Path(tempfile.mkdtemp(prefix="lockgate-probe-"))
    config = work / "c.yaml"
    general = {"master_key": MASTER.decode(), "database_url": f"sqlite+aiosqlite:///{work}/db.db"}
    mock = [{"model_name": "mock", "params": {"model": "mock/mock-1"}}]
    config.write_text(yaml.safe_dump({"model_list": mock, "general_settings": general}))
    cmd = [sys.executable, "-m", "lockgate", "serve", "-c", str(config), "--port", str(port)]
    gw = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)

        def conn() -> socket.socket:
            return socket.create_connection(("127.0.0.1", port))

        s = conn()
        try:
            s.sendall(request(b"x-big: " + b"a" * (8 * 1024 * 1024) + b"\r\n"))
            print("8 MB header:", first_line(s, 20))
        except OSError as exc:
            print("8 MB header:", repr(exc))
        s = conn()
        s.sendall(request(b"".join(b"x-h%d: 1\r\n" % i for i in range(10_000))))
        print("10,000 headers:", first_line(s, 20))
        s = conn()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        started = time.monotonic()
        for _ in range(8):
            time.sleep(2)
            try:
                s.send(b"x")
            except OSError:
                break
        line = first_line(s, 1)
        print(f"slow head, 1 byte / 2 s: {line} at {time.monotonic() - started:.0f} s")
        s = conn()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n" + AUTH)
        s.sendall(b"content-length: 100\r\n\r\n{")
        print("head sent, body silent:", first_line(s, 70))
        print("silent socket:", first_line(conn(), 20))
        s = conn()
        s.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        s.recv(1000)
        print("idle keep-alive after a response:", first_line(s, 20))
    finally:
        gw.terminate()
        gw.wait(timeout=20)


if __name__ == "__main__":
    main()
