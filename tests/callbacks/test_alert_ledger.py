"""Budget alerts: the threshold arithmetic and one alert across replicas sharing Redis."""

from __future__ import annotations

from tests.callbacks.receiver import Receiver

from lockgate.auth.keys import Principal
from lockgate.callbacks.budget import BudgetAlerter, MemoryLedger, RedisLedger, reached
from lockgate.callbacks.config import BudgetAlertSettings
from lockgate.callbacks.transport import AiohttpPoster
from lockgate.context import RequestContext
from lockgate.limits import LimitRule
from lockgate.stages.limits import SpendLevel


def test_reached_names_the_highest_threshold() -> None:
    """At or above a share counts; nothing below the first; a zero budget never alerts."""
    t = [0.5, 0.8, 1.0]
    assert reached(t, 10.0, 4.99) is None
    assert reached(t, 10.0, 5.0) == 0.5
    assert reached(t, 10.0, 9.0) == 0.8
    assert reached(t, 10.0, 12.0) == 1.0
    assert reached(t, 0.0, 5.0) is None


def level(spent: float) -> SpendLevel:
    rule = LimitRule.spend("team:a", 10.0, "day")
    return SpendLevel(rule, f"{rule.key}:2026-11-29", 10.0, spent, 3600.0)


def ctx() -> RequestContext:
    return RequestContext("req-1", Principal(kind="key", name="k"), "openai")


def alerter(url: str, ledger: MemoryLedger | RedisLedger) -> BudgetAlerter:
    settings = BudgetAlertSettings(targets=[{"url": url, "format": "webhook"}])
    return BudgetAlerter(settings, ledger, AiohttpPoster(5.0), backoff=0.01)


async def test_two_replicas_sharing_redis_send_one_alert(receiver: Receiver, redis_url: str):
    """Both replicas see the team reach 80 %; the Redis ledger lets one of them send."""
    a = alerter(receiver.url, RedisLedger(redis_url))
    b = alerter(receiver.url, RedisLedger(redis_url))
    a.spent(ctx(), level(8.1))
    b.spent(ctx(), level(8.2))
    await a.aclose()
    await b.aclose()
    assert [r.json()["threshold"] for r in receiver.received] == [0.8]


async def test_one_process_sends_each_threshold_once(receiver: Receiver):
    """Repeated levels in one process send nothing new; a higher threshold does."""
    a = alerter(receiver.url, MemoryLedger())
    for spent in (5.0, 6.0, 7.9, 8.0, 9.9, 10.5, 11.0):
        a.spent(ctx(), level(spent))
    await a.aclose()
    assert [r.json()["threshold"] for r in receiver.received] == [0.5, 0.8, 1.0]
