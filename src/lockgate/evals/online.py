"""Online evaluation: a record sink that judges a sample of live answers off the request path.

``submit`` (on the request path) only rolls the sampling die and appends to a bounded
queue.  Workers started on the first sample take requests from the queue, wait for the
rate limit, skip once the day's judge budget is spent, ask the judge alias through the
dispatcher (never through the pipeline, so judging is not itself recorded or sampled), and
write a score row beside feedback.  Closing stops the workers; queued samples are dropped
and counted, since a score is worth less than a prompt shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lockgate.auth.keys import Principal
from lockgate.chat import ChatRequest, ChatResponse
from lockgate.context import RequestContext
from lockgate.errors import GatewayError
from lockgate.evals.answer import (
    Answer,
    ChatClient,
    EvalCallError,
    RenderedPrompt,
    answer_from_body,
)
from lockgate.evals.config import OnlineSettings
from lockgate.evals.judge import JudgeError, judge_rubric, rubric_criteria
from lockgate.evals.sampling import DailyBudget, TokenBucket, sample_rate
from lockgate.records import RequestRecord
from lockgate.task_stop import stop_tasks
from lockgate.usage.reports import day_of

if TYPE_CHECKING:  # SQLAlchemy (its table) only once online evaluation is on
    from lockgate.evals.online_repository import OnlineScore

__all__ = ["DispatcherClient", "OnlineEvaluator", "OnlineStats", "ScoreStore"]

_log = logging.getLogger("lockgate.evals.online")


class _Dispatch(Protocol):
    async def __call__(self, ctx: RequestContext, request: ChatRequest) -> Any: ...


class DispatcherClient:
    """The judge alias called through the gateway's dispatcher (retries, fallbacks, prices)."""

    def __init__(self, dispatcher: _Dispatch) -> None:
        self._dispatch = dispatcher

    async def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        fresh: bool = False,
    ) -> Answer:
        body = {**params, "model": model, "messages": messages}
        ctx = RequestContext(
            request_id="eval_" + secrets.token_hex(8),
            principal=Principal(kind="master"),
            api="openai",
        )
        started = time.perf_counter()
        try:
            result = await self._dispatch(ctx, ChatRequest(model, body))
        except GatewayError as exc:
            raise EvalCallError(f"{exc.code}: {exc.message}") from None
        if not isinstance(result, ChatResponse):
            raise EvalCallError("the judge answered with a stream")
        ctx.settle(result.usage)
        return answer_from_body(
            result.body, cost_usd=ctx.cost, latency_ms=(time.perf_counter() - started) * 1000
        )

    async def render_prompt(
        self, name: str, label: str | None, version: int | None, variables: dict[str, Any]
    ) -> RenderedPrompt:
        raise EvalCallError("the online evaluator renders no prompts")


class ScoreStore(Protocol):
    async def add(self, score: OnlineScore) -> None: ...


@dataclass(slots=True)
class OnlineStats:
    sampled: int = 0
    scored: int = 0
    dropped_queue_full: int = 0
    skipped_budget: int = 0
    errors: int = 0
    dropped_at_close: int = 0


def _rubric_name(value: Any) -> str:
    return "default" if value in (None, "default") else "custom"


class OnlineEvaluator:
    """A ``RecordSink``: samples finished requests and scores them with the judge."""

    def __init__(
        self,
        cfg: OnlineSettings,
        client: ChatClient,
        store: ScoreStore,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        assert cfg.judge is not None
        self.cfg = cfg
        self._judge = cfg.judge
        self._client = client
        self._store = store
        self._rng = rng or random.Random()
        self._clock = clock
        self._wall = wall
        self._rubric = rubric_criteria(cfg.rubric)
        self._queue: asyncio.Queue[RequestRecord] = asyncio.Queue(cfg.max_queue)
        self._bucket = TokenBucket.full(cfg.rate_per_minute, clock())
        self._budget = DailyBudget(cfg.budget_usd_per_day)
        self._workers: list[asyncio.Task[None]] = []
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0
        self.stats = OnlineStats()

    # -- the request path ---------------------------------------------------------------

    def submit(self, record: RequestRecord) -> None:
        if (
            self._closed
            or record.status >= 400
            or record.response_body is None
            or record.request_body is None
        ):
            return
        version = record.notes.get("prompt_version") if record.notes else None
        rate = sample_rate(self.cfg, record.model, None if version is None else str(version))
        if rate <= 0.0 or self._rng.random() >= rate:
            return
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.stats.dropped_queue_full += 1
            return
        self.stats.sampled += 1
        self._idle.clear()
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [
                loop.create_task(self._work(), name=f"lockgate-online-eval-{i}")
                for i in range(self.cfg.concurrency)
            ]

    # -- off the request path -----------------------------------------------------------

    async def _work(self) -> None:
        while True:
            record = await self._queue.get()
            self._busy += 1
            try:
                await self._score(record)
            except Exception:  # a worker must outlive any one bad record
                self.stats.errors += 1
                _log.exception("online evaluation of %s failed", record.request_id)
            finally:
                self._busy -= 1
                self._queue.task_done()
                if self._queue.empty() and self._busy == 0:
                    self._idle.set()

    async def _rate_limit(self) -> None:
        """Wait for the judge's rate limit (bounded: one token's refill time per try)."""
        for _ in range(1000):
            wait = self._bucket.wait_time(self._clock())
            if wait <= 0 and self._bucket.take(self._clock()):
                return
            await asyncio.sleep(max(wait, 0.001))

    async def _score(self, record: RequestRecord) -> None:
        now_wall = self._wall()
        day = day_of(now_wall)
        if not self._budget.allows(day):
            self.stats.skipped_budget += 1
            return
        await self._rate_limit()
        request = record.request_body if isinstance(record.request_body, dict) else {}
        raw = request.get("messages")
        messages: list[dict[str, Any]] = raw if isinstance(raw, list) else []
        try:
            answer = answer_from_body(record.response_body, cost_usd=0.0, latency_ms=0.0).text
        except EvalCallError:
            self.stats.errors += 1
            return
        try:
            result = await judge_rubric(self._client, self._judge, messages, answer, self._rubric)
        except JudgeError as exc:
            self.stats.errors += 1
            _log.warning("online evaluation of %s: %s", record.request_id, exc)
            return
        self._budget.charge(day, result.cost_usd)
        version = record.notes.get("prompt_version") if record.notes else None
        from lockgate.evals.online_repository import OnlineScore  # SQLAlchemy: on use

        await self._store.add(
            OnlineScore(
                request_id=record.request_id,
                created_at=now_wall,
                day=day,
                model=record.model,
                prompt_version=None if version is None else str(version)[:64],
                judge=self._judge,
                rubric=_rubric_name(self.cfg.rubric),
                score=result.score,
                passed=result.score >= self.cfg.threshold,
                reason=result.reason,
                cost_usd=result.cost_usd,
            )
        )
        self.stats.scored += 1

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def drain(self) -> None:
        """Wait until every sample queued so far is scored (for tests and reports)."""
        await self._idle.wait()

    async def aclose(self) -> None:
        self._closed = True
        await stop_tasks(self._workers, "online eval workers")
        self._workers = []
        self.stats.dropped_at_close += self._queue.qsize()


def build_online_evaluator(settings: Any, db: Any, dispatcher: _Dispatch) -> OnlineEvaluator | None:
    """The online evaluator the config asks for (None when off)."""
    cfg: OnlineSettings = settings.evaluation.online
    if not cfg.enabled:
        return None
    from lockgate.evals.online_repository import OnlineScoreRepository  # SQLAlchemy: on use

    return OnlineEvaluator(cfg, DispatcherClient(dispatcher), OnlineScoreRepository(db))
