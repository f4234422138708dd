"""Sticky assignment: GrowthBook's double FNV-1a hash, deterministic and weight-true."""

from __future__ import annotations

from collections import Counter

from lockgate.experiments.assign import bucket, choose, fnv1a32


def test_fnv1a32_matches_reference_vectors():
    """FNV-1a 32-bit matches the published values."""
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foo") == 0xA9F37ED7


def test_bucket_is_growthbook_v2_and_stable():
    """The bucket is GrowthBook's v2 formula and the same on every call."""
    assert bucket("exp", "user-1") == (fnv1a32(str(fnv1a32("expuser-1"))) % 10000) / 10000
    assert [bucket("s", f"u{i}") for i in range(50)] == [bucket("s", f"u{i}") for i in range(50)]
    assert all(0 <= bucket("s", f"u{i}") < 1 for i in range(1000))


def test_weights_are_respected_and_seeds_are_independent():
    """20k units split close to 25/75, and a different seed reshuffles them."""
    units = [f"user-{i}" for i in range(20_000)]
    split = Counter(choose([25, 75], bucket("seed-a", u)) for u in units)
    assert abs(split[0] / len(units) - 0.25) < 0.015
    same = sum(
        choose([50, 50], bucket("seed-a", u)) == choose([50, 50], bucket("seed-b", u))
        for u in units
    )
    assert abs(same / len(units) - 0.5) < 0.02


def test_choose_edges():
    """Cumulative ranges: 0 picks the first arm, just under 1 the last."""
    assert choose([1, 1, 2], 0.0) == 0
    assert choose([1, 1, 2], 0.49) == 1
    assert choose([1, 1, 2], 0.9999) == 2
