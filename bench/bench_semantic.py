"""Benchmarks of the semantic cache: embedder, guards, memory and Redis index, lookup.

    PYTHONPATH=src .venv/bin/python bench/bench_semantic.py [--redis-url URL] [--quick]
        [--only-verified [--backend onnx-int8] [--verifier WEIGHTS.json]]

Without --redis-url a private redis-server is started on a free loopback port
(if one is installed). Prints medians and 99th percentiles in milliseconds.
With sentence-transformers and torch installed it also times the torch reference
and checks that the local vectors agree with it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lockgate.cache.semantic.embedder import LocalEmbedder
from lockgate.cache.semantic.encoders import ENCODERS
from lockgate.cache.semantic.guards import extract_features, near_miss
from lockgate.cache.semantic.index import MemoryIndex, top_rows
from lockgate.cache.semantic.minilm import default_model_dir
from lockgate.cache.semantic.partition import SemanticQuery
from lockgate.cache.semantic.redis_index import RedisIndex
from lockgate.cache.semantic.semantic_cache import SemanticCache, SemanticSettings
from lockgate.cache.semantic.verifier import load_verifier

SHORT = "How do I reset my password?"
MEDIUM = (
    "I'm running the gateway behind nginx with three replicas and Redis for shared state; "
    "how should I configure the rate limiter so that each tenant gets 100 requests per minute?"
)
#: a long question (60 words, ~75 tokens)
LONG60 = (
    "We run the gateway on two small virtual machines behind a load balancer, with Redis for"
    " the shared cache and Postgres for keys and usage. Since last week some streaming answers"
    " stop halfway and the client sees a reset; what should I check first in the gateway's"
    " settings and logs to find out whether the upstream or the gateway closes the stream?"
)
NOW = 1_800_000_000.0
NEAR_COPIES = (
    "How do I change my account password?",
    "How can I change my account password now?",
    "How can I change my user account password?",
)


def report(name: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{name:<52} median {statistics.median(samples) * 1e3:8.3f} ms   p99 {p99 * 1e3:8.3f} ms")


def p99_interval(n: int, q: float = 0.99, level: float = 0.95) -> tuple[int, int]:
    """0-based ranks (lo, hi) of the sorted samples that bracket the ``q`` quantile
    with probability >= ``level`` (distribution-free: the number of samples below
    the true quantile is Binomial(n, q))."""
    from scipy.stats import binom

    alpha = (1 - level) / 2
    lo = int(binom.ppf(alpha, n, q)) - 1  # P(count <= lo) <= alpha
    hi = int(binom.ppf(1 - alpha, n, q))  # P(count >= hi + 1) <= alpha
    return max(lo, 0), min(hi, n - 1)


def quantiles(samples: list[float]) -> str:
    """Median and P99 with its 95% order-statistic interval, in ms."""
    xs = sorted(samples)
    n = len(xs)
    lo, hi = p99_interval(n)
    p99 = xs[min(n - 1, math.ceil(0.99 * n) - 1)]
    return (
        f"P50 {statistics.median(xs) * 1e3:6.2f}  P99 {p99 * 1e3:6.2f}"
        f" [{xs[lo] * 1e3:6.2f}, {xs[hi] * 1e3:6.2f}]"
    )


def timed(fn: Callable[[], object], n: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


async def atimed(fn: Callable[[], Awaitable[object]], n: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        await fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


async def acpu(fn: Callable[[], Awaitable[object]], n: int) -> list[float]:
    """CPU seconds (all threads of this process) per call: the cost on an idle core.

    On a box shared with other work wall time measures the queue for a core as
    much as the lookup; process CPU time does not.
    """
    out = []
    for _ in range(n):
        t = time.process_time()
        await fn()
        out.append(time.process_time() - t)
    return out


def random_unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    m = rng.standard_normal((n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@contextmanager
def redis_server(url: str | None) -> Iterator[str | None]:
    if url is not None:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def bench_embedders(n: int) -> LocalEmbedder:
    print("== embedder (all-MiniLM-L6-v2, one text per call unless noted)")
    t = time.perf_counter()
    onnx = LocalEmbedder()
    print(f"{'load, onnx backend (build graph + session)':<52} {time.perf_counter() - t:8.3f} s")
    t = time.perf_counter()
    numpy_backend = LocalEmbedder(backend="numpy")
    print(f"{'load, numpy backend':<52} {time.perf_counter() - t:8.3f} s")
    for name, emb in (("onnx", onnx), ("numpy", numpy_backend)):
        report(f"{name}: short ({SHORT!r})"[:52], timed(lambda e=emb: e.embed_sync([SHORT]), n))
        report(
            f"{name}: medium ({len(MEDIUM)} chars)", timed(lambda e=emb: e.embed_sync([MEDIUM]), n)
        )
        batch = [f"{SHORT} #{i}" for i in range(16)]
        report(
            f"{name}: batch of 16 short, per call",
            timed(lambda e=emb, b=batch: e.embed_sync(b), n // 4),
        )
    return onnx


def bench_torch_reference(onnx: LocalEmbedder, n: int) -> None:
    """Last, because torch's OpenMP threads keep spinning and slow what runs after."""
    print("== torch reference (sentence-transformers)")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print("sentence-transformers not installed: no torch reference")
        return
    numpy_backend = LocalEmbedder(backend="numpy")
    st = SentenceTransformer(str(default_model_dir()), device="cpu")
    report("torch (sentence-transformers): short", timed(lambda: st.encode([SHORT]), n))
    texts = [SHORT, MEDIUM, "What is the capital of France?", "Ünïcödé 中文 🙂", "a"]
    ref = st.encode(texts, normalize_embeddings=True)
    for name, emb in (("onnx", onnx), ("numpy", numpy_backend)):
        cos = (emb.embed_sync(texts) * ref).sum(axis=1)
        print(f"cosine to torch reference, {name}: min {cos.min():.6f} over {len(texts)} texts")


def bench_guards(n: int) -> None:
    print("== near-miss guards")
    report("extract_features, short", timed(lambda: extract_features(SHORT), n * 10))
    report("extract_features, medium", timed(lambda: extract_features(MEDIUM), n * 10))
    a, b = extract_features(SHORT), extract_features("How can I reset my password?")
    report("near_miss, all guards", timed(lambda: near_miss(a, b), n * 10))


async def bench_memory_index(sizes: list[int], n: int) -> None:
    print("== memory index, one partition, k=4 (exact cosine)")
    rng = np.random.default_rng(7)
    for size in sizes:
        index = MemoryIndex(384, capacity=size)
        vectors = random_unit(rng, size, 384)
        t = time.perf_counter()
        for i, v in enumerate(vectors):
            index.add_sync("p", v, f"q{i}", b"x", expires=NOW + 3600, now=NOW)
        add_us = (time.perf_counter() - t) / size * 1e6
        query = random_unit(rng, 1, 384)[0]
        report(
            f"search {size:>7} entries (add {add_us:.1f} us each)",
            timed(lambda idx=index, q=query: idx.search_sync("p", q, k=4, now=NOW), n),
        )
        if size >= index.offload_rows:
            searches = await atimed(lambda idx=index, q=query: idx.search("p", q, k=4, now=NOW), n)
            report("  same, async (scan in a worker thread)", searches)


async def bench_lookup(embedder: LocalEmbedder, n: int) -> None:
    print("== SemanticCache.lookup end to end (memory index, 10k entries in the partition)")
    rng = np.random.default_rng(3)
    index = MemoryIndex(384, capacity=20_000)
    for i, v in enumerate(random_unit(rng, 10_000, 384)):
        index.add_sync("p", v, f"filler {i}", b"x", expires=NOW + 3600, now=NOW)
    cache = SemanticCache(embedder, index, SemanticSettings())
    await cache.store(SemanticQuery("p", SHORT), b"answer", now=NOW)
    hit = SemanticQuery("p", "How can I reset my password?")
    near_hit = SemanticQuery("p", "How can I change my account password?")
    print(f"near-copy query served: {(await cache.lookup(near_hit, now=NOW)).served}")
    assert (await cache.lookup(hit, now=NOW)).served
    report(
        "lookup, hit (embed + search + guards + fetch)",
        await atimed(lambda: cache.lookup(hit, now=NOW), n),
    )
    miss = SemanticQuery("p", "What is the boiling point of water?")
    report("lookup, miss", await atimed(lambda: cache.lookup(miss, now=NOW), n))


def clustered_unit(rng: np.random.Generator, n: int, dim: int, centres: int = 5_000) -> np.ndarray:
    """Topical filler: points around ``centres`` directions (nearest-neighbour cosine ~0.6).

    Sentence embeddings are clustered by topic; uniformly random unit vectors
    (all pairwise cosines ~0) are the worst case for a graph index and unlike
    any text, so the 100k filler is drawn around centres instead.
    """
    c = random_unit(rng, centres, dim)
    m = 0.75 * c[rng.integers(centres, size=n)] + 0.66 * rng.standard_normal((n, dim)).astype(
        np.float32
    ) / np.sqrt(dim)
    out: np.ndarray = m / np.linalg.norm(m, axis=1, keepdims=True)
    return out


def ann_recall(index: MemoryIndex, filler: np.ndarray, rng: np.random.Generator, n: int) -> None:
    """Recall of the graph search against the exact scan, on planted near neighbours.

    Each query is a stored vector turned to a cosine in [0.70, 0.98] (the
    verifier's recall floor and up): the neighbours a cache lookup must find.
    Also top-4 overlap on random queries (neighbours at cosine ~0.2, which the
    cache never uses; the graph's worst case).
    """
    part = index._partitions["p"]
    found = overlap = 0
    for _ in range(n):
        i = int(rng.integers(len(filler)))
        noise = rng.standard_normal(filler.shape[1]).astype(np.float32)
        noise -= (noise @ filler[i]) * filler[i]
        noise /= np.linalg.norm(noise)
        cos = rng.uniform(0.70, 0.98)
        q = (cos * filler[i] + np.sqrt(1 - cos * cos) * noise).astype(np.float32)
        q /= np.linalg.norm(q)
        matrix, expires = part.snapshot()
        exact = {part.ids[r] for r in top_rows(matrix, expires, q, 4, NOW)}
        best = max(exact, key=lambda e: float(matrix[part.rows[e]] @ q))
        got = {c.id for c in index.search_sync("p", q, k=4, now=NOW)}
        found += best in got
        r = random_unit(rng, 1, filler.shape[1])[0]
        exact_r = {part.ids[x] for x in top_rows(matrix, expires, r, 4, NOW)}
        overlap += len(exact_r & {c.id for c in index.search_sync("p", r, k=4, now=NOW)})
    print(
        f"recall vs exact scan, n={n}: planted neighbour (cos 0.70-0.98) in top 4: "
        f"{found / n:.3f}; random queries, top-4 overlap: {overlap / (4 * n):.3f}"
    )


def build_graph(index: MemoryIndex, entries: int, graph_cache: str | None) -> None:
    """Give partition "p" its graph: built here, or restored from ``graph_cache``.

    A one-shot build of 100k entries takes minutes on a shared 2-core box; the
    file (USearch's own format) keys on the entry count and the filler's seed.
    """
    part = index._partitions["p"]
    path = f"{graph_cache}.{entries}.usearch" if graph_cache else None
    t = time.perf_counter()
    if path and os.path.exists(path):
        from usearch.index import Index

        graph = Index.restore(path)
        assert graph is not None and len(graph) == part.size
        # the file keeps the graph, not the search settings: set them as new_graph does
        graph.expansion_add = index.ann.expansion_add
        graph.expansion_search = index.ann.expansion_search
        part.attach_ann(graph, list(part.ids[: part.size]))
        print(f"HNSW graph of {entries} entries restored from {path}")
        return
    index.build_ann("p")
    print(f"HNSW graph of {entries} entries built in {time.perf_counter() - t:.1f} s (2 threads)")
    if path:
        part.ann.save(path)


async def bench_graph_writes(index: MemoryIndex, filler: np.ndarray, n: int) -> None:
    """Graph writes happen off the event loop: the store path's cost on the loop,
    the writer thread's throughput, and the loop's lag while it works."""
    part = index._partitions["p"]
    lags: list[float] = []
    stop = False

    async def ticker() -> None:  # how late a 1 ms sleep wakes up = how long the loop was held
        while not stop:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - t - 0.001)

    tick = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(1.0)  # the same lag with nothing else running: the box's own noise
    report("  event-loop lag, idle loop (baseline, 1 s)", lags)
    lags.clear()
    on_loop = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        index.add_sync("p", filler[i], f"extra {i}", b"x", expires=NOW + 3600, now=NOW)
        on_loop.append(time.perf_counter() - t)
        await asyncio.sleep(0)
    await part.ann_idle()
    drained = time.perf_counter() - t0
    stop = True
    await tick
    report(f"add to a graph partition, on the loop (n={n})", on_loop)
    print(
        f"{'  writer thread: all adds in the graph after':<52} {drained * 1e3:8.1f} ms "
        f"({drained / n * 1e3:.2f} ms per add)"
    )
    report("  event-loop lag while the writer works", lags)


async def lookups_during_writes(
    cache: SemanticCache, index: MemoryIndex, query: SemanticQuery, filler: np.ndarray, n: int
) -> None:
    """Lookup latency while entries stream in (one add per lookup, applied by the writer)."""
    out = []
    for i in range(n):
        index.add_sync("p", filler[-1 - i], f"late {i}", b"x", expires=NOW + 3600, now=NOW)
        t = time.perf_counter()
        await cache.lookup(query, now=NOW)
        out.append(time.perf_counter() - t)
    await index._partitions["p"].ann_idle()
    report("lookup, hit, warm, one add queued before each", out)


async def bench_verified_lookup(
    embedder: LocalEmbedder,
    n: int,
    entries: int,
    graph_cache: str | None = None,
    weights: str | None = None,
    prepare_only: bool = False,
    modes: tuple[str, ...] = ("hnsw", "exact"),
    inline: tuple[int, ...] = (0,),
) -> None:
    """The default lookup: embed with token vectors, search, verify up to 3 candidates.

    Run twice: the partition searched through its HNSW graph (the default for
    partitions of ``ann_rows`` or more), then by the exact scan.
    """
    rng = np.random.default_rng(4)
    filler = clustered_unit(rng, entries, 384)
    index = MemoryIndex(384, capacity=entries + 10 + 2 * n, ann_rows=None)
    for i, v in enumerate(filler):
        index.add_sync("p", v, f"filler {i}", b"x", expires=NOW + 3600, now=NOW)
    build_graph(index, entries, graph_cache)
    if prepare_only:
        return
    print(f"load average: {os.getloadavg()}")
    ann_recall(index, filler, rng, min(n, 200))
    verifier = load_verifier(weights, model=embedder.model)
    cache = SemanticCache(embedder, index, SemanticSettings(), verifier)
    # three stored wordings above the recall floor: the verifier scores all three
    for text in (SHORT, "How do I reset my password on the website?", "How to reset a password?"):
        await cache.store(SemanticQuery("p", text), b"answer", now=NOW)
    # worst case for a cold hit: three near copies, each needing the model (and its tokens)
    for text in NEAR_COPIES:
        await cache.store(SemanticQuery("p", text), b"answer", now=NOW)
    long_stored = MEDIUM.replace("should I", "do I")
    await cache.store(SemanticQuery("p", long_stored), b"a", now=NOW)
    await cache.store(SemanticQuery("p", LONG60.replace("should I", "do I")), b"a", now=NOW)
    await index._partitions["p"].ann_idle()
    await bench_graph_writes(index, filler, min(n, 200))
    hit = SemanticQuery("p", "How can I reset my password?")
    near_hit = SemanticQuery("p", "How can I change my account password?")
    print(f"near-copy query served: {(await cache.lookup(near_hit, now=NOW)).served}")
    miss = SemanticQuery("p", "What is the boiling point of water?")
    long_hit = SemanticQuery("p", MEDIUM)
    long60_hit = SemanticQuery("p", LONG60)

    async def cold() -> object:
        cache.tokens.clear()  # candidates' token vectors not kept: embed the near copy
        return await cache.lookup(hit, now=NOW)

    async def cold_near() -> object:
        cache.tokens.clear()
        return await cache.lookup(near_hit, now=NOW)

    cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("hit, warm (embed + search + verify 3 + fetch)", lambda: cache.lookup(hit, now=NOW)),
        ("hit, 3 near copies, token vectors kept", lambda: cache.lookup(near_hit, now=NOW)),
        ("hit, cold (its 1 near copy embedded)", cold),
        (f"hit, cold, 3 near copies ({cache.cold_embeds} embedded: worst)", cold_near),
        ("miss (nothing above the recall floor)", lambda: cache.lookup(miss, now=NOW)),
        ("long question (35 words), verify 1", lambda: cache.lookup(long_hit, now=NOW)),
        ("long question (60 words), verify 1", lambda: cache.lookup(long60_hit, now=NOW)),
    ]
    for mode in modes:
        if mode == "exact":
            index._partitions["p"].ann = None  # same rows, searched by the full scan
        print(
            f"== SemanticCache.lookup, verifier, {entries} entries in the partition, {mode}, n={n}"
            f" per line; inline_tokens {'/'.join(map(str, inline))} alternated call by call;"
            " ms, P99 with its 95% order-statistic interval"
        )
        assert (await cache.lookup(hit, now=NOW)).served
        assert not (await cache.lookup(miss, now=NOW)).served
        if mode == "hnsw":
            await lookups_during_writes(cache, index, hit, filler, min(n, 200))
        for name, fn in cases:
            await paired_lines(name, fn, embedder, inline, n)
        report(
            "  search alone (k=4), CPU time",
            await acpu(lambda: index.search("p", filler[0], k=4, now=NOW), n),
        )
        print(f"load average after this mode: {os.getloadavg()}")


async def paired_lines(
    name: str,
    fn: Callable[[], Awaitable[object]],
    embedder: LocalEmbedder,
    inline: tuple[int, ...],
    n: int,
) -> None:
    """Wall and CPU time of ``fn`` under each ``inline_tokens`` setting, alternated
    call by call (the same load for every setting), and the GC collections meanwhile."""
    wall: dict[int, list[float]] = {k: [] for k in inline}
    cpu: dict[int, list[float]] = {k: [] for k in inline}
    collections = [0, 0, 0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections[info["generation"]] += 1

    for setting in inline:
        embedder.inline_tokens = setting
        for _ in range(3):
            await fn()
    gc.callbacks.append(count)
    try:
        for i in range(n):
            order = inline if i % 2 == 0 else inline[::-1]
            for setting in order:
                embedder.inline_tokens = setting
                t, c = time.perf_counter(), time.process_time()
                await fn()
                cpu[setting].append(time.process_time() - c)
                wall[setting].append(time.perf_counter() - t)
    finally:
        gc.callbacks.remove(count)
    for setting in inline:
        print(f"{name} [inline_tokens={setting}]")
        print(f"    wall {quantiles(wall[setting])}   CPU {quantiles(cpu[setting])}")
    print(f"    GC collections during these calls (gen 0/1/2): {collections}")


async def bench_replica_lookup(embedder: LocalEmbedder, url: str, n: int) -> None:
    """Replica B looks up near copies that replica A stored through the Redis index.

    With ``share_token_kb`` (default) the entries carry their token vectors and B
    verifies them without a forward pass; without it (``share_token_bytes=0``, B's
    token store cleared before each call, as for an entry B has never embedded) B
    embeds the most similar near copy. Calls alternate between the two replicas B.
    Each lookup also pays the Redis round trips (XREAD before the search, GET of the
    payload); the partition is small here: the 100k search is measured above.
    """
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    verifier = load_verifier(model=embedder.model)
    settings = SemanticSettings()
    indexes = [RedisIndex.from_url(url, embedder.dim, prefix="replica") for _ in range(3)]
    a = SemanticCache(embedder, indexes[0], settings, verifier)
    shared = SemanticCache(embedder, indexes[1], settings, verifier)
    unshared = SemanticCache(embedder, indexes[2], settings, verifier, share_token_bytes=0)
    try:
        for text in NEAR_COPIES:
            miss = await a.lookup(SemanticQuery("p", text), now=NOW)
            await a.store(SemanticQuery("p", text), b"answer", now=NOW, vector=miss.vector)
        query = SemanticQuery("p", "How can I change my account password?")
        assert (await shared.lookup(query, now=NOW)).served
        assert all(t in shared.tokens for t in NEAR_COPIES)  # arrived with the entries
        assert (await unshared.lookup(query, now=NOW)).served

        async def cold() -> object:
            unshared.tokens.clear()
            return await unshared.lookup(query, now=NOW)

        print(f"== another replica's 3 near copies through Redis ({url}), n={n} per line")
        wall: dict[str, list[float]] = {"shared": [], "not shared": []}
        cpu: dict[str, list[float]] = {"shared": [], "not shared": []}
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "shared": lambda: shared.lookup(query, now=NOW),
            "not shared": cold,
        }
        for i in range(n):
            for name in ("shared", "not shared") if i % 2 == 0 else ("not shared", "shared"):
                t, c = time.perf_counter(), time.process_time()
                await calls[name]()
                cpu[name].append(time.process_time() - c)
                wall[name].append(time.perf_counter() - t)
        for name in calls:
            print(f"lookup, token vectors {name}")
            print(f"    wall {quantiles(wall[name])}   CPU {quantiles(cpu[name])}")
    finally:
        for index in indexes:
            await index.close()


async def bench_redis(url: str, n: int, replay: int) -> None:
    print(f"== Redis index ({url})")
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    rng = np.random.default_rng(5)
    writer = RedisIndex.from_url(url, 384, capacity=replay + 1000)
    vectors = random_unit(rng, replay, 384)
    t = time.perf_counter()
    for i, v in enumerate(vectors):
        await writer.add("p", v, f"q{i}", b"x" * 500, now=NOW, ttl=3600)
    per_add = (time.perf_counter() - t) / replay * 1e3
    print(f"{'add (SET payload + XADD), sequential':<52} {per_add:8.3f} ms each")
    reader = RedisIndex.from_url(url, 384, capacity=replay + 1000)
    t = time.perf_counter()
    applied = await reader.sync(now=NOW)
    print(f"{f'cold replica replays {applied} entries':<52} {time.perf_counter() - t:8.3f} s")
    query = vectors[0]
    report(
        f"search {replay} with sync (nothing new), k=4",
        await atimed(lambda: reader.search("p", query, k=4, now=NOW), n),
    )
    entry = (await reader.search("p", query, k=1, now=NOW))[0].id
    report("fetch payload (500 B)", await atimed(lambda: reader.fetch("p", entry, now=NOW), n))
    await writer.close()
    await reader.close()


async def main_async(args: argparse.Namespace) -> None:
    n = args.n or (30 if args.quick else 200)
    if args.only_verified:
        inline = tuple(int(x) for x in args.inline_tokens.split(","))
        embedder = LocalEmbedder(model=args.model, backend=args.backend, inline_tokens=inline[-1])
        weights = args.weights_text
        print(f"embedder: {args.model} {args.backend}; verifier: {args.verifier or 'shipped'}")
        await bench_verified_lookup(
            embedder,
            n,
            10_000 if args.quick else 100_000,
            args.graph_cache,
            weights,
            prepare_only=args.prepare_graph,
            modes=("hnsw",) if args.hnsw_only else ("hnsw", "exact"),
            inline=inline,
        )
        if args.replicas:
            with redis_server(args.redis_url) as url:
                if url is None:
                    print("no redis-server: replica lookups not measured")
                else:
                    await bench_replica_lookup(embedder, url, n)
        return
    embedder = bench_embedders(n)
    bench_guards(n)
    await bench_memory_index([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000], n)
    await bench_lookup(embedder, n)
    await bench_verified_lookup(embedder, n, 10_000 if args.quick else 100_000)
    with redis_server(args.redis_url) as url:
        if url is None:
            print("no redis-server: Redis index not measured")
        else:
            await bench_redis(url, n, 1_000 if args.quick else 10_000)
    bench_torch_reference(embedder, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sizes")
    parser.add_argument(
        "--only-verified", action="store_true", help="only the verified lookup at 100k entries"
    )
    parser.add_argument("--backend", default="onnx", choices=("onnx", "onnx-int8", "numpy"))
    parser.add_argument("--model", default=ENCODERS[0], choices=ENCODERS, help="the encoder")
    parser.add_argument("--verifier", help="verifier weights JSON (default: the shipped one)")
    parser.add_argument(
        "--graph-cache",
        help="path prefix: save the 100k-entry HNSW graph there and reuse it on later runs",
    )
    parser.add_argument(
        "--prepare-graph",
        action="store_true",
        help="with --only-verified --graph-cache: build and save the graph, time nothing"
        " (so the timed run, under the bench lock, only restores it)",
    )
    parser.add_argument(
        "--hnsw-only", action="store_true", help="skip the exact-scan lines (a shorter run)"
    )
    parser.add_argument(
        "--replicas",
        action="store_true",
        help="with --only-verified: also another replica's entries through a Redis index",
    )
    parser.add_argument("--n", type=int, help="calls per timed line (default 200; 30 quick)")
    parser.add_argument(
        "--inline-tokens",
        default="32",
        help="the embedder's inline_tokens, or several (e.g. 0,32) alternated call by call",
    )
    args = parser.parse_args()
    args.weights_text = None if args.verifier is None else Path(args.verifier).read_text()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
