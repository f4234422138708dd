"""The request's span names the resolved prompt version."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.prompts.conftest import gateway_settings
from tests.support import traced_gateway

from lockgate.prompts.spec import parse_spec


async def test_span_carries_the_prompt(tmp_path: Path):
    """The SERVER span of a prompt-bearing chat has lockgate.prompt = name@version."""
    mem = InMemorySpanExporter()
    settings = gateway_settings(f"sqlite+aiosqlite:///{tmp_path}/gw.db")
    async with traced_gateway(settings, mem) as (client, svc):
        spec = {
            "name": "faq",
            "model": "mock",
            "messages": [{"role": "user", "content": "{{ q }}"}],
            "labels": ["production"],
        }
        await svc.prompts.prompts.push(parse_spec(spec), "test")
        await svc.prompts.registry.refresh()
        body = {"prompt": {"name": "faq", "variables": {"q": "hours?"}}}
        r = await client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
    root = next(s for s in mem.get_finished_spans() if s.name == "chat mock")
    assert root.attributes["lockgate.prompt"] == "faq@1"
