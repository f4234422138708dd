"""Choosing one deployment of an alias for the next attempt.

Strategies, selected by name:

* ``"weighted_random"``: proportional to each deployment's configured weight.
* ``"least_inflight"``: fewest calls in flight, ties broken at random.
* ``"latency"``: peak-EWMA with power of two choices (Finagle, linkerd/tower): each
  deployment keeps a latency estimate that jumps to any slower sample and otherwise
  decays towards recent samples, and towards zero while unobserved, so a deployment
  that was slow gets probed again; its cost is ``estimate * (inflight + 1)``.  Two
  random candidates are compared and the cheaper one wins.

Deployments whose breaker refuses calls (open, out of half-open probes, cooling down)
are skipped; within one request, deployments not tried yet are preferred.  The
``caller`` passed to :meth:`Balancer.acquire` (and the availability reads beside it) is
who the call is for: a deployment whose breaker is open for that caller alone is
skipped for that caller only (see :mod:`lockgate.resilience.callers`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lockgate.errors import GatewayError
from lockgate.resilience.breaker import CircuitBreaker, Permit, is_upstream_fault
from lockgate.resilience.quota import MinuteQuota

__all__ = ["Balancer", "Candidate", "InflightHandle", "Lease", "Strategy"]

Strategy = Literal["weighted_random", "least_inflight", "latency"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One deployment of an alias, built once from config (not per request)."""

    id: str
    weight: float = 1.0
    breaker: CircuitBreaker | None = None
    #: the deployment's own requests/tokens per minute, if it has any
    quota: MinuteQuota | None = None

    def available(self, now: float, caller: str | None = None) -> bool:
        if self.quota is not None and not self.quota.available(now):
            return False
        return self.breaker is None or self.breaker.available(now, caller)

    def available_in(self, now: float, caller: str | None = None) -> float:
        wait = 0.0 if self.breaker is None else self.breaker.available_in(now, caller)
        if self.quota is not None:
            wait = max(wait, self.quota.available_in(now))
        return wait

    def rate_limited(self, now: float) -> bool:
        """Unavailable only for rate reasons: its own quota, or the provider's 429."""
        if self.quota is not None and not self.quota.available(now):
            return self.breaker is None or self.breaker.state(now) != "open"
        return self.breaker is not None and self.breaker.rate_limited(now)


class _Load:
    __slots__ = ("estimate", "inflight", "sampled", "stamp")

    def __init__(self, estimate: float, now: float) -> None:
        self.inflight = 0
        self.estimate = estimate
        self.stamp = now
        self.sampled = False


class InflightHandle:
    """One call in flight on a deployment; ``finish`` it exactly once (extra calls are no-ops)."""

    __slots__ = ("_balancer", "_finished", "_load", "_observed", "deployment", "started")

    def __init__(self, balancer: Balancer, load: _Load, deployment: str, now: float) -> None:
        self._balancer = balancer
        self._load = load
        self.deployment = deployment
        self.started = now
        self._observed = False
        self._finished = False

    def first_byte(self, now: float) -> None:
        """Record latency at the first byte / first chunk (the load signal for streams)."""
        if not self._observed:
            self._observed = True
            self._balancer._observe(self._load, now - self.started, now)

    def finish(self, now: float, *, ok: bool = True) -> None:
        """End the call; a failure is recorded as a slow sample so it is not favoured."""
        if self._finished:
            return
        self._finished = True
        self._load.inflight -= 1
        if not self._observed:
            self._observed = True
            elapsed = now - self.started
            if not ok:
                elapsed = max(elapsed, 2.0 * self._balancer._estimate(self._load, now))
            self._balancer._observe(self._load, elapsed, now)


class Lease:
    """A chosen deployment with its breaker permit and inflight handle, ended exactly once."""

    __slots__ = ("_done", "candidate", "handle", "permit")

    def __init__(self, candidate: Candidate, permit: Permit | None, handle: InflightHandle):
        self.candidate = candidate
        self.permit = permit
        self.handle = handle
        self._done = False

    @property
    def deployment(self) -> str:
        return self.candidate.id

    def first_byte(self, now: float) -> None:
        self.handle.first_byte(now)

    def used_tokens(self, now: float, tokens: int) -> None:
        """Count the call's tokens against the deployment's per-minute quota."""
        if self.candidate.quota is not None:
            self.candidate.quota.record_tokens(now, tokens)

    def succeeded(self, now: float) -> None:
        if self._done:
            return
        self._done = True
        self.handle.finish(now, ok=True)
        if self.permit is not None and self.candidate.breaker is not None:
            self.candidate.breaker.record_success(self.permit, now)

    def failed(self, now: float, error: GatewayError) -> None:
        if self._done:
            return
        self._done = True
        # Only the upstream's faults make it look slow; a rejected request says nothing.
        self.handle.finish(now, ok=not is_upstream_fault(error))
        if self.permit is not None and self.candidate.breaker is not None:
            self.candidate.breaker.record_failure(self.permit, now, error)

    def release(self, now: float) -> None:
        """End a call that says nothing about the upstream (cancelled, client gone)."""
        if self._done:
            return
        self._done = True
        self.handle.finish(now, ok=True)
        if self.permit is not None and self.candidate.breaker is not None:
            self.candidate.breaker.record_ignored(self.permit)


class Balancer:
    """Per-deployment load statistics and the choice among an alias's candidates.

    One instance may serve every alias: statistics are keyed by deployment id.
    """

    __slots__ = ("_loads", "decay_s", "initial_latency_s", "rng", "strategy")

    def __init__(
        self,
        strategy: Strategy = "weighted_random",
        *,
        rng: random.Random,
        decay_s: float = 10.0,
        initial_latency_s: float = 1.0,
    ) -> None:
        if decay_s <= 0 or initial_latency_s < 0:
            raise ValueError("decay_s must be positive and initial_latency_s non-negative")
        self.strategy: Strategy = strategy
        self.rng = rng
        self.decay_s = decay_s
        self.initial_latency_s = initial_latency_s
        self._loads: dict[str, _Load] = {}

    # -- statistics ---------------------------------------------------------------

    def _load(self, deployment: str, now: float) -> _Load:
        load = self._loads.get(deployment)
        if load is None:
            load = self._loads[deployment] = _Load(self.initial_latency_s, now)
        return load

    def _estimate(self, load: _Load, now: float) -> float:
        elapsed = now - load.stamp
        if elapsed <= 0:
            return load.estimate
        return load.estimate * math.exp(-elapsed / self.decay_s)

    def _observe(self, load: _Load, latency: float, now: float) -> None:
        current = self._estimate(load, now)
        if not load.sampled:
            # The initial estimate was a guess; the first real sample replaces it.
            load.sampled = True
            load.estimate = latency
        elif latency > current:
            load.estimate = latency
        else:
            elapsed = max(0.0, now - load.stamp)
            load.estimate = current + latency * (1.0 - math.exp(-elapsed / self.decay_s))
        load.stamp = max(load.stamp, now)

    def inflight(self, deployment: str) -> int:
        load = self._loads.get(deployment)
        return 0 if load is None else load.inflight

    def cost(self, deployment: str, now: float) -> float:
        """The peak-EWMA cost ``estimate * (inflight + 1)`` of ``deployment``."""
        load = self._load(deployment, now)
        return self._estimate(load, now) * (load.inflight + 1)

    def start(self, deployment: str, now: float) -> InflightHandle:
        """Count a call in flight on ``deployment`` until the handle is finished."""
        load = self._load(deployment, now)
        load.inflight += 1
        return InflightHandle(self, load, deployment, now)

    # -- choice -------------------------------------------------------------------

    def _pool(
        self,
        candidates: Sequence[Candidate],
        exclude: Collection[str],
        now: float,
        caller: str | None,
    ) -> list[Candidate]:
        fresh: list[Candidate] = []
        tried: list[Candidate] = []
        for c in candidates:
            if not c.available(now, caller):
                continue
            (tried if c.id in exclude else fresh).append(c)
        return fresh or tried

    def has_alternative(
        self,
        candidates: Sequence[Candidate],
        *,
        exclude: Collection[str],
        now: float,
        caller: str | None = None,
    ) -> bool:
        """Whether some candidate outside ``exclude`` is available (to ``caller``)."""
        return any(c.id not in exclude and c.available(now, caller) for c in candidates)

    def available_in(
        self, candidates: Sequence[Candidate], now: float, caller: str | None = None
    ) -> float:
        """Seconds until some candidate may take calls (from ``caller``) again (0.0: now)."""
        return min((c.available_in(now, caller) for c in candidates), default=0.0)

    def caller_cut_off(
        self, candidates: Sequence[Candidate], now: float, caller: str | None
    ) -> bool:
        """Whether some candidate would take calls, just not ``caller``'s (its own breaker)."""
        return caller is not None and any(c.available(now) for c in candidates)

    def rate_limited(self, candidates: Sequence[Candidate], now: float) -> bool:
        """Whether every candidate is cooling down after a provider rate limit (429)."""
        return bool(candidates) and all(c.rate_limited(now) for c in candidates)

    def choose(
        self,
        candidates: Sequence[Candidate],
        *,
        exclude: Collection[str] = (),
        now: float,
        caller: str | None = None,
    ) -> Candidate | None:
        """The deployment for the next attempt, or ``None`` if none is available.

        Candidates in ``exclude`` (already tried by this request) are used only when
        no other candidate is available.
        """
        if len(candidates) == 1:
            # One deployment (the usual alias): no pool, no weighting, tried or not.
            only = candidates[0]
            return only if only.available(now, caller) else None
        pool = self._pool(candidates, exclude, now, caller)
        if len(pool) <= 1:
            return pool[0] if pool else None
        rng = self.rng
        if self.strategy == "weighted_random":
            total = 0.0
            for c in pool:
                total += max(c.weight, 0.0)
            if total <= 0.0:
                return pool[rng.randrange(len(pool))]
            point = rng.random() * total
            for c in pool:
                point -= max(c.weight, 0.0)
                if point < 0.0:
                    return c
            return pool[-1]
        if self.strategy == "least_inflight":
            best: list[Candidate] = []
            fewest = -1
            for c in pool:
                n = self.inflight(c.id)
                if fewest < 0 or n < fewest:
                    fewest = n
                    best = [c]
                elif n == fewest:
                    best.append(c)
            return best[0] if len(best) == 1 else best[rng.randrange(len(best))]
        # "latency": power of two choices on peak-EWMA cost.
        n = len(pool)
        i = rng.randrange(n)
        j = rng.randrange(n - 1)
        if j >= i:
            j += 1
        a, b = pool[i], pool[j]
        return b if self.cost(b.id, now) < self.cost(a.id, now) else a

    def acquire(
        self,
        candidates: Sequence[Candidate],
        *,
        exclude: Collection[str] = (),
        now: float,
        caller: str | None = None,
    ) -> Lease | None:
        """Choose a deployment for ``caller``, take its breaker permit and count it in
        flight.  The lease reports the call's outcome to the breaker as ``caller``'s."""
        skipped: set[str] | None = None
        for _ in range(len(candidates)):
            excluded: Collection[str] = exclude if skipped is None else skipped
            choice = self.choose(candidates, exclude=excluded, now=now, caller=caller)
            if choice is None:
                return None
            permit: Permit | None = None
            if choice.breaker is not None:
                permit = choice.breaker.allow(now, caller)
                if permit is None:
                    # Only reachable if the breaker changed between the two reads.
                    skipped = set(excluded) | {choice.id}
                    continue
            if choice.quota is not None:
                choice.quota.record_request(now)
            return Lease(choice, permit, self.start(choice.id, now))
        return None

    def snapshot(self, now: float) -> dict[str, dict[str, Any]]:
        """Per-deployment load for ``/api/stats``."""
        return {
            name: {
                "inflight": load.inflight,
                "latency_estimate_s": self._estimate(load, now),
                "cost": self._estimate(load, now) * (load.inflight + 1),
            }
            for name, load in self._loads.items()
        }
