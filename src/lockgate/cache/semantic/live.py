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
  system prompt that attracts near misses does not cost the others their hits.

Pure: no I/O, no clock; the stage owns one and feeds it outcomes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from lockgate.cache.semantic.verifier import OperatingPoint, Verifier

__all__ = ["Estimate", "LiveEstimator", "Tally", "proportion_interval", "wilson_interval"]


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

    def accept_threshold(self, alias: str, partition: str, budget: float) -> OperatingPoint | None:
        """The operating point for this alias and partition, or ``None`` for the default."""
        if self.verifier is None:
            return None
        effective = budget
        alias_tally = self._aliases.get(alias)
        if alias_tally is not None:
            effective = min(effective, alias_tally.budget)
        part = self._partitions.get((alias, partition))
        if part is not None:
            effective = min(effective, part.budget)
        if effective >= budget:
            return None
        if effective < self.verifier.calibration[0][0]:
            return self.verifier.closed()  # stricter than any calibrated point: serve nothing
        return self.verifier.operating_point(effective)

    def record(self, alias: str, partition: str, budget: float, *, wrong: bool) -> bool:
        """Count one verified hit; return True if this outcome tightened something."""
        tightened = False
        for tally in (self._alias(alias, budget), self._partition(alias, partition, budget)):
            tally.verified += 1
            tally.window_verified += 1
            if wrong:
                tally.wrong += 1
                tally.window_wrong += 1
            _, high = wilson_interval(tally.wrong, tally.verified)
            if tally.window_wrong >= 1 and high > budget and tally.budget > self.min_budget:
                tally.budget = max(tally.budget / 2.0, self.min_budget)
                tally.tightenings += 1
                tally.window_verified = tally.window_wrong = 0
                tightened = True
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
        )

    def aliases(self) -> list[str]:
        return sorted(self._aliases)

    def errors(self, alias: str) -> int:
        tally = self._aliases.get(alias)
        return tally.errors if tally is not None else 0
