"""In-process cost of the gateway per request: the ASGI app driven directly, mock upstream.

No sockets and no upstream latency: what remains is lockgate's own work per request
(routing, auth, JSON, the pipeline's stages, metrics, the mock provider's answer).

    .venv/bin/python bench/bench_pipeline.py [--n 20000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from typing import Any

import orjson
from asgi_lifespan import LifespanManager

from lockgate.app import create_app
from lockgate.settings import settings_from_mapping

KEY = "sk-bench-local-0001"
MESSAGE = {
    "model": "mock",
    "messages": [
        {
            "role": "user",
            "content": "Summarize the following in one sentence: The quick brown fox jumps "
            "over the lazy dog near the riverbank while the farmer watches from the porch "
            "and the sun slowly sets behind the distant rolling green hills.",
        }
    ],
}
BODY = orjson.dumps(MESSAGE)


def scope(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer " + KEY.encode()),
            (b"content-length", str(len(state["__body"])).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 4000),
        "state": {k: v for k, v in state.items() if k != "__body"},
    }


async def one(app: Any, state: dict[str, Any], body: bytes) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope(state), receive, send)
    return status


async def run(n: int, profile: bool, config: dict[str, Any], body: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = {
            "model_list": [{"model_name": "mock", "params": {"model": "mock/mock-1"}}],
            "general_settings": {
                "master_key": KEY,
                "database_url": f"sqlite+aiosqlite:///{tmp}/b.db",
            },
            **config,
        }
        app = create_app(settings_from_mapping(data, env={}))
        async with LifespanManager(app, startup_timeout=120, shutdown_timeout=120) as manager:
            state = {**manager._state, "__body": body}
            for _ in range(500):
                assert await one(app, state, body) == 200
            prof = cProfile.Profile() if profile else None
            started_cpu, started = time.process_time(), time.perf_counter()
            if prof:
                prof.enable()
            for _ in range(n):
                await one(app, state, body)
            if prof:
                prof.disable()
            cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    print(f"{n} requests: {cpu / n * 1e6:.1f} us CPU per request ({wall / n * 1e6:.1f} us wall)")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(35)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--core-only", action="store_true", help="guardrails' injection screen off")
    ap.add_argument(
        "--core", action="store_true", help="as bench/lockgate.yaml: injection, usage, audit off"
    )
    ap.add_argument(
        "--stream", action="store_true", help="stream: true (the mock sends ~20 chunks)"
    )
    a = ap.parse_args()
    config: dict[str, Any] = {}
    if a.core_only or a.core:
        config["guardrails"] = {"injection": {"mode": "off"}}
    if a.core:
        config["usage"] = {"enabled": False}
        config["audit"] = {"enabled": False}
    body = orjson.dumps({**MESSAGE, "stream": True}) if a.stream else BODY
    asyncio.run(run(a.n, a.profile, config, body))


if __name__ == "__main__":
    main()
