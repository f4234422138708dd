"""The dispatcher makes a request's retry plan (and its Deadline) only when the first
attempt fails or finds no deployment. What the plan did from the start must still
happen: the request counted once in its alias's retry budget whether it is answered at
once or retried, the client's ``x-lockgate-timeout`` refused when malformed before
anything is sent and bounding the attempt when given, retries and fallbacks as before.
A real fake upstream over HTTP, the gateway's own dispatcher and provider clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.fakes import Fault, start_in_thread

from lockgate.auth.keys import Principal
from lockgate.chat import ChatRequest, ChatResponse
from lockgate.context import RequestContext
from lockgate.dispatcher import Dispatcher
from lockgate.errors import BadRequestError, UpstreamTimeoutError
from lockgate.providers.registry import ProviderRegistry
from lockgate.router import Router
from lockgate.settings import settings_from_mapping

PATH = "/v1/chat/completions"


def _settings(base: str, **router: Any) -> Any:
    dep = {"model": "openai/gpt-4o-mini", "api_base": base, "api_key": "sk-upstream"}
    return settings_from_mapping(
        {
            "model_list": [
                {"model_name": "up", "params": dep},
                {"model_name": "other", "params": dep},
            ],
            "router_settings": {"num_retries": 2, "retry_backoff_base": 0.01, **router},
        },
        env={},
    )


@pytest.fixture
async def rig() -> AsyncIterator[tuple[Any, Any]]:
    with start_in_thread() as fake:
        providers = ProviderRegistry()

        def make(**router: Any) -> Dispatcher:
            settings = _settings(fake.openai_base_url, **router)
            return Dispatcher(Router(settings.deployments()), providers, settings.router_settings)

        try:
            yield fake, make
        finally:
            await providers.aclose()


def _ask(model: str = "up", headers: dict[str, str] | None = None) -> tuple[Any, ChatRequest]:
    ctx = RequestContext(
        request_id="r",
        principal=Principal(kind="master"),
        api="openai",
        client_headers=headers or {},
    )
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    return ctx, ChatRequest(model=model, body=body)


def _budget(dispatcher: Dispatcher, alias: str) -> dict[str, float]:
    snap: Any = dispatcher.snapshot()
    return dict(snap["retry_budgets"][alias])


async def test_answered_and_retried_requests_are_each_counted_once(rig) -> None:
    fake, make = rig
    dispatcher = make()
    for _ in range(3):
        ctx, req = _ask()
        assert isinstance(await dispatcher(ctx, req), ChatResponse)
        assert ctx.attempts == 1
    assert _budget(dispatcher, "up")["requests"] == 3
    assert _budget(dispatcher, "up")["retries"] == 0
    fake.push_fault(Fault.error(503, path=PATH), times=1)
    ctx, req = _ask()
    assert isinstance(await dispatcher(ctx, req), ChatResponse)
    assert ctx.attempts == 2
    assert [a["status"] for a in ctx.attempt_log] == [503, 200]
    # one more request (not two), one retry spent from the budget
    assert _budget(dispatcher, "up")["requests"] == 4
    assert _budget(dispatcher, "up")["retries"] == 1
    assert _budget(dispatcher, "other")["requests"] == 0


async def test_a_spent_budget_still_stops_the_first_retry(rig) -> None:
    fake, make = rig
    dispatcher = make(retry_budget_ratio=0.0, retry_budget_min_per_second=0.0)
    fake.push_fault(Fault.error(503, path=PATH), times=None)
    ctx, req = _ask()
    with pytest.raises(Exception) as failed:
        await dispatcher(ctx, req)
    assert getattr(failed.value, "status", None) == 503
    assert ctx.attempts == 1 and len(fake.requests_to(PATH)) == 1
    assert _budget(dispatcher, "up")["requests"] == 1


async def test_a_fallback_after_a_failed_first_attempt(rig) -> None:
    fake, make = rig
    dispatcher = make(num_retries=0, fallbacks=[{"up": ["other"]}])
    fake.push_fault(Fault.error(503, path=PATH), times=1)
    ctx, req = _ask()
    assert isinstance(await dispatcher(ctx, req), ChatResponse)
    assert ctx.notes["fallbacks"] == ["other"] and ctx.attempts == 2
    assert _budget(dispatcher, "up")["requests"] == 1
    assert _budget(dispatcher, "other")["requests"] == 1


async def test_the_clients_timeout_header_is_checked_and_bounds_the_attempt(rig) -> None:
    fake, make = rig
    dispatcher = make(num_retries=0)
    ctx, req = _ask(headers={"x-lockgate-timeout": "soon"})
    with pytest.raises(BadRequestError):
        await dispatcher(ctx, req)
    assert fake.requests_to(PATH) == [] and ctx.attempts == 0
    assert _budget(dispatcher, "up")["requests"] == 0
    fake.push_fault(Fault.slow_headers(3.0, path=PATH), times=1)
    ctx, req = _ask(headers={"x-lockgate-timeout": "0.3"})
    with pytest.raises(UpstreamTimeoutError):
        await dispatcher(ctx, req)
    assert ctx.attempts == 1
