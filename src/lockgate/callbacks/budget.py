"""Budget alerts: a message when spend reaches a share of a budget, once per period.

The limits stage reports, after each request that cost something, where every
spend budget of the request now stands (:class:`lockgate.stages.limits.SpendLevel`).
:func:`reached` (pure) names the highest threshold the spend is at or above; the
alerter queues an alert for it unless this (budget, period, threshold) was already
announced.  "Already" is known per process, and across replicas through a shared
ledger (Redis ``SET NX`` with the period's remaining time as expiry) when
``general_settings.redis_url`` is set.  Sending happens in one background task
from a bounded queue: a request never waits for Slack.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lockgate.callbacks.config import AlertTarget, BudgetAlertSettings
from lockgate.callbacks.shipper import DropListener, retryable
from lockgate.callbacks.transport import Poster
from lockgate.task_stop import stop_tasks

if TYPE_CHECKING:
    from lockgate.context import RequestContext
    from lockgate.stages.limits import SpendLevel

__all__ = [
    "AlertLedger",
    "BudgetAlert",
    "BudgetAlerter",
    "MemoryLedger",
    "RedisLedger",
    "reached",
    "slack_message",
    "webhook_event",
]

_log = logging.getLogger("lockgate.callbacks")
_MAX_QUEUE = 1000


def reached(thresholds: Sequence[float], limit: float, spent: float) -> float | None:
    """The highest threshold (share of ``limit``) that ``spent`` is at or above."""
    if limit <= 0:
        return None
    top = None
    for t in thresholds:
        if spent >= t * limit - 1e-12:
            top = t if top is None or t > top else top
    return top


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    subject_type: str  # key | team | user | ip | model
    subject: str  # the key id, team name...
    display: str  # what people call it (a key's name)
    period: str  # day | month
    period_id: str
    limit: float
    spent: float
    threshold: float
    #: the ledger entry: one alert per (budget, period, threshold)
    ident: str
    #: seconds until the period ends (the ledger entry's lifetime)
    ttl: float


def _text(a: BudgetAlert) -> str:
    share = a.spent / a.limit if a.limit else 0.0
    verb = "has used up" if a.threshold >= 1 else f"has reached {a.threshold:.0%} of"
    return (
        f"Budget alert: {a.subject_type} '{a.display}' {verb} its ${a.limit:,.2f}/{a.period}"
        f" budget (${a.spent:,.2f} spent, {share:.0%}; period {a.period_id})."
    )


def slack_message(a: BudgetAlert) -> dict[str, Any]:
    """A Slack incoming-webhook message (``text`` for notifications, ``blocks`` to show)."""
    text = _text(a)
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f":warning: *{text}*"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"lockgate · {a.subject_type}: `{a.subject}` · "
                        f"threshold {a.threshold:.0%}",
                    }
                ],
            },
        ],
    }


def webhook_event(a: BudgetAlert) -> dict[str, Any]:
    """The alert in LiteLLM's WebhookEvent shape (its ``alerting: ["webhook"]``)."""
    return {
        "event": "budget_crossed" if a.threshold >= 1 else "threshold_crossed",
        "event_group": a.subject_type,
        "event_message": _text(a),
        "spend": a.spent,
        "max_budget": a.limit,
        "threshold": a.threshold,
        "budget_duration": a.period,
        "period_id": a.period_id,
        "token": a.subject if a.subject_type == "key" else None,
        "key_alias": a.display if a.subject_type == "key" else None,
        "team_id": a.subject if a.subject_type == "team" else None,
        "user_id": a.subject if a.subject_type == "user" else None,
    }


class AlertLedger(Protocol):
    async def first(self, ident: str, ttl: float) -> bool:
        """True for the first caller of ``ident`` within ``ttl`` seconds (the one to send)."""
        ...

    async def aclose(self) -> None: ...


class MemoryLedger:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    async def first(self, ident: str, ttl: float) -> bool:
        now = self._clock()
        if len(self._until) > 10_000:
            self._until = {k: v for k, v in self._until.items() if v > now}
        if self._until.get(ident, 0.0) > now:
            return False
        self._until[ident] = now + ttl
        return True

    async def aclose(self) -> None:
        return None


class RedisLedger:
    """Alerts announced by any replica sharing this Redis."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)

    async def first(self, ident: str, ttl: float) -> bool:
        ok = await self._redis.set(
            f"lockgate:budget-alert:{ident}", b"1", nx=True, ex=max(1, int(ttl) + 1)
        )
        return bool(ok)

    async def aclose(self) -> None:
        await self._redis.aclose()


class BudgetAlerter:
    def __init__(
        self,
        settings: BudgetAlertSettings,
        ledger: AlertLedger,
        poster: Poster,
        *,
        on_drop: DropListener | None = None,
        on_sent: Callable[[str, int], None] | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        close_timeout: float = 5.0,
    ) -> None:
        self._close_timeout = close_timeout
        self._s = settings
        self._subjects = frozenset(settings.subjects)
        self._ledger = ledger
        self._poster = poster
        self._on_drop = on_drop
        self._on_sent = on_sent
        self._retries = retries
        self._backoff = backoff
        self._seen: dict[str, float] = {}  # ident -> period end (this process)
        self._queue: deque[BudgetAlert] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.sent: list[BudgetAlert] = []

    def spent(self, ctx: RequestContext, level: SpendLevel) -> None:
        """Called by the limits stage after a request was charged (never blocks)."""
        rule = level.rule
        kind = rule.subject_type
        if kind not in self._subjects or rule.period is None:
            return
        threshold = reached(self._s.thresholds, level.limit, level.spent)
        if threshold is None:
            return
        ident = f"{level.period_key}:{threshold:g}"
        now = time.monotonic()
        if self._seen.get(ident, 0.0) > now:
            return
        if len(self._seen) > 10_000:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        self._seen[ident] = now + level.seconds_left
        display = rule.subject_name
        if kind == "key" and ctx.principal.name:
            display = ctx.principal.name
        alert = BudgetAlert(
            subject_type=kind,
            subject=rule.subject_name,
            display=display,
            period=rule.period,
            period_id=level.period_key.rpartition(":")[2],
            limit=level.limit,
            spent=level.spent,
            threshold=threshold,
            ident=ident,
            ttl=level.seconds_left,
        )
        if self._closed or len(self._queue) >= _MAX_QUEUE:
            self._drop("queue_full")
            return
        self._queue.append(alert)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="lockgate-budget-alerts"
            )
        self._wake.set()

    def _drop(self, reason: str) -> None:
        if self._on_drop is not None:
            self._on_drop("budget_alerts", reason, 1)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._announce(self._queue.popleft())
            if self._closed:
                return

    async def _announce(self, alert: BudgetAlert) -> None:
        try:
            if not await self._ledger.first(alert.ident, alert.ttl):
                return  # another replica (or an earlier life of this one) sent it
        except Exception as exc:
            # Better a repeated alert than none: send without the shared ledger.
            _log.warning("budget alerts: ledger unavailable (%r); sending anyway", exc)
        for target in self._s.targets:
            await self._post(target, alert)
        self.sent.append(alert)
        if len(self.sent) > 100:
            del self.sent[:-100]

    async def _post(self, target: AlertTarget, alert: BudgetAlert) -> None:
        payload = slack_message(alert) if target.format == "slack" else webhook_event(alert)
        body = json.dumps(payload).encode()
        headers = {"content-type": "application/json", **target.headers}
        for attempt in range(self._retries + 1):
            status: int | None = None
            try:
                status = await self._poster.post(target.url, body, headers)
            except Exception as exc:
                _log.warning("budget alerts: POST failed: %r", exc)
            if status is not None and 200 <= status < 300:
                if self._on_sent is not None:
                    self._on_sent("budget_alerts", 1)
                return
            if not retryable(status):
                self._drop("rejected")
                return
            if attempt < self._retries:
                await asyncio.sleep(min(30.0, self._backoff * 2**attempt))
        self._drop("send_failed")

    async def aclose(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), self._close_timeout)
            except TimeoutError:
                await stop_tasks([task], "budget alerts")
        for _ in self._queue:
            self._drop("shutdown")
        self._queue.clear()
        await self._ledger.aclose()
        await self._poster.aclose()
