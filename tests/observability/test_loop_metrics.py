"""The loop-only metric classes render exactly what prometheus_client's own render."""

from __future__ import annotations

import itertools
import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from lockgate.auth.keys import Principal
from lockgate.chat import Usage
from lockgate.context import RequestContext
from lockgate.metrics import Metrics, _LoopCounter, _LoopHistogram
from lockgate.settings import Deployment, ModelParams

BUCKETS = (0.005, 0.01, 0.025, 0.1, 1, 10)
#: on a bound, between bounds, below the first, above the last, zero, negative
AMOUNTS = (0.005, 0.0051, 0.001, 0.01, 0.5, 1.0, 10.0, 11.0, 1e9, 0.0, -1.0, 0.025)


def _render(counter: type[Counter], histogram: type[Histogram]) -> list[str]:
    registry = CollectorRegistry()
    c = counter("c", "a counter", ["a"], registry=registry)
    h = histogram("h", "a histogram", ["a"], buckets=BUCKETS, registry=registry)
    plain = histogram("p", "no labels", buckets=BUCKETS, registry=registry)
    for i, amount in enumerate(AMOUNTS):
        label = "x" if i % 3 else "y"
        c.labels(label).inc(abs(amount))
        h.labels(label).observe(amount)
        plain.observe(amount)
    c.labels("z").inc()
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_loop_metrics_render_like_prometheus_client():
    assert _render(_LoopCounter, _LoopHistogram) == _render(Counter, Histogram)


def test_negative_increment_refused_like_prometheus_client():
    c = _LoopCounter("c", "a counter", registry=CollectorRegistry())
    with pytest.raises(ValueError, match="non-negative"):
        c.inc(-1)


def test_inflight_gauge_reads_the_count_at_scrape():
    metrics = Metrics()
    metrics.request_started()
    metrics.request_started()
    metrics.request_finished()
    assert "lockgate_inflight_requests 1.0" in metrics.render().decode()


def _finished(i: int, labels: tuple[int, ...]) -> tuple[RequestContext, str, int]:
    """A finished request with each label chosen by ``labels`` independently of the
    others (model, deployment, key, status, cache; with or without usage)."""
    model, dep, key, status, cache, used = labels
    ctx = RequestContext(
        request_id=f"r{i}",
        principal=Principal(kind="key", key_id="k", name=("a", "b", None)[key]),
        api="openai",
    )
    ctx.deployment = DEPLOYMENTS[dep]
    ctx.cache_status = (None, "miss", "hit")[cache]
    ctx.upstream_seconds = 0.001 * (i % 7)
    ctx.started = 100.0
    ctx.first_chunk_at = 100.0 + 0.01 * i if i % 5 == 0 else None
    if used:
        ctx.usage = Usage(prompt_tokens=i, completion_tokens=2 * i % 9)
    ctx.cost = 0.001 * (i % 3)
    ctx.priced = i % 4 != 1
    return ctx, ("m1", "m2")[model], (200, 400, 429, 502)[status]


DEPLOYMENTS = [
    None,
    Deployment(id="a#0", alias="a", params=ModelParams(model="openai/gpt-4o-mini")),
    Deployment(id="m#0", alias="m", params=ModelParams(model="mock/mock-1")),
]


def test_rows_of_children_observe_what_a_lookup_per_series_observes():
    """Finished requests counted through kept rows of children render exactly as the
    same requests counted with a fresh lookup for every series (no row kept)."""
    kept, fresh = Metrics(), Metrics()
    fresh._max_rows = 0
    combos = list(itertools.product(range(2), range(3), range(3), range(4), range(3), range(2)))
    random.Random(7).shuffle(combos)
    for i, labels in enumerate(combos * 2):
        ctx, model, status = _finished(i, labels)
        for metrics in (kept, fresh):
            metrics.observe(ctx, model, status, 0.05 + 0.001 * i, 101.0, saved=0.0)
    assert len(kept._rows) > 0 and not fresh._rows

    def lines(m: Metrics) -> list[str]:
        return [line for line in m.render().decode().splitlines() if "_created" not in line]

    assert lines(kept) == lines(fresh)
    text = "\n".join(lines(kept))
    # series appear only once observed: nothing streamed to the deployment-less requests
    assert 'gen_ai_server_time_to_first_token_seconds_count{gen_ai_request_model="m1"' in text
    assert (
        'lockgate_upstream_duration_seconds_count{gen_ai_request_model="m1",gen_ai_system="none"'
        not in text
    )
