"""lockgate's exact response cache and in-flight request coalescing.

Pure parts: ``cache_key`` (keys), the policy functions (policy),
``StreamAggregator`` (aggregate), ``replay_chunks`` (replay).  I/O parts: a
``CacheStore`` chosen by URL with ``create_cache_store`` (memory, redis), the
in-process ``Coalescer`` and the optional cross-replica ``RemoteFlights``.
``ResponseCache`` joins them; ``lockgate.cache.stage.CacheStage`` is the
pipeline stage and ``lockgate.cache.config`` the config section::

    cache = build_response_cache(settings.cache)          # in the lifespan
    pipeline = Pipeline([..., CacheStage(cache)], dispatcher)
    ...
    await cache.store.aclose()                              # on shutdown

``stage`` and ``config`` are not re-exported here so that this package can be
imported without the gateway core (the semantic cache reuses ``CacheStore``,
``CacheEntry`` and the codecs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.cache.aggregate import StreamAggregator, aggregate_chunks
    from lockgate.cache.coalesce import (
        CoalescedStreamAbandonedError,
        Coalescer,
        LeaderErrorMode,
        SharedStream,
    )
    from lockgate.cache.entry import CacheEntry, decode_entry, encode_entry
    from lockgate.cache.errors import CacheStoreError
    from lockgate.cache.factory import create_cache_store
    from lockgate.cache.header import CACHE_STATUS_HEADER, CacheStatus, cache_header_value
    from lockgate.cache.keys import KEY_VERSION, cache_key
    from lockgate.cache.memory import MemoryStore
    from lockgate.cache.policy import (
        CACHE_HEADER,
        AliasCachePolicy,
        CacheControl,
        CacheDecision,
        CacheMode,
        decide,
        is_deterministic,
        parse_body_control,
        parse_header_control,
        request_control,
        storable_completion,
        strip_cache_field,
    )
    from lockgate.cache.remote_flight import RemoteFlights
    from lockgate.cache.replay import replay_chunks, replay_stream
    from lockgate.cache.response_cache import CachePlan, CacheResult, CacheStats, ResponseCache
    from lockgate.cache.store import CacheStore

# Exports load on first use, so importing one submodule (a config model, say) does not
# import every backend (redis, numpy) with it.
_EXPORTS = {
    "StreamAggregator": "lockgate.cache.aggregate",
    "aggregate_chunks": "lockgate.cache.aggregate",
    "CoalescedStreamAbandonedError": "lockgate.cache.coalesce",
    "Coalescer": "lockgate.cache.coalesce",
    "LeaderErrorMode": "lockgate.cache.coalesce",
    "SharedStream": "lockgate.cache.coalesce",
    "CacheEntry": "lockgate.cache.entry",
    "decode_entry": "lockgate.cache.entry",
    "encode_entry": "lockgate.cache.entry",
    "CacheStoreError": "lockgate.cache.errors",
    "create_cache_store": "lockgate.cache.factory",
    "CACHE_STATUS_HEADER": "lockgate.cache.header",
    "CacheStatus": "lockgate.cache.header",
    "cache_header_value": "lockgate.cache.header",
    "KEY_VERSION": "lockgate.cache.keys",
    "cache_key": "lockgate.cache.keys",
    "MemoryStore": "lockgate.cache.memory",
    "CACHE_HEADER": "lockgate.cache.policy",
    "AliasCachePolicy": "lockgate.cache.policy",
    "CacheControl": "lockgate.cache.policy",
    "CacheDecision": "lockgate.cache.policy",
    "CacheMode": "lockgate.cache.policy",
    "decide": "lockgate.cache.policy",
    "is_deterministic": "lockgate.cache.policy",
    "parse_body_control": "lockgate.cache.policy",
    "parse_header_control": "lockgate.cache.policy",
    "request_control": "lockgate.cache.policy",
    "storable_completion": "lockgate.cache.policy",
    "strip_cache_field": "lockgate.cache.policy",
    "RemoteFlights": "lockgate.cache.remote_flight",
    "replay_chunks": "lockgate.cache.replay",
    "replay_stream": "lockgate.cache.replay",
    "CachePlan": "lockgate.cache.response_cache",
    "CacheResult": "lockgate.cache.response_cache",
    "CacheStats": "lockgate.cache.response_cache",
    "ResponseCache": "lockgate.cache.response_cache",
    "CacheStore": "lockgate.cache.store",
}

__all__ = [
    "CACHE_HEADER",
    "CACHE_STATUS_HEADER",
    "KEY_VERSION",
    "AliasCachePolicy",
    "CacheControl",
    "CacheDecision",
    "CacheEntry",
    "CacheMode",
    "CachePlan",
    "CacheResult",
    "CacheStats",
    "CacheStatus",
    "CacheStore",
    "CacheStoreError",
    "CoalescedStreamAbandonedError",
    "Coalescer",
    "LeaderErrorMode",
    "MemoryStore",
    "RemoteFlights",
    "ResponseCache",
    "SharedStream",
    "StreamAggregator",
    "aggregate_chunks",
    "cache_header_value",
    "cache_key",
    "create_cache_store",
    "decide",
    "decode_entry",
    "encode_entry",
    "is_deterministic",
    "parse_body_control",
    "parse_header_control",
    "replay_chunks",
    "replay_stream",
    "request_control",
    "storable_completion",
    "strip_cache_field",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
