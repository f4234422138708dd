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
