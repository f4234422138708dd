"""Latency histograms with fixed log-spaced buckets, and percentiles read from them (pure).

Bucket ``i`` holds values in ``[RATIO**i, RATIO**(i+1))`` ms (bucket 0 also everything
below 1.5 ms, the last one everything above); with RATIO 1.5 a percentile read from the
buckets is within a factor of 1.5 of the exact one (interpolated geometrically inside its
bucket, usually much closer).  Histograms add up, so hourly ones can be summed over any
period - unlike percentiles.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

__all__ = ["BUCKETS", "EDGES", "RATIO", "bucket_of", "percentile"]

RATIO = 1.5
BUCKETS = 32
#: upper edge of buckets 0..BUCKETS-2 (the last bucket is open above)
EDGES = tuple(RATIO ** (i + 1) for i in range(BUCKETS - 1))


def bucket_of(ms: float) -> int:
    return bisect.bisect_right(EDGES, ms)


def _bounds(i: int) -> tuple[float, float]:
    low = RATIO**i if i > 0 else 1.0
    return low, EDGES[i] if i < len(EDGES) else RATIO ** (i + 1)


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of the histogram ``bucket -> count``; None if empty."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = q / 100 * total
    seen = 0
    for i in sorted(counts):
        n = counts[i]
        if n <= 0:
            continue
        if seen + n >= rank:
            low, high = _bounds(i)
            frac = (rank - seen) / n
            return math.exp(math.log(low) + frac * (math.log(high) - math.log(low)))
        seen += n
    return _bounds(max(counts))[1]
