"""The request's span carries the routing decision."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.routing.test_route_stage import config
from tests.support import traced_gateway

from lockgate.settings import settings_from_mapping


async def test_span_carries_the_route(tmp_path: Path) -> None:
    """The SERVER span of a routed chat names the routing alias, the target, the score
    and the threshold, as the x-lockgate-route header does."""
    mem = InMemorySpanExporter()
    settings = settings_from_mapping(config(tmp_path, {"threshold": 0.25}), env={})
    async with traced_gateway(settings, mem) as (client, _):
        body = {"model": "smart", "messages": [{"role": "user", "content": "Hi there!"}]}
        r = await client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
    header = dict(part.split("=") for part in r.headers["x-lockgate-route"].split("; ")[1:])
    span = next(s for s in mem.get_finished_spans() if s.attributes.get("lockgate.route.alias"))
    assert span.attributes["lockgate.route.alias"] == "smart"
    assert span.attributes["lockgate.route.target"] == header["target"]
    assert span.attributes["lockgate.route.threshold"] == 0.25
    assert f"{span.attributes['lockgate.route.score']:.6f}" == header["score"]
