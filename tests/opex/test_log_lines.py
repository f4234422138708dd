"""Log lines an operator runs on: text format, storm control, breaker and limiter events."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from lockgate.events import BreakerLog
from lockgate.limits import Limiter, LimitRule, RedisLimitStore, create_limit_store
from lockgate.logs import (
    JsonFormatter,
    LineBudget,
    LogSettings,
    RateLimitFilter,
    RequestLogSink,
    configure_logging,
)
from lockgate.records import RequestRecord


def record(**overrides) -> RequestRecord:
    data = {
        "request_id": "req_abc",
        "started_at": time.time(),
        "api": "openai",
        "key_id": "key_1",
        "key_name": "team a",
        "team": None,
        "user": None,
        "model": "mock",
        "provider": "mock",
        "deployment": "mock#0",
        "upstream_model": "mock-1",
        "status": 200,
        "error_type": None,
        "error_code": None,
        "stream": False,
        "prompt_tokens": 8,
        "completion_tokens": 12,
        "cached_tokens": 0,
        "cost_usd": 0.5,
        "latency_ms": 3.5,
        "overhead_ms": 0.5,
        "ttft_ms": None,
        "attempts": 1,
        "cache": "miss",
    }
    data.update(overrides)
    return RequestRecord(**data)


class _Collect(logging.Handler):
    """Records reaching one logger, however the lockgate logger propagates."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger(name)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> _Collect:
        self.saved = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved)


@pytest.fixture()
def lockgate_log() -> Iterator[io.StringIO]:
    """configure_logging into a buffer; the lockgate logger restored afterwards."""
    logger = logging.getLogger("lockgate")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    buf = io.StringIO()
    yield buf
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_text_format_access_line(lockgate_log):
    """logs.format text: one key=value line, strings with spaces quoted, nulls left out."""
    configure_logging("info", stream=lockgate_log, logs=LogSettings(format="text"))
    RequestLogSink().submit(record(user="sk-" + "x" * 20))
    (line,) = lockgate_log.getvalue().splitlines()
    stamp, level, logger, msg, _ = line.split(" ", 4)
    assert stamp.endswith("Z") and (level, logger, msg) == ("info", "lockgate.requests", "request")
    text = line.split(" request ", 1)[1]
    assert 'request_id=req_abc api=openai key_id=key_1 key_name="team a"' in text
    assert "status=200" in text and "deployment=mock#0" in text and "cache=miss" in text
    assert "team=" not in text and "ttft_ms=" not in text
    assert "user=***" in text and "x" * 20 not in text


def test_json_access_line_is_one_object_with_upstream_ms(lockgate_log):
    """The default JSON line carries overhead and upstream time separately."""
    configure_logging("info", stream=lockgate_log)
    RequestLogSink().submit(record(status=503, error_code="upstream_unavailable"))
    (line,) = lockgate_log.getvalue().splitlines()
    data = json.loads(line)
    assert (data["level"], data["status"], data["error_code"]) == (
        "warning",
        503,
        "upstream_unavailable",
    )
    assert (data["overhead_ms"], data["upstream_ms"]) == (0.5, 3.0)


def test_line_budget_counts_what_it_holds_back():
    """At most `limit` lines per key per window; the next one admitted reports the rest."""
    budget = LineBudget(limit=2, window=60.0)
    assert [budget.admit("a", t)[0] for t in (0, 1, 2, 3)] == [True, True, False, False]
    assert budget.admit("b", 4) == (True, 0)  # keys are separate
    assert budget.admit("a", 59) == (False, 0)
    assert budget.admit("a", 61) == (True, 3)
    assert budget.admit("a", 62) == (True, 0)


def test_storm_of_writer_failures_stays_readable():
    """Same-template warnings are capped per minute; access lines never are."""
    now = [0.0]
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RateLimitFilter(3, clock=lambda: now[0]))
    usage = logging.getLogger("lockgate.test.usage")
    access = logging.getLogger("lockgate.requests.test")
    usage.addHandler(handler)
    access_handler_logger = logging.getLogger("lockgate.requests")
    access_handler_logger.addHandler(handler)
    old = (usage.propagate, access_handler_logger.propagate, access_handler_logger.level)
    usage.propagate = access_handler_logger.propagate = False
    access_handler_logger.setLevel(logging.INFO)
    try:
        for n in range(100):
            usage.warning("usage writer: batch of %d records not written; will retry", n)
        sink = RequestLogSink()
        for _ in range(10):
            sink.submit(record(status=502))
        now[0] = 61.0
        usage.warning("usage writer: batch of %d records not written; will retry", 100)
    finally:
        usage.removeHandler(handler)
        access_handler_logger.removeHandler(handler)
        usage.propagate, access_handler_logger.propagate = old[0], old[1]
        access_handler_logger.setLevel(old[2])
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    writer = [x for x in lines if x["logger"] == "lockgate.test.usage"]
    assert [x["msg"] for x in writer] == [
        f"usage writer: batch of {n} records not written; will retry" for n in (0, 1, 2, 100)
    ]
    assert writer[-1]["suppressed"] == 97
    assert len([x for x in lines if x["logger"] == "lockgate.requests"]) == 10
    assert access.name  # a child of the access logger is not the access logger itself


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def state_changed(self, name, old, new, now) -> None:
        self.events.append((name, old, new))

    def cooldown_started(self, name, seconds, now) -> None:
        self.events.append((name, "cooldown", seconds))


def test_breaker_transitions_are_logged_and_passed_on():
    """A real breaker opening and closing again logs each transition once."""
    from lockgate.errors import UpstreamOverloadedError
    from lockgate.resilience import BreakerConfig, CircuitBreaker

    inner = _Recorder()
    cfg = BreakerConfig(consecutive_failures=2, open_s=10.0, half_open_probes=1)
    breaker = CircuitBreaker("up#0", cfg, listener=BreakerLog(inner))
    with _Collect("lockgate.breaker") as caught:
        for t in (0.0, 1.0):
            permit = breaker.allow(t)
            assert permit is not None
            breaker.record_failure(permit, t, UpstreamOverloadedError("boom"))
        permit = breaker.allow(20.0)  # half-open probe
        assert permit is not None
        breaker.record_success(permit, 20.0)
    lines = [(r.getMessage(), r.levelname, r.deployment) for r in caught.records]
    assert ("circuit breaker open", "WARNING", "up#0") in lines
    assert ("circuit breaker closed", "INFO", "up#0") in lines
    assert ("up#0", "closed", "open") in inner.events


class _CallerRecorder(_Recorder):
    def caller_state_changed(self, name, caller, old, new, now) -> None:
        self.events.append((name, caller, new))

    def callers_tracked(self, name, count) -> None:
        self.events.append((name, "tracked", count))


def test_a_caller_cut_off_alone_is_logged_with_its_key_id():
    """The line names the deployment and the caller (a key id), not the key."""
    from lockgate.errors import UpstreamOverloadedError
    from lockgate.resilience import BreakerConfig, CircuitBreaker

    inner = _CallerRecorder()
    log = BreakerLog(inner)
    cfg = BreakerConfig(consecutive_failures=2, open_s=10.0)
    breaker = CircuitBreaker("up#0", cfg, listener=log, caller_listener=log)
    with _Collect("lockgate.breaker") as caught:
        for t in (0.0, 1.0):
            ok = breaker.allow(t, "k-good")
            assert ok is not None
            breaker.record_success(ok, t)
            bad = breaker.allow(t, "k-bad")
            assert bad is not None
            breaker.record_failure(bad, t, UpstreamOverloadedError("boom"))
    lines = [(r.getMessage(), r.deployment, getattr(r, "caller", None)) for r in caught.records]
    assert lines == [("circuit breaker open for one caller", "up#0", "k-bad")]
    assert ("up#0", "k-bad", "open") in inner.events and ("up#0", "tracked", 1) in inner.events
    assert breaker.state(1.0) == "closed"


async def test_limiter_outage_and_recovery_are_one_line_each(own_redis):
    """Redis going away logs once (not per request); coming back logs once."""
    now = [1000.0]
    store = create_limit_store(own_redis.url, failure_mode="fail_open", timeout=0.1, cooldown=0)
    assert isinstance(store, RedisLimitStore)
    limiter = Limiter(store, lambda: now[0])
    rules = [LimitRule.requests("key:a", "100/minute")]
    try:
        with _Collect("lockgate.limits") as caught:
            await limiter.reserve(rules)
            own_redis.stop()
            for _ in range(5):
                now[0] += 1
                assert (await limiter.reserve(rules)).decision.degraded
            own_redis.start()
            now[0] += 1
            assert not (await limiter.reserve(rules)).decision.degraded
            await limiter.reserve(rules)
    finally:
        await store.aclose()
    messages = [r.getMessage() for r in caught.records]
    assert messages == [
        "limit store (Redis) unreachable; admitting requests unchecked until it answers",
        "limit store (Redis) reachable again; limits enforced",
    ]


def test_failed_attempt_line_says_what_happens_next():
    """One line per failed attempt: retrying (with the wait), falling back (to which), giving up."""
    from lockgate.auth.keys import Principal
    from lockgate.context import RequestContext
    from lockgate.errors import UpstreamOverloadedError
    from lockgate.events import note_failed_attempt
    from lockgate.resilience import Fallback, GiveUp, Retry

    ctx = RequestContext(request_id="req_1", principal=Principal(kind="anonymous"), api="openai")
    ctx.attempts = 2
    error = UpstreamOverloadedError("the upstream is overloaded")
    with _Collect("lockgate.upstream") as caught:
        note_failed_attempt(ctx, "up#0", error, Retry(0.25))
        note_failed_attempt(ctx, "up#1", error, Fallback("backup", "attempts_exhausted"))
        note_failed_attempt(ctx, None, error, GiveUp(error, "attempts_exhausted"))
    got = [
        (r.getMessage(), r.deployment, getattr(r, "retry_in_s", None), getattr(r, "fallback", None))
        for r in caught.records
    ]
    assert got == [
        ("upstream error; retrying", "up#0", 0.25, None),
        ("upstream error; falling back", "up#1", None, "backup"),
        ("upstream error; giving up", None, None, None),
    ]
    assert all(r.request_id == "req_1" and r.status == 503 for r in caught.records)
