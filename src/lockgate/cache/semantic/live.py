"""Live false-hit estimation: how often a served semantic hit was the wrong answer.

A sampled share (``verify_sample_rate``) of served hits is also sent upstream,
off the client's path, and the fresh answer is compared with the cached one.
``LiveEstimator`` keeps the counts per alias and per partition, gives the rate
with a 95% confidence interval (Wilson score, from scipy), and *tightens* the
operating point when the interval's upper bound passes the alias's budget:

* the rate measured here is wrong hits / verified served hits (what a user of
  the cache experiences), the quantity ``max_false_hit_rate`` bounds;
* a tightening needs at least one observed wrong hit since the last one (with
  no failures the upper bound of a small sample is always above a 1% budget,
  and tightening on no evidence would only throw hits away); it then halves
  the budget the verifier's threshold is read at, so the alias moves to the
  next stricter calibrated operating point; below the strictest calibrated
  budget it serves no semantic hits at all;
* per partition as well as per alias (vCache learns a threshold per cache
  entry; a partition is the unit with enough traffic to learn from here): a
  partition whose own samples break the budget is tightened alone, so one
  system prompt that attracts near misses does not cost the others their hits;
* a tightened alias or partition *loosens* again on evidence, at no risk to
  clients: while tightened, a lookup whose best candidate passes the next
  looser point but not the current one (the marginal band) is a miss as
  before, and the stage compares that candidate's answer with the fresh one
  upstream gives anyway (``probe_point`` / ``record_probe``). When the 95%
  upper bound of the marginal band's own wrong rate is within the budget
  (at a 1% budget: at least 381 probes, none wrong), the looser point is
  restored. The band is the riskiest part of the looser point, so the whole
  looser point is then within the budget too; a closed partition (nothing
  served) reopens the same way, which it never could while it served nothing;
* one tenant cannot tighten an alias for every tenant (``count_alias_hit``): the
  alias's tally keeps each *source* (the tenant) apart, and its tightening is
  decided on the evidence of every source but the one with the most wrong hits.
  A tenant that provokes wrong hits (a cost attack on the others' hit rates)
  tightens its own partitions at once, on its own evidence, and the alias not
  at all; a real wrong-hit rate spread over tenants still tightens the alias at
  the second tenant's wrong hit (dropping one source of many hardly changes
  the bound). An alias that only one source has verified hits on is that
  source's alone: there is nobody else to protect, and its evidence counts.
  Tenants, not partitions, are the unit: a tenant makes new partitions at will
  (another system prompt, another temperature), not new tenants.

Pure: no I/O, no clock; the stage owns one and feeds it outcomes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from lockgate.cache.semantic.verifier import OperatingPoint, Verifier

__all__ = [
    "Estimate",
    "LiveEstimator",
    "SourceCount",
    "Tally",
    "count_alias_hit",
    "count_hit",
    "count_probe",
    "proportion_interval",
    "wilson_interval",
]

#: the squared 97.5% normal quantile (the 95% Wilson interval's z)
_Z2 = 1.959963984540054**2


def proportion_interval(
    k: int, n: int, *, confidence: float = 0.95, method: str = "wilson"
) -> tuple[float, float]:
    """Confidence interval of ``k / n``: Wilson score or Clopper-Pearson (``"exact"``).

    ``(0, 1)`` when ``n`` is 0: no data rules nothing out.
    """
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method=method)
    return float(ci.low), float(ci.high)


def wilson_interval(wrong: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of ``wrong / n``."""
    return proportion_interval(wrong, n)


@dataclass(slots=True)
class Tally:
    """Verified hits and wrong ones: in total, and since the last tightening."""

    verified: int = 0
    wrong: int = 0
    errors: int = 0
    window_verified: int = 0
    window_wrong: int = 0
    #: the budget the verifier's threshold is currently read at
    budget: float = 0.0
    tightenings: int = 0
    loosenings: int = 0
    #: candidates of the marginal band compared since the last change, and the
    #: budget level they were probing (counts restart when that level changes)
    probe_level: float = 0.0
    probed: int = 0
    probe_wrong: int = 0
    #: an alias's tally only: the source (tenant) with the most wrong hits, and its
    #: counts, which its tightening leaves out (``count_alias_hit``)
    top_source: str = ""
    top_verified: int = 0
    top_wrong: int = 0


@dataclass(slots=True)
class SourceCount:
    """One source's (tenant's) verified and wrong hits on an alias."""

    verified: int = 0
    wrong: int = 0


def _tighten(tally: Tally, min_budget: float) -> None:
    tally.budget = max(tally.budget / 2.0, min_budget)
    tally.tightenings += 1
    tally.window_verified = tally.window_wrong = 0
    tally.probed = tally.probe_wrong = 0


def count_hit(tally: Tally, budget: float, *, wrong: bool, min_budget: float) -> bool:
    """Count one verified hit in ``tally``; True if it tightened (halved its budget):
    a wrong one since the last change and the 95% upper bound above ``budget``."""
    tally.verified += 1
    tally.window_verified += 1
    if wrong:
        tally.wrong += 1
        tally.window_wrong += 1
    if tally.window_wrong < 1 or tally.budget <= min_budget:
        return False
    _, high = wilson_interval(tally.wrong, tally.verified)
    if high <= budget:
        return False
    _tighten(tally, min_budget)
    return True


def count_alias_hit(
    tally: Tally, own: SourceCount, source: str, budget: float, *, wrong: bool, min_budget: float
) -> bool:
    """Count one verified hit of ``source`` (whose counts so far are ``own``) in an
    alias's ``tally``; True if it tightened.

    As ``count_hit``, but the decision leaves out the source with the most wrong
    hits (``tally.top_source``): it is taken on a wrong hit of another source, when
    the 95% upper bound of the *other* sources' wrong hits among their verified ones
    is above ``budget``. While every verified hit is one source's, that source's
    evidence decides (nobody else shares the alias's operating point yet).
    """
    own.verified += 1
    own.wrong += int(wrong)
    tally.verified += 1
    tally.window_verified += 1
    if wrong:
        tally.wrong += 1
        tally.window_wrong += 1
    if source == tally.top_source:
        tally.top_verified, tally.top_wrong = own.verified, own.wrong
    elif own.wrong > tally.top_wrong or tally.verified == own.verified:
        # more wrong hits than the top source (ties keep it), or the first source
        tally.top_source, tally.top_verified, tally.top_wrong = source, own.verified, own.wrong
    if not wrong or tally.budget <= min_budget:
        return False
    others = tally.verified - tally.top_verified
    if others == 0:
        counted, among = tally.wrong, tally.verified
    elif source == tally.top_source:
        return False  # the top source's own wrong hits decide nothing for the others
    else:
        counted, among = tally.wrong - tally.top_wrong, others
    _, high = wilson_interval(counted, among)
    if high <= budget:
        return False
    _tighten(tally, min_budget)
    return True


def count_probe(tally: Tally, level: float, budget: float, *, wrong: bool) -> bool:
    """Count one compared candidate of the band up to ``level`` in ``tally`` (if it is
    stricter than that level); True if it loosened to ``level``: the probes' 95% upper
    bound within ``budget``."""
    if tally.budget >= level:
        return False
    if tally.probe_level != level:
        tally.probe_level, tally.probed, tally.probe_wrong = level, 0, 0
    tally.probed += 1
    tally.probe_wrong += int(wrong)
    # the Wilson bound is at least z^2 / (n + z^2) (its value at no wrong
    # one): skip the exact interval while even that is above the budget
    if _Z2 / (tally.probed + _Z2) > budget:
        return False
    _, high = wilson_interval(tally.probe_wrong, tally.probed)
    if high > budget:
        return False
    tally.budget = level
    tally.loosenings += 1
    tally.probed = tally.probe_wrong = 0
    tally.window_verified = tally.window_wrong = 0
    return True


@dataclass(frozen=True, slots=True)
class Estimate:
    verified: int
    wrong: int
    rate: float | None
    low: float
    high: float
    budget: float
    effective_budget: float
    tightenings: int
    loosenings: int = 0
    probed: int = 0
    probe_wrong: int = 0


class LiveEstimator:
    """Per-alias and per-partition tallies of verified semantic hits."""

    def __init__(
        self, verifier: Verifier | None, *, max_partitions: int = 10_000, min_budget: float = 1e-4
    ) -> None:
        self.verifier = verifier
        self.max_partitions = max_partitions
        self.min_budget = min_budget
        self._aliases: dict[str, Tally] = {}
        self._budgets: dict[str, float] = {}
        #: per alias: each source's counts (most recent last, at most ``max_partitions``)
        self._sources: dict[str, OrderedDict[str, SourceCount]] = {}
        self._partitions: OrderedDict[tuple[str, str], Tally] = OrderedDict()

    def _alias(self, alias: str, budget: float) -> Tally:
        tally = self._aliases.get(alias)
        if tally is None:
            tally = self._aliases[alias] = Tally(budget=budget)
            self._budgets[alias] = budget
        return tally

    def _partition(self, alias: str, partition: str, budget: float) -> Tally:
        key = (alias, partition)
        tally = self._partitions.get(key)
        if tally is None:
            tally = self._partitions[key] = Tally(budget=budget)
            while len(self._partitions) > self.max_partitions:
                self._partitions.popitem(last=False)
        else:
            self._partitions.move_to_end(key)
        return tally

    def source(self, alias: str, source: str) -> SourceCount:
        """``source``'s counts on ``alias`` in this process (made when new)."""
        counts = self._sources.setdefault(alias, OrderedDict())
        own = counts.get(source)
        if own is None:
            own = counts[source] = SourceCount()
            while len(counts) > self.max_partitions:
                counts.popitem(last=False)
        else:
            counts.move_to_end(source)
        return own

    def _tallies(self, alias: str, partition: str) -> list[Tally]:
        found = (self._aliases.get(alias), self._partitions.get((alias, partition)))
        return [t for t in found if t is not None]

    def _effective(self, alias: str, partition: str, budget: float) -> float:
        return min([budget] + [t.budget for t in self._tallies(alias, partition)])

    def _point(self, effective: float) -> OperatingPoint:
        assert self.verifier is not None
        if effective < self.verifier.calibration[0][0]:
            return self.verifier.closed()  # stricter than any calibrated point: serve nothing
        return self.verifier.operating_point(effective)

    def accept_threshold(self, alias: str, partition: str, budget: float) -> OperatingPoint | None:
        """The operating point for this alias and partition, or ``None`` for the default."""
        if self.verifier is None:
            return None
        effective = self._effective(alias, partition, budget)
        if effective >= budget:
            return None
        return self._point(effective)

    def _probe_level(self, alias: str, partition: str, budget: float) -> float | None:
        """The next looser budget level (doubling, at most ``budget``) whose operating
        point differs from the current one; ``None`` when not tightened or none does."""
        if self.verifier is None:
            return None
        effective = self._effective(alias, partition, budget)
        if effective >= budget:
            return None
        current = self._point(effective)
        level = effective
        while level < budget:
            level = min(level * 2.0, budget)
            if self._point(level) != current:
                return level
        return None

    def probe_level(
        self, alias: str, partition: str, budget: float, probed: OperatingPoint | None
    ) -> float | None:
        """The level a probe of ``probed`` (the looser point a lookup tested) counts at;
        ``None`` when nothing is probed now or the band has changed since."""
        level = self._probe_level(alias, partition, budget)
        if level is None or (probed is not None and self._point(level) != probed):
            return None
        return level

    def tally(self, alias: str, partition: str | None, budget: float) -> Tally:
        """The alias's (``partition`` None) or the partition's tally, made at ``budget``."""
        if partition is None:
            return self._alias(alias, budget)
        return self._partition(alias, partition, budget)

    def known(self, alias: str, partition: str) -> tuple[Tally | None, Tally | None]:
        """The alias's and the partition's tallies, where they exist."""
        return self._aliases.get(alias), self._partitions.get((alias, partition))

    def partitions(self) -> list[tuple[str, str, Tally]]:
        return [(a, p, t) for (a, p), t in self._partitions.items()]

    def default_budget(self, alias: str) -> float | None:
        return self._budgets.get(alias)

    def probe_point(self, alias: str, partition: str, budget: float) -> OperatingPoint | None:
        """The looser point a tightened alias or partition probes (``None``: nothing to probe)."""
        level = self._probe_level(alias, partition, budget)
        return None if level is None else self._point(level)

    def record_probe(
        self,
        alias: str,
        partition: str,
        budget: float,
        *,
        wrong: bool,
        probed: OperatingPoint | None = None,
    ) -> bool:
        """Count one compared candidate of the marginal band; True if this loosened something.

        Every tally stricter than the probed level counts it; one whose probes'
        95% upper bound is within ``budget`` moves up to that level. ``probed``: the
        looser point the lookup tested; an outcome that arrives after the band
        changed (a tightening or loosening meanwhile) counts for nothing.
        """
        level = self.probe_level(alias, partition, budget, probed)
        if level is None:
            return False
        loosened = False
        for tally in self._tallies(alias, partition):
            loosened |= count_probe(tally, level, budget, wrong=wrong)
        return loosened

    def record(
        self, alias: str, partition: str, budget: float, *, wrong: bool, source: str = ""
    ) -> bool:
        """Count one verified hit of ``source`` (the tenant the partition belongs to);
        return True if this outcome tightened something."""
        tightened = count_alias_hit(
            self._alias(alias, budget),
            self.source(alias, source),
            source,
            budget,
            wrong=wrong,
            min_budget=self.min_budget,
        )
        partition_tally = self._partition(alias, partition, budget)
        tightened |= count_hit(partition_tally, budget, wrong=wrong, min_budget=self.min_budget)
        return tightened

    def record_error(self, alias: str, budget: float) -> None:
        """A verification that could not be made (upstream failed, answer unreadable)."""
        self._alias(alias, budget).errors += 1

    def estimate(self, alias: str) -> Estimate | None:
        tally = self._aliases.get(alias)
        if tally is None:
            return None
        low, high = wilson_interval(tally.wrong, tally.verified)
        return Estimate(
            verified=tally.verified,
            wrong=tally.wrong,
            rate=tally.wrong / tally.verified if tally.verified else None,
            low=low,
            high=high,
            budget=self._budgets[alias],
            effective_budget=tally.budget,
            tightenings=tally.tightenings,
            loosenings=tally.loosenings,
            probed=tally.probed,
            probe_wrong=tally.probe_wrong,
        )

    def aliases(self) -> list[str]:
        return sorted(self._aliases)

    def errors(self, alias: str) -> int:
        tally = self._aliases.get(alias)
        return tally.errors if tally is not None else 0
