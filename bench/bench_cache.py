"""Cost of the exact cache and coalescing on the request path (µs).

Run: PYTHONPATH=src .venv/bin/python bench/bench_cache.py [--n 20000]

Measures: planning (policy + canonical key) for a small and a larger request;
a full cache hit through ``ResponseCache.complete`` on the memory store and on
a real local redis-server (started by this script; skipped with --no-redis);
the same hit through the pipeline stage; a hit replayed as a stream; the
overhead ``Coalescer.run`` and ``Coalescer.stream`` add to an uncontended call;
and aggregating a 100-chunk stream.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lockgate.auth.keys import Principal
from lockgate.cache import (
    Coalescer,
    MemoryStore,
    ResponseCache,
    StreamAggregator,
    create_cache_store,
    replay_chunks,
)
from lockgate.cache.stage import CacheStage
from lockgate.chat import ChatRequest, ChatResponse, ChatStream, Chunk
from lockgate.context import RequestContext
from lockgate.pipeline import Pipeline, Result


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }


def request(turns: int, stream: bool = False) -> ChatRequest:
    messages = [{"role": "system", "content": "You are a helpful assistant. " * 4}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"Question {i}: " + "lorem ipsum " * 20})
        messages.append({"role": "assistant", "content": f"Answer {i}: " + "dolor sit " * 20})
    messages.append({"role": "user", "content": "And finally?"})
    body = {
        "model": "fast",
        "messages": messages,
        "temperature": 0,
        "max_tokens": 256,
        "stream": stream,
    }
    return ChatRequest("fast", body, stream)


def per_call_us(fn: Callable[[int], None], n: int) -> float:
    """Best of three runs of ``n`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        fn(n)
        best = min(best, (time.perf_counter_ns() - start) / n / 1000.0)
    return best


async def per_call_us_async(fn: Callable[[], Awaitable[object]], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        for _ in range(n):
            await fn()
        best = min(best, (time.perf_counter_ns() - start) / n / 1000.0)
    return best


def bench_plan(cache: ResponseCache, req: ChatRequest, n: int) -> float:
    def run(count: int) -> None:
        for _ in range(count):
            cache.plan(req, alias="fast", namespace="team:a")

    return per_call_us(run, n)


async def hit_cost(cache: ResponseCache, req: ChatRequest, n: int) -> float:
    async def upstream() -> ChatResponse:
        return ChatResponse(completion("x " * 200))

    await cache.complete(cache.plan(req, alias="fast", namespace="team:a"), upstream)

    async def one() -> None:
        plan = cache.plan(req, alias="fast", namespace="team:a")
        _, result = await cache.complete(plan, upstream)
        assert result.status == "hit"

    return await per_call_us_async(one, n)


async def stage_hit_cost(cache: ResponseCache, req: ChatRequest, n: int) -> float:
    async def terminal(ctx: RequestContext, r: ChatRequest) -> Result:
        if r.stream:
            return _replay(completion("x " * 200))
        return ChatResponse(completion("x " * 200))

    pipe = Pipeline([CacheStage(cache)], terminal)
    principal = Principal(kind="key", key_id="k", team="a")

    async def one() -> None:
        ctx = RequestContext(request_id="r", principal=principal, api="openai")
        result = await pipe(ctx, req)
        if not isinstance(result, ChatResponse):
            async for _ in result:
                pass

    await one()
    return await per_call_us_async(one, n)


async def _replay(c: dict[str, Any]) -> ChatStream:
    for chunk in replay_chunks(c, include_usage=True):
        yield chunk


async def coalesce_run_overhead(n: int) -> tuple[float, float]:
    response = ChatResponse(completion("hi"))

    async def call() -> ChatResponse:
        return response

    co = Coalescer()
    direct = await per_call_us_async(call, n)
    shared = await per_call_us_async(lambda: co.run("k", call), n)
    return direct, shared


async def coalesce_stream_overhead(n: int, chunks: int = 100) -> tuple[float, float]:
    items: list[Chunk] = [
        {"choices": [{"index": 0, "delta": {"content": "x"}}]} for _ in range(chunks)
    ]

    async def gen() -> ChatStream:
        for c in items:
            yield c

    co = Coalescer()

    async def direct() -> None:
        async for _ in gen():
            pass

    async def shared() -> None:
        stream, _ = co.stream("k", gen)
        async for _ in stream:
            pass

    return await per_call_us_async(direct, n), await per_call_us_async(shared, n)


def bench_aggregate(n: int) -> float:
    chunks = replay_chunks(completion("x"), include_usage=True)
    body = chunks[0]
    many = (
        [body]
        + [
            {**body, "choices": [{"index": 0, "delta": {"content": "tok "}, "finish_reason": None}]}
            for _ in range(98)
        ]
        + chunks[-2:]
    )

    def run(count: int) -> None:
        for _ in range(count):
            agg = StreamAggregator()
            for c in many:
                agg.add(c)
            agg.result()

    return per_call_us(run, n)


def start_redis() -> tuple[subprocess.Popen[bytes], str, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not installed; use --no-redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="lockgate-bench-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0", workdir


async def main_async(n: int, with_redis: bool) -> None:
    small, large = request(1), request(10)
    print(f"{'case':60} {'µs':>9}")
    memory = ResponseCache(
        store=MemoryStore(max_bytes=64 << 20, clock=time.monotonic), wall_clock=time.time
    )
    body_bytes = len(str(large.body))
    print(f"{'plan (policy + key), 4 messages':60} {bench_plan(memory, small, n):9.2f}")
    label = f"plan (policy + key), 22 messages (~{body_bytes // 1000} KB)"
    print(f"{label:60} {bench_plan(memory, large, n):9.2f}")
    us = await hit_cost(memory, small, n)
    print(f"{'memory hit: plan + get + decode, 4 messages':60} {us:9.2f}")
    us = await hit_cost(memory, large, n)
    print(f"{'memory hit: plan + get + decode, 22 messages':60} {us:9.2f}")
    print(
        f"{'memory hit through CacheStage + Pipeline (non-stream)':60} "
        f"{await stage_hit_cost(memory, small, n):9.2f}"
    )
    print(
        f"{'memory hit through CacheStage, streamed replay (drained)':60} "
        f"{await stage_hit_cost(memory, request(1, stream=True), n):9.2f}"
    )
    if with_redis:
        proc, url, workdir = start_redis()
        try:
            store = create_cache_store(url)
            redis_cache = ResponseCache(store=store, wall_clock=time.time)
            us = await hit_cost(redis_cache, small, max(1, n // 5))
            print(f"{'redis hit (loopback): plan + GET + decode, 4 messages':60} {us:9.2f}")
            await store.aclose()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(workdir, ignore_errors=True)
    direct, shared = await coalesce_run_overhead(n)
    print(f"{'non-stream call, direct':60} {direct:9.2f}")
    print(f"{'non-stream call via Coalescer.run (uncontended)':60} {shared:9.2f}")
    sdirect, sshared = await coalesce_stream_overhead(max(1, n // 20))
    print(f"{'100-chunk stream, direct':60} {sdirect:9.2f}")
    print(f"{'100-chunk stream via Coalescer.stream (uncontended)':60} {sshared:9.2f}")
    print(f"{'StreamAggregator over 101 chunks':60} {bench_aggregate(max(1, n // 10)):9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    asyncio.run(main_async(args.n, not args.no_redis))


if __name__ == "__main__":
    main()
