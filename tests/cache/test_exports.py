"""The package's public names stay in step with its modules."""

from __future__ import annotations

import importlib

import lockgate.cache as cache

MODULES = [
    "aggregate",
    "coalesce",
    "config",
    "entry",
    "errors",
    "factory",
    "header",
    "keys",
    "memory",
    "policy",
    "redis",
    "remote_flight",
    "replay",
    "response_cache",
    "stage",
    "store",
]


def test_all_names_exist() -> None:
    """Every name in lockgate.cache.__all__ is importable from it."""
    missing = [name for name in cache.__all__ if not hasattr(cache, name)]
    assert missing == []


def test_every_module_declares_all_and_defines_it() -> None:
    """Each module has an explicit __all__ whose names it really defines."""
    for name in MODULES:
        module = importlib.import_module(f"lockgate.cache.{name}")
        assert isinstance(module.__all__, list), name
        assert [n for n in module.__all__ if not hasattr(module, n)] == [], name


def test_header_values() -> None:
    """The x-lockgate-cache response header renders each status."""
    assert cache.cache_header_value("hit") == "hit"
    assert cache.cache_header_value("miss") == "miss"
    assert cache.cache_header_value("bypass") == "bypass"
    assert cache.cache_header_value("semantic-hit", 0.9312) == "semantic-hit; score=0.93"


def test_entry_round_trip_and_corruption() -> None:
    """Entries survive encoding; foreign bytes raise CacheStoreError, not a crash."""
    entry = cache.CacheEntry(completion={"id": "x", "choices": []}, stored_at=5.0, meta={"a": 1})
    assert cache.decode_entry(cache.encode_entry(entry)) == entry
    for raw in (b"not json", b"[]", b'{"v": 99, "c": {}}'):
        try:
            cache.decode_entry(raw)
        except cache.CacheStoreError:
            continue
        raise AssertionError(f"{raw!r} decoded")
