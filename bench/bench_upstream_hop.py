"""CPU of the upstream hop alone: the provider Transport's POST against the nginx mock.

    python bench/bench_upstream_hop.py --url http://127.0.0.1:PORT [--n 4000] [--conc 8]
        [--rounds 6] [--clients lean,aiohttp] [--stream] [--uvloop]

Each round runs every client in turn (order rotated each round) for ``n`` requests with
``conc`` concurrent tasks, on one event loop, and records the process CPU (user + sys)
per request; nginx runs in its own process and is not counted.  Prints per-client mean
µs/request with a 95% t interval over the rounds, and the paired difference/ratio to the
first client.  ``lean`` is ``Transport`` (http1.py), ``aiohttp`` the same seam through
aiohttp (``AiohttpTransport``, the hop before session 9); ``aiosonic`` and
``pyreqwest`` (if importable) call those libraries directly, for the choice of client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from ratio_ci import ci as _ci  # bench/ is the script's path

from lockgate.providers.base import Timeouts
from lockgate.providers.transport import Transport
from lockgate.providers.transport_aiohttp import AiohttpTransport

BODY = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in one word."}]}
).encode()
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
LIMIT = 16 * 1024 * 1024
TIMEOUTS = Timeouts()

Call = Callable[[], Awaitable[int]]


async def _make(name: str, url: str, stream: bool) -> tuple[Call, Callable[[], Awaitable[None]]]:
    if name in ("lean", "aiohttp"):
        t: Transport | AiohttpTransport = (
            Transport("openai", 512) if name == "lean" else AiohttpTransport("openai", 512)
        )
        if stream:

            async def call() -> int:
                resp = await t.open_stream(url, BODY, HEADERS, TIMEOUTS)
                n = 0
                async for batch in t.event_batches(resp, TIMEOUTS, LIMIT):
                    n += len(batch)
                return n

        else:

            async def call() -> int:
                return len(await t.post_json(url, BODY, HEADERS, TIMEOUTS, LIMIT))

        return call, t.aclose
    if name == "aiosonic":
        import aiosonic  # type: ignore[import-not-found]

        client = aiosonic.HTTPClient()

        async def call() -> int:
            resp = await client.post(url, data=BODY, headers=HEADERS)
            return len(await resp.content())

        async def close() -> None:
            await client.connector.cleanup()

        return call, close
    if name == "pyreqwest":
        from pyreqwest.client import ClientBuilder  # type: ignore[import-not-found]

        rclient = await ClientBuilder().max_connections(512).build().__aenter__()

        async def call() -> int:
            resp = await rclient.post(url).body_bytes(BODY).headers(HEADERS).build().send()
            return len(await resp.bytes())

        async def close() -> None:
            await rclient.__aexit__(None, None, None)

        return call, close
    raise SystemExit(f"unknown client {name}")


async def _round(call: Call, n: int, conc: int) -> float:
    per = n // conc

    async def worker() -> None:
        for _ in range(per):
            await call()

    c0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return (time.process_time() - c0) / (per * conc) * 1e6


async def main_async(a: argparse.Namespace) -> None:
    names = a.clients.split(",")
    url = a.url.rstrip("/") + ("/sse/v1/chat/completions" if a.stream else "/v1/chat/completions")
    calls: dict[str, Call] = {}
    closes: list[Callable[[], Awaitable[None]]] = []
    for name in names:
        call, close = await _make(name, url, a.stream)
        calls[name] = call
        closes.append(close)
        for _ in range(200):  # warm-up: connections, caches
            await call()
    results: dict[str, list[float]] = {name: [] for name in names}
    for r in range(a.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            results[name].append(await _round(calls[name], a.n, a.conc))
    for close in closes:
        await close()
    base = names[0]
    mode = "7-event SSE stream" if a.stream else "JSON answer"
    print(f"upstream hop, {mode}: CPU µs per request, n={a.rounds} rounds x {a.n}, c={a.conc}")
    for name in names:
        row = f"{name:10s} {_ci(results[name])}"
        if name != base:
            diff = [x - y for x, y in zip(results[name], results[base], strict=True)]
            ratio = [x / y for x, y in zip(results[name], results[base], strict=True)]
            row += f"   diff vs {base}: {_ci(diff)}   ratio: {_ci(ratio)}"
        print(row)
    print("raw:", json.dumps({k: [round(v, 1) for v in vs] for k, vs in results.items()}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--clients", default="lean,aiohttp")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop (as lockgate serve)")
    a = ap.parse_args()
    if a.uvloop:
        import uvloop

        uvloop.run(main_async(a))
    else:
        asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
