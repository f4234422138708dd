"""Embedding micro-batching: concurrent single-input ``/v1/embeddings`` calls to the same
deployment are merged into one upstream call within a short window, then split back.

A call joins the open batch of its deployment (and of identical other parameters, such
as ``dimensions`` or ``encoding_format``); the batch is sent when its window ends, or at
once when it reaches ``max_inputs`` inputs or about ``max_tokens`` tokens (OpenAI allows
2,048 inputs and 300k tokens per request).

With ``adaptive_window`` a call that finds no open batch is sent at once, alone, when no
upstream call for that batch key is in progress: there is nothing to wait behind, and
waiting would add latency without merging (a lone client, or a quiet gateway). While a
call is upstream, new calls gather for up to the window, so under load they merge as
with a fixed window. Every caller's wait (arrival to the upstream call's start) is
reported to ``observe_wait``.

Each caller gets its own vector at index 0 and its share of the batch's usage
(proportional to its input's estimated tokens, the shares adding up to the upstream's
count exactly). A failing upstream call fails only the callers of that batch; a caller
that leaves does not cancel the others' call.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lockgate.embedding_settings import EmbeddingBatchSettings
from lockgate.errors import GatewayError, UpstreamBadResponseError
from lockgate.providers.base import Provider, Timeouts
from lockgate.settings import Deployment

__all__ = ["EmbeddingBatcher", "split_usage"]


def _estimate(text: str) -> int:
    return max(1, len(text) // 4)


def split_usage(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights``; the parts add up to ``total``
    exactly (largest remainders get the leftover units)."""
    wsum = sum(weights)
    if wsum <= 0:
        return [0] * len(weights)
    raw = [total * w / wsum for w in weights]
    parts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _shared(exc: BaseException) -> BaseException:
    """A caller's own copy of the batch's failure (callers add their own headers to
    it), marked as already counted against the deployment."""
    if not isinstance(exc, GatewayError):
        return exc
    mine = copy.copy(exc)
    mine.shared = True
    return mine


@dataclass(slots=True)
class _Batch:
    key: tuple[str, str]
    provider: Provider
    deployment: Deployment
    timeouts: Timeouts
    template: dict[str, Any]
    texts: list[str] = field(default_factory=list)
    futures: list[asyncio.Future[dict[str, Any]]] = field(default_factory=list)
    #: perf_counter time each caller arrived
    arrived: list[float] = field(default_factory=list)
    tokens: int = 0
    timer: asyncio.TimerHandle | None = None


class EmbeddingBatcher:
    def __init__(
        self,
        settings: EmbeddingBatchSettings,
        *,
        observe_wait: Callable[[float], None] = lambda seconds: None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._cfg = settings
        self._open: dict[tuple[str, str], _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._observe_wait = observe_wait
        self._clock = clock
        #: per batch key: upstream calls in progress
        self._upstream: dict[tuple[str, str], int] = {}
        self.upstream_calls = 0
        #: calls sent at once, alone, because no upstream call was in progress
        self.sent_alone = 0

    async def embed(
        self,
        provider: Provider,
        body: dict[str, Any],
        deployment: Deployment,
        timeouts: Timeouts,
    ) -> dict[str, Any]:
        text = body.get("input")
        if not self._cfg.batching or not isinstance(text, str):
            self.upstream_calls += 1
            return await provider.embed(body, deployment, timeouts)
        template = {k: v for k, v in body.items() if k != "input"}
        key = (deployment.id, repr(sorted(template.items())))
        now = self._clock()
        # adaptive: with nothing upstream for this key, nothing to wait behind
        company = self._upstream.get(key, 0) > 0 or not self._cfg.adaptive_window
        batch = self._open.get(key)
        if batch is None and not company:
            self.sent_alone += 1
            self._observe_wait(0.0)
            lone = _Batch(key, provider, deployment, timeouts, template, [text], [], [now])
            return await self._call_alone(lone)
        if batch is None:
            batch = self._open[key] = _Batch(key, provider, deployment, timeouts, template)
            loop = asyncio.get_running_loop()
            batch.timer = loop.call_later(self._cfg.batch_window_ms / 1000.0, self._send, key)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        batch.texts.append(text)
        batch.futures.append(future)
        batch.arrived.append(now)
        batch.tokens += _estimate(text)
        if (
            len(batch.texts) >= self._cfg.max_batch_inputs
            or batch.tokens >= self._cfg.max_batch_tokens
        ):
            self._send(key)
        return await future

    async def _call_alone(self, batch: _Batch) -> dict[str, Any]:
        """One caller's batch of one, in the caller's own task (its cancellation is the
        caller's alone)."""
        return (await self._fetch(batch))[0]

    def _send(self, key: tuple[str, str]) -> None:
        batch = self._open.pop(key, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        task = asyncio.create_task(self._call(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch(self, batch: _Batch) -> list[dict[str, Any]]:
        """The batch's upstream call, split back: one answer per input, in order."""
        self.upstream_calls += 1
        body = {**batch.template, "input": batch.texts}
        key = batch.key
        self._upstream[key] = self._upstream.get(key, 0) + 1
        try:
            result = await batch.provider.embed(body, batch.deployment, batch.timeouts)
        finally:
            left = self._upstream.pop(key) - 1
            if left:
                self._upstream[key] = left
        rows = sorted(result.get("data") or [], key=lambda d: d.get("index", 0))
        if len(rows) != len(batch.texts):
            raise UpstreamBadResponseError(
                f"upstream returned {len(rows)} embeddings for {len(batch.texts)} inputs"
            )
        usage = result.get("usage") or {}
        weights = [_estimate(t) for t in batch.texts]
        prompt = split_usage(int(usage.get("prompt_tokens") or 0), weights)
        total = split_usage(int(usage.get("total_tokens") or 0), weights)
        return [
            {
                "object": "list",
                "data": [{**row, "index": 0}],
                "model": result.get("model"),
                "usage": {"prompt_tokens": prompt[i], "total_tokens": total[i]},
            }
            for i, row in enumerate(rows)
        ]

    async def _call(self, batch: _Batch) -> None:
        started = self._clock()
        for t in batch.arrived:
            self._observe_wait(started - t)
        try:
            answers = await self._fetch(batch)
        except BaseException as exc:
            for i, f in enumerate(batch.futures):
                if not f.done():
                    f.set_exception(exc if i == 0 else _shared(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for f, answer in zip(batch.futures, answers, strict=True):
            if not f.done():  # else the caller left
                f.set_result(answer)

    async def aclose(self) -> None:
        for key in list(self._open):
            self._send(key)
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
