"""A retry that waited out a 503's Retry-After is sent even when time moves on while the
gateway looks for a deployment (a loaded box: tests/opex/test_serve_live.py's
``test_retry_wait_is_upstream_time_not_overhead`` once got the 503 instead of the answer).

The call loop read the clock once to ask the breakers for a deployment and again to
decide what to do when none was free.  Woken a hair before the cool-down ended, the
first reading found the deployment still cooling down and the second found it free
("available in 0 s"), which the plan took for no deployment at all: a 503.  The
dispatcher here runs against a real fake upstream over HTTP with a clock that moves
0.6 s at every reading, which puts the two readings on either side of the cool-down's
end every time.
"""

from __future__ import annotations

from tests.fakes import Fault, start_in_thread

from lockgate.auth.keys import Principal
from lockgate.chat import ChatRequest, ChatResponse
from lockgate.context import RequestContext
from lockgate.dispatcher import Dispatcher
from lockgate.providers.registry import ProviderRegistry
from lockgate.router import Router
from lockgate.settings import settings_from_mapping


class SteppingClock:
    """0.6 s passes between any two readings."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.6
        return self.now


async def test_a_retry_woken_at_the_end_of_the_cool_down_is_sent() -> None:
    with start_in_thread() as fake:
        settings = settings_from_mapping(
            {
                "model_list": [
                    {
                        "model_name": "up",
                        "params": {
                            "model": "openai/gpt-4o-mini",
                            "api_base": fake.openai_base_url,
                            "api_key": "sk-upstream",
                        },
                    }
                ],
                "router_settings": {"num_retries": 2},
            },
            env={},
        )
        router = Router(settings.deployments())
        providers = ProviderRegistry()
        dispatcher = Dispatcher(router, providers, settings.router_settings, clock=SteppingClock())
        fake.push_fault(Fault.error(503, retry_after="1", path="/v1/chat/completions"), times=1)
        ctx = RequestContext(request_id="r1", principal=Principal(kind="master"), api="openai")
        body = {"model": "up", "messages": [{"role": "user", "content": "hello"}]}
        try:
            result = await dispatcher(ctx, ChatRequest(model="up", body=body))
        finally:
            await providers.aclose()
        assert isinstance(result, ChatResponse)
        assert ctx.attempts == 2
