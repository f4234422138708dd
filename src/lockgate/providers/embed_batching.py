"""Embedding micro-batching: concurrent single-input ``/v1/embeddings`` calls to the same
deployment are merged into one upstream call within a short window, then split back.

A call joins the open batch of its deployment (and of identical other parameters, such
as ``dimensions`` or ``encoding_format``); the batch is sent when its window ends, or at
once when it reaches ``max_inputs`` inputs or about ``max_tokens`` tokens (OpenAI allows
2,048 inputs and 300k tokens per request). Each caller gets its own vector at index 0
and its share of the batch's usage (proportional to its input's estimated tokens, the
shares adding up to the upstream's count exactly). A failing upstream call fails only
the callers of that batch; a caller that leaves does not cancel the others' call.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
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
    provider: Provider
    deployment: Deployment
    timeouts: Timeouts
    template: dict[str, Any]
    texts: list[str] = field(default_factory=list)
    futures: list[asyncio.Future[dict[str, Any]]] = field(default_factory=list)
    tokens: int = 0
    timer: asyncio.TimerHandle | None = None


class EmbeddingBatcher:
    def __init__(self, settings: EmbeddingBatchSettings) -> None:
        self._cfg = settings
        self._open: dict[tuple[str, str], _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.upstream_calls = 0

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
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch(provider, deployment, timeouts, template)
            loop = asyncio.get_running_loop()
            batch.timer = loop.call_later(self._cfg.batch_window_ms / 1000.0, self._send, key)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        batch.texts.append(text)
        batch.futures.append(future)
        batch.tokens += _estimate(text)
        if (
            len(batch.texts) >= self._cfg.max_batch_inputs
            or batch.tokens >= self._cfg.max_batch_tokens
        ):
            self._send(key)
        return await future

    def _send(self, key: tuple[str, str]) -> None:
        batch = self._open.pop(key, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        task = asyncio.create_task(self._call(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, batch: _Batch) -> None:
        self.upstream_calls += 1
        body = {**batch.template, "input": batch.texts}
        try:
            result = await batch.provider.embed(body, batch.deployment, batch.timeouts)
            rows = sorted(result.get("data") or [], key=lambda d: d.get("index", 0))
            if len(rows) != len(batch.texts):
                raise UpstreamBadResponseError(
                    f"upstream returned {len(rows)} embeddings for {len(batch.texts)} inputs"
                )
        except BaseException as exc:
            for i, f in enumerate(batch.futures):
                if not f.done():
                    f.set_exception(exc if i == 0 else _shared(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        usage = result.get("usage") or {}
        weights = [_estimate(t) for t in batch.texts]
        prompt = split_usage(int(usage.get("prompt_tokens") or 0), weights)
        total = split_usage(int(usage.get("total_tokens") or 0), weights)
        for i, f in enumerate(batch.futures):
            if f.done():
                continue  # the caller left
            f.set_result(
                {
                    "object": "list",
                    "data": [{**rows[i], "index": 0}],
                    "model": result.get("model"),
                    "usage": {"prompt_tokens": prompt[i], "total_tokens": total[i]},
                }
            )

    async def aclose(self) -> None:
        for key in list(self._open):
            self._send(key)
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
