"""When a score goes to the strong model: a fixed threshold, or one that tracks a target
share of this alias's own recent traffic. Pure; the clock is not needed."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Decision", "SharePolicy"]


@dataclass(frozen=True, slots=True)
class Decision:
    strong: bool
    score: float
    threshold: float

    def header(self, target: str) -> str:
        choice = "strong" if self.strong else "weak"
        return f"{choice}; target={target}; score={self.score:.6f}; threshold={self.threshold:.6f}"


@dataclass(slots=True)
class SharePolicy:
    """Sends scores above a threshold to the strong model. With ``target_share`` the
    threshold is the (1 - share) quantile of the last ``window`` scores once ``warmup``
    of them were seen (before that, ``prior``), so the realised share follows the
    target whatever the traffic looks like. ``realised_share`` shows it."""

    prior: float
    target_share: float | None = None
    window: int = 2000
    warmup: int = 50
    _recent: deque[float] = field(default_factory=deque)
    _sorted: list[float] = field(default_factory=list)
    _strong_recent: deque[bool] = field(default_factory=deque)
    _strong_count: int = 0

    def decide(self, score: float) -> Decision:
        threshold = self.threshold()
        strong = score > threshold
        self._remember(score, strong)
        return Decision(strong=strong, score=score, threshold=threshold)

    def threshold(self) -> float:
        if self.target_share is None or len(self._sorted) < self.warmup:
            return self.prior
        n = len(self._sorted)
        if self.target_share >= 1.0:
            return float("-inf")
        if self.target_share <= 0.0:
            return float("inf")
        k = min(n - 1, max(0, round((1.0 - self.target_share) * n)))
        return self._sorted[k]

    @property
    def realised_share(self) -> float:
        n = len(self._strong_recent)
        return self._strong_count / n if n else 0.0

    def _remember(self, score: float, strong: bool) -> None:
        self._recent.append(score)
        bisect.insort(self._sorted, score)
        self._strong_recent.append(strong)
        self._strong_count += strong
        if len(self._recent) > self.window:
            old = self._recent.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
            self._strong_count -= self._strong_recent.popleft()
