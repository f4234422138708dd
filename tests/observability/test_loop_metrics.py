"""The loop-only metric classes render exactly what prometheus_client's own render."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from lockgate.metrics import Metrics, _LoopCounter, _LoopHistogram

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
