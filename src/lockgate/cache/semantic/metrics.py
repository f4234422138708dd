"""Prometheus view of the semantic cache: errors, live false-hit estimates, operating points.

A custom collector reads the stage's counters and ``LiveEstimator`` at scrape
time, so the request path updates plain integers only. Register it on the
gateway's registry: ``registry.register(SemanticCollector(stage))``.

* ``lockgate_semantic_errors_total{where,error}`` - failures served as misses
* ``lockgate_semantic_false_hit_rate{alias,bound}`` - wrong / verified served
  hits, ``bound`` = ``estimate``, ``lower``, ``upper`` (95% Wilson interval)
* ``lockgate_semantic_verified_hits_total{alias,outcome}`` - right, wrong, error
* ``lockgate_semantic_accept_threshold{alias}`` - the verifier probability a hit
  needs now (a near copy's bar; rises or stays when the alias is tightened)
* ``lockgate_semantic_accept_reworded_threshold{alias}`` - the sentence cosine a
  rewording needs now (a calibration may tighten only this bar over some budgets)
* ``lockgate_semantic_tightenings_total{alias}``
* ``lockgate_semantic_loosenings_total{alias}`` - a tightened alias restored a
  looser point after its marginal candidates, compared unserved, were right
* ``lockgate_semantic_probes{alias,outcome}`` - those comparisons since the
  alias's last change (``right``/``wrong``; they restart at each change)
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lockgate.cache.semantic.stage import SemanticCacheStage

__all__ = ["SemanticCollector"]


class SemanticCollector(Collector):
    def __init__(self, stage: SemanticCacheStage) -> None:
        self.stage = stage

    def collect(self) -> Iterator[Metric]:
        stage = self.stage
        errors = CounterMetricFamily(
            "lockgate_semantic_errors",
            "Semantic cache failures served as misses, by where and exception type.",
            labels=["where", "error"],
        )
        for kind, count in sorted(stage.stats.errors.items()):
            where, _, error = kind.partition(":")
            errors.add_metric([where, error], count)
        if stage.shared is not None and stage.shared.refresh_errors:
            # reading the replicas' shared live tallies failed (the last state is kept)
            errors.add_metric(["live", "refresh"], stage.shared.refresh_errors)
        yield errors
        rate = GaugeMetricFamily(
            "lockgate_semantic_false_hit_rate",
            "Live estimate of wrong served semantic hits (sampled, re-asked upstream), "
            "with its 95% Wilson interval.",
            labels=["alias", "bound"],
        )
        verified = CounterMetricFamily(
            "lockgate_semantic_verified_hits",
            "Served semantic hits re-asked upstream, by outcome.",
            labels=["alias", "outcome"],
        )
        accept = GaugeMetricFamily(
            "lockgate_semantic_accept_threshold",
            "Verifier probability a semantic hit needs now, per alias.",
            labels=["alias"],
        )
        reworded = GaugeMetricFamily(
            "lockgate_semantic_accept_reworded_threshold",
            "Sentence cosine a reworded question needs now for a semantic hit, per alias.",
            labels=["alias"],
        )
        tightenings = CounterMetricFamily(
            "lockgate_semantic_tightenings",
            "Times live verification tightened an alias's operating point.",
            labels=["alias"],
        )
        loosenings = CounterMetricFamily(
            "lockgate_semantic_loosenings",
            "Times a tightened alias got a looser operating point back on evidence.",
            labels=["alias"],
        )
        probes = GaugeMetricFamily(
            "lockgate_semantic_probes",
            "Unserved marginal candidates of a tightened alias compared with the fresh "
            "answer since its last change, by outcome.",
            labels=["alias", "outcome"],
        )
        live = stage.live
        verifier = stage.cache.verifier
        for alias, settings in sorted(stage.aliases.items()):
            if verifier is not None and stage.cache.verifies(settings):
                budget = settings.max_false_hit_rate
                est = live.estimate(alias) if live is not None else None
                effective = est.effective_budget if est is not None else budget
                strictest = verifier.calibration[0][0]
                point = verifier.operating_point(effective)
                closed = effective < strictest
                accept.add_metric([alias], math.inf if closed else point.accept)
                if point.accept_reworded is not None:
                    reworded.add_metric([alias], math.inf if closed else point.accept_reworded)
            if live is None:
                continue
            est = live.estimate(alias)
            if est is None:
                continue
            if est.rate is not None:
                rate.add_metric([alias, "estimate"], est.rate)
            rate.add_metric([alias, "lower"], est.low)
            rate.add_metric([alias, "upper"], est.high)
            verified.add_metric([alias, "right"], est.verified - est.wrong)
            verified.add_metric([alias, "wrong"], est.wrong)
            verified.add_metric([alias, "error"], live.errors(alias))
            tightenings.add_metric([alias], est.tightenings)
            loosenings.add_metric([alias], est.loosenings)
            probes.add_metric([alias, "right"], est.probed - est.probe_wrong)
            probes.add_metric([alias, "wrong"], est.probe_wrong)
        yield rate
        yield verified
        yield accept
        yield reworded
        yield tightenings
        yield loosenings
        yield probes
