"""Singleflight coalescing of identical in-flight calls and streams."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.cache.cache_samples import text_completion

from lockgate.cache import CoalescedStreamAbandonedError, Coalescer
from lockgate.chat import ChatResponse, ChatStream, Chunk
from lockgate.errors import UpstreamOverloadedError

N = 50


class GatedCall:
    """An upstream call that blocks until released, counting invocations."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.cancelled = False
        self.fail_first = fail_first

    async def __call__(self) -> ChatResponse:
        self.calls += 1
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.calls <= self.fail_first:
            raise UpstreamOverloadedError("provider overloaded")
        return ChatResponse(text_completion(f"answer {self.calls}"))


async def settle() -> None:
    """Let every ready task run a few steps (bounded)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_fifty_identical_calls_make_one_upstream_call() -> None:
    """50 concurrent run() calls share a single invocation of the function."""
    co = Coalescer()
    call = GatedCall()
    tasks = [asyncio.create_task(co.run("k", call)) for _ in range(N)]
    await settle()
    call.release.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*tasks)
    assert call.calls == 1
    assert {r.text for r, _ in results} == {"answer 1"}
    assert sorted(f for _, f in results) == [False] + [True] * (N - 1)
    assert co.followers == N - 1
    assert co.in_flight == 0


async def test_distinct_keys_are_not_shared() -> None:
    """Different keys run their own calls."""
    co = Coalescer()
    call = GatedCall()
    tasks = [asyncio.create_task(co.run(f"k{i}", call)) for i in range(3)]
    await settle()
    call.release.set()
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    assert call.calls == 3


async def test_finished_flight_is_forgotten() -> None:
    """A call after the shared one finished starts a fresh upstream call."""
    co = Coalescer()
    call = GatedCall()
    call.release.set()
    await co.run("k", call)
    _, follower = await co.run("k", call)
    assert call.calls == 2
    assert not follower


async def test_leader_failure_reaches_every_follower() -> None:
    """If the shared call fails, all 50 callers get that error, promptly."""
    co = Coalescer()
    call = GatedCall(fail_first=1)
    tasks = [asyncio.create_task(co.run("k", call)) for _ in range(N)]
    await settle()
    call.release.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, UpstreamOverloadedError) for r in results)
    assert call.calls == 1


async def test_retry_mode_lets_followers_try_again() -> None:
    """With on_leader_error="retry" followers share one more attempt after the failure."""
    co = Coalescer(on_leader_error="retry")
    call = GatedCall(fail_first=1)
    tasks = [asyncio.create_task(co.run("k", call)) for _ in range(N)]
    await settle()
    call.release.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1  # the leader itself does not retry
    assert call.calls == 2
    assert {r[0].text for r in results if not isinstance(r, BaseException)} == {"answer 2"}


async def test_leader_leaving_does_not_cancel_the_call() -> None:
    """The first caller disconnecting leaves the shared call running for the others."""
    co = Coalescer()
    call = GatedCall()
    leader = asyncio.create_task(co.run("k", call))
    await settle()
    followers = [asyncio.create_task(co.run("k", call)) for _ in range(3)]
    await settle()
    leader.cancel()
    await settle()
    call.release.set()
    async with asyncio.timeout(5):
        results = await asyncio.gather(*followers)
    assert leader.cancelled()
    assert not call.cancelled
    assert [r.text for r, _ in results] == ["answer 1"] * 3


async def test_call_is_cancelled_when_everyone_leaves() -> None:
    """When every caller has gone the upstream call is cancelled."""
    co = Coalescer()
    call = GatedCall()
    tasks = [asyncio.create_task(co.run("k", call)) for _ in range(5)]
    await settle()
    for t in tasks:
        t.cancel()
    await settle()
    assert call.cancelled
    assert co.in_flight == 0


class GatedStream:
    """An upstream stream whose chunks the test pushes one by one."""

    def __init__(self) -> None:
        self.starts = 0
        self.queue: asyncio.Queue[Chunk | BaseException | None] = asyncio.Queue()
        self.closed = False

    def __call__(self) -> ChatStream:
        self.starts += 1
        return self._gen()

    async def _gen(self) -> ChatStream:
        try:
            for _ in range(10_000):
                item = await self.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.closed = True

    def push(self, i: int) -> None:
        self.queue.put_nowait({"id": "s", "choices": [{"index": 0, "delta": {"content": str(i)}}]})


async def collect(stream: ChatStream) -> list[Any]:
    """All chunks of a stream."""
    return [c async for c in stream]


async def test_stream_fans_out_to_fifty_listeners() -> None:
    """50 listeners, half joining mid-stream, all receive the identical full sequence."""
    co = Coalescer()
    upstream = GatedStream()
    early = [co.stream("k", upstream) for _ in range(N // 2)]
    readers = [asyncio.create_task(collect(s)) for s, _ in early]
    for i in range(3):
        upstream.push(i)
    await settle()
    late = [co.stream("k", upstream) for _ in range(N // 2)]
    readers += [asyncio.create_task(collect(s)) for s, _ in late]
    for i in range(3, 6):
        upstream.push(i)
    upstream.queue.put_nowait(None)
    async with asyncio.timeout(5):
        results = await asyncio.gather(*readers)
    expected = [str(i) for i in range(6)]
    assert upstream.starts == 1
    for chunks in results:
        assert [c["choices"][0]["delta"]["content"] for c in chunks] == expected
    assert [f for _, f in early + late] == [False] + [True] * (N - 1)
    assert co.in_flight == 0


async def test_stream_failure_reaches_every_listener() -> None:
    """An upstream error after two chunks reaches all listeners after those chunks."""
    co = Coalescer()
    upstream = GatedStream()
    streams = [co.stream("k", upstream)[0] for _ in range(N)]
    seen: list[list[str]] = [[] for _ in range(N)]

    async def read(i: int, stream: ChatStream) -> None:
        async for c in stream:
            seen[i].append(c["choices"][0]["delta"]["content"])

    readers = [asyncio.create_task(read(i, s)) for i, s in enumerate(streams)]
    upstream.push(0)
    upstream.push(1)
    upstream.queue.put_nowait(UpstreamOverloadedError("went away"))
    async with asyncio.timeout(5):
        results = await asyncio.gather(*readers, return_exceptions=True)
    assert all(isinstance(r, UpstreamOverloadedError) for r in results)
    assert all(s == ["0", "1"] for s in seen)


async def test_stream_continues_when_some_listeners_leave() -> None:
    """The first listener leaving does not stop the stream for the others."""
    co = Coalescer()
    upstream = GatedStream()
    first, _ = co.stream("k", upstream)
    second, _ = co.stream("k", upstream)
    upstream.push(0)
    async with asyncio.timeout(5):
        assert (await anext(first))["choices"][0]["delta"]["content"] == "0"
        await first.aclose()
        upstream.push(1)
        upstream.queue.put_nowait(None)
        rest = await collect(second)
    assert len(rest) == 2
    assert upstream.starts == 1


async def test_stream_cancelled_when_all_listeners_leave() -> None:
    """Cancelling every reader cancels the shared upstream stream."""
    co = Coalescer()
    upstream = GatedStream()
    streams = [co.stream("k", upstream)[0] for _ in range(5)]
    readers = [asyncio.create_task(collect(s)) for s in streams]
    upstream.push(0)
    await settle()
    for r in readers:
        r.cancel()
    await settle()
    assert upstream.closed
    assert co.in_flight == 0
    fresh, follower = co.stream("k", upstream)
    assert not follower
    await fresh.aclose()


async def test_stream_closed_listeners_cancel_upstream() -> None:
    """aclose() by every listener, before reading anything, cancels the upstream stream."""
    co = Coalescer()
    upstream = GatedStream()
    streams = [co.stream("k", upstream)[0] for _ in range(3)]
    await settle()
    for s in streams:
        await s.aclose()
    await settle()
    assert upstream.closed
    with pytest.raises(CoalescedStreamAbandonedError):
        await anext(streams[0])


async def test_long_stream_stops_taking_followers() -> None:
    """After max_chunks a stream takes no new followers; a newcomer starts its own call."""
    co = Coalescer(max_chunks=2)
    upstream = GatedStream()
    first, _ = co.stream("k", upstream)
    reader = asyncio.create_task(collect(first))
    upstream.push(0)
    upstream.push(1)
    await settle()
    newcomer = GatedStream()
    second, follower = co.stream("k", newcomer)
    await settle()
    assert not follower
    assert (upstream.starts, newcomer.starts) == (1, 1)
    upstream.queue.put_nowait(None)
    async with asyncio.timeout(5):
        assert len(await reader) == 2
    await second.aclose()


async def test_listeners_leaving_before_the_pump_starts_never_hang() -> None:
    """Closing every listener at once, before any scheduling, ends the flight cleanly."""
    co = Coalescer()
    upstream = GatedStream()
    stream, _ = co.stream("k", upstream)
    await stream.aclose()
    async with asyncio.timeout(5):
        with pytest.raises(CoalescedStreamAbandonedError):
            await anext(stream)
        await settle()
    assert upstream.starts == 0
    assert co.in_flight == 0


async def test_callers_leaving_before_the_call_starts_never_hang() -> None:
    """A run() cancelled right away leaves nothing behind and no call running."""
    co = Coalescer()
    call = GatedCall()
    task = asyncio.create_task(co.run("k", call))
    await asyncio.sleep(0)
    task.cancel()
    await settle()
    assert task.cancelled()
    assert call.calls == 0 or call.cancelled
    assert co.in_flight == 0
