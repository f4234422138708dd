"""The vector index seam and its in-memory implementation.

An index stores, per partition, unit vectors with the text they came from and
an opaque payload (the serialised answer). ``search`` returns the best
candidates by cosine similarity without payloads, so the cache can run its
near-miss guards on the candidate texts before paying to fetch an answer (a
network round trip on Redis).

``MemoryIndex`` is exact: one float32 matrix per partition, searched with a
single matrix-vector product. At 384 dimensions that is about 1.5 kB a vector;
100k entries in one partition are ~150 MB and one search reads all of it, so
the capacity bound (oldest entries out first) is also the latency bound.
Partitions of ``offload_rows`` or more are scanned in a worker thread so the
event loop keeps serving meanwhile.

A partition of ``ann_rows`` entries or more also gets an HNSW graph (USearch,
inner product on the unit vectors): a search then reads a few hundred vectors
instead of all of them, and its best ``k`` are re-scored exactly against the
matrix. Smaller partitions stay on the exact scan, which is faster there and
has no recall loss. The graph is built once, when a search finds the partition
that large, in a worker thread from a copy of its rows (searches stay exact
meanwhile).

Graph writes never run on the event loop: an add or removal updates the matrix
at once and queues the graph change; one writer task per partition applies the
queue in a worker thread (an insertion into a 100k graph costs milliseconds).
Searches stay consistent meanwhile: an entry whose insertion is still queued
is scored exactly from the matrix (``ann_pending``), and a removed entry's
graph key is forgotten at once, so the graph can never return it. USearch
keeps one search context per thread number and its Python binding uses number
0 for every single-threaded call, so graph calls hold ``ann_lock``: the writer
takes it for one insertion at a time, and a search waits at most that long.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["AnnParams", "Candidate", "MemoryIndex", "VectorIndex", "top_rows"]

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One search hit: which entry, how similar, and the text it was stored for."""

    id: str
    score: float
    text: str


class VectorIndex(Protocol):
    """Per-partition nearest-neighbour store for the semantic cache."""

    async def add(
        self,
        partition: str,
        vector: F32,
        text: str,
        payload: bytes,
        *,
        now: float,
        ttl: float,
        tokens: bytes | None = None,
    ) -> str:
        """Store an entry that expires at ``now + ttl``; return its id. ``tokens``: the
        text's token vectors (``TokenStore.to_bytes``) for an index that shares them."""
        ...

    async def search(self, partition: str, vector: F32, *, k: int, now: float) -> list[Candidate]:
        """Up to ``k`` live entries of ``partition``, most similar first."""
        ...

    async def fetch(self, partition: str, entry_id: str, *, now: float) -> bytes | None:
        """The payload of a live entry, or ``None`` if it expired or was evicted."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AnnParams:
    """HNSW settings of a large partition (USearch's names).

    The defaults keep recall at 1.0 on planted neighbours above the verifier's
    recall floor in ``bench/bench_semantic.py`` (see its recall line).
    """

    connectivity: int = 16
    expansion_add: int = 64
    expansion_search: int = 128
    build_threads: int = 2


class _Partition:
    """Rows of one partition; a deleted row is filled by the last one (swap-remove)."""

    __slots__ = (
        "ann",
        "ann_build",
        "ann_ids",
        "ann_keys",
        "ann_lock",
        "ann_next",
        "ann_pending",
        "ann_queue",
        "ann_writer",
        "dim",
        "expires",
        "ids",
        "inline",
        "matrix",
        "payloads",
        "rows",
        "size",
        "tasks",
        "texts",
    )

    def __init__(
        self, dim: int, tasks: set[asyncio.Task[None]] | None = None, *, inline: bool = False
    ) -> None:
        self.dim = dim
        self.ann: Any = None  # a usearch.index.Index once the partition is large
        self.ann_keys: dict[str, int] = {}
        self.ann_ids: dict[int, str] = {}
        self.ann_next = 0  # graph keys are never reused: rows move, keys do not
        self.ann_build: asyncio.Task[None] | None = None
        self.ann_lock = threading.Lock()
        # graph changes not applied yet, in order: (key, vector) adds, (key, None) removals
        self.ann_queue: deque[tuple[int, F32 | None]] = deque()
        self.ann_pending: dict[str, int] = {}  # entry id -> key, queued for insertion
        self.ann_writer: asyncio.Task[None] | None = None
        #: apply graph changes on the calling thread (tests; no running loop)
        self.inline = inline
        self.tasks = tasks if tasks is not None else set()
        self.matrix: F32 = np.empty((16, dim), dtype=np.float32)
        self.expires = np.empty(16, dtype=np.float64)
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.payloads: list[bytes] = []
        self.rows: dict[str, int] = {}
        self.size = 0

    def add(self, entry_id: str, vector: F32, text: str, payload: bytes, expires: float) -> None:
        if self.size == len(self.matrix):
            # Doubling keeps appends amortised O(dim) without holding max capacity up front.
            self.matrix = np.concatenate([self.matrix, np.empty_like(self.matrix)])
            self.expires = np.concatenate([self.expires, np.empty_like(self.expires)])
        row = self.size
        self.matrix[row] = vector
        self.expires[row] = expires
        self.ids.append(entry_id)
        self.texts.append(text)
        self.payloads.append(payload)
        self.rows[entry_id] = row
        self.size += 1
        if self.ann is not None:
            self._ann_add([entry_id], vector[None, :])
            self._ann_flush()

    def build_ann(self, params: AnnParams) -> None:
        """Index every current row in an HNSW graph now, on this thread."""
        ids = self.ids[: self.size]
        self.attach_ann(new_graph(self.dim, params, self.matrix[: self.size]), ids)
        self._inserted(self.apply_ann(len(self.ann_queue)))

    def start_ann_build(self, params: AnnParams) -> asyncio.Task[None] | None:
        """Build the graph from a copy of the rows in a worker thread, then attach it."""
        if self.ann_build is not None:
            return None
        ids = list(self.ids[: self.size])
        matrix = self.matrix[: self.size].copy()

        async def build() -> None:
            graph = await asyncio.to_thread(new_graph, self.dim, params, matrix)
            self.attach_ann(graph, ids)

        self.ann_build = asyncio.get_running_loop().create_task(build())
        return self.ann_build

    def attach_ann(self, graph: Any, ids: list[str]) -> None:
        """Use ``graph`` (keys 0.. for ``ids``), queueing the changes made since."""
        self.ann = graph
        self.ann_keys = {entry_id: key for key, entry_id in enumerate(ids)}
        self.ann_ids = dict(enumerate(ids))
        self.ann_next = len(ids)
        for entry_id in [e for e in self.ann_keys if e not in self.rows]:
            self._ann_remove(entry_id)
        new = [e for e in self.ids[: self.size] if e not in self.ann_keys]
        if new:
            self._ann_add(new, self.matrix[[self.rows[e] for e in new]])
        self._ann_flush()

    def _ann_add(self, entry_ids: list[str], vectors: F32) -> None:
        """Give ``entry_ids`` graph keys now and queue their insertion."""
        for entry_id, vector in zip(entry_ids, vectors, strict=True):
            key = self.ann_next
            self.ann_next += 1
            self.ann_keys[entry_id] = key
            self.ann_ids[key] = entry_id
            self.ann_pending[entry_id] = key
            # a copy: the row may move (swap-remove) before the writer reads it
            self.ann_queue.append((key, np.array(vector, dtype=np.float32)))

    def _ann_remove(self, entry_id: str) -> None:
        """Forget ``entry_id``'s key at once (searches drop it) and queue its removal."""
        key = self.ann_keys.pop(entry_id)
        del self.ann_ids[key]
        self.ann_pending.pop(entry_id, None)
        # Queued after its insertion if that is still queued: the writer is the
        # queue's only consumer, so the queue is only ever appended to here.
        self.ann_queue.append((key, None))

    def _ann_flush(self) -> None:
        """Have the queued graph changes applied: inline, or by the writer task."""
        if not self.ann_queue or self.ann_writer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self.inline or loop is None:
            self._inserted(self.apply_ann(len(self.ann_queue)))
            return
        self.ann_writer = loop.create_task(self._write())
        self.tasks.add(self.ann_writer)
        self.ann_writer.add_done_callback(self.tasks.discard)

    async def _write(self) -> None:
        try:
            while self.ann_queue:
                self._inserted(await asyncio.to_thread(self.apply_ann, 64))
        finally:
            self.ann_writer = None

    def apply_ann(self, limit: int) -> list[int]:
        """Apply up to ``limit`` queued graph changes; the keys inserted.

        Runs on any thread and touches only the graph and the queue's head (one
        change per hold of ``ann_lock``); the key maps stay with the event loop.
        """
        graph = self.ann
        inserted: list[int] = []
        for _ in range(limit):
            try:
                key, vector = self.ann_queue[0]
            except IndexError:
                break
            with self.ann_lock:
                if vector is None:
                    graph.remove(key)
                else:
                    graph.add(key, vector, threads=1)
                    inserted.append(key)
            self.ann_queue.popleft()
        return inserted

    def _inserted(self, keys: list[int]) -> None:
        """Entries now in the graph need no exact scoring any more."""
        for key in keys:
            entry_id = self.ann_ids.get(key)
            if entry_id is not None and self.ann_pending.get(entry_id) == key:
                del self.ann_pending[entry_id]

    async def ann_idle(self) -> None:
        """Wait until every queued graph change is applied."""
        while self.ann_writer is not None:
            await asyncio.shield(self.ann_writer)

    def remove(self, entry_id: str) -> None:
        if self.ann is not None:
            self._ann_remove(entry_id)
            self._ann_flush()
        row = self.rows.pop(entry_id)
        last = self.size - 1
        if row != last:
            self.matrix[row] = self.matrix[last]
            self.expires[row] = self.expires[last]
            moved = self.ids[last]
            self.ids[row] = moved
            self.texts[row] = self.texts[last]
            self.payloads[row] = self.payloads[last]
            self.rows[moved] = row
        self.ids.pop()
        self.texts.pop()
        self.payloads.pop()
        self.size = last

    def snapshot(self) -> tuple[F32, npt.NDArray[np.float64]]:
        """Views of the live rows, safe to scan from another thread.

        Appends write past ``size`` or into a new array, so the views stay
        valid; a concurrent removal may move a row, which ``rescore`` corrects.
        """
        return self.matrix[: self.size], self.expires[: self.size]

    def rescore(self, rows: list[int], vector: F32, now: float) -> list[Candidate]:
        """Candidates for ``rows`` scored against the current data, best first."""
        out = [
            Candidate(self.ids[i], float(self.matrix[i] @ vector), self.texts[i])
            for i in rows
            if i < self.size and self.expires[i] > now
        ]
        out.sort(key=lambda c: -c.score)
        return out

    def search(self, vector: F32, k: int, now: float) -> list[Candidate]:
        if self.ann is not None:
            return self.rescore(self.ann_rows(vector, k, now), vector, now)[:k]
        matrix, expires = self.snapshot()
        return self.rescore(top_rows(matrix, expires, vector, k, now), vector, now)

    def ann_rows(self, vector: F32, k: int, now: float) -> list[int]:
        """Rows of the graph's approximate top ``k`` (plus slack for expired ones),
        and of entries still queued for insertion (scored exactly)."""
        query = np.ascontiguousarray(vector, dtype=np.float32)
        with self.ann_lock:
            found = self.ann.search(query, 4 * k, threads=1)
        ids = (self.ann_ids.get(int(key)) for key in found.keys)
        rows = {self.rows[i] for i in ids if i is not None and i in self.rows}
        if self.ann_pending:
            pending = np.fromiter(
                (self.rows[e] for e in self.ann_pending), dtype=np.intp, count=len(self.ann_pending)
            )
            best = top_rows(self.matrix[pending], self.expires[pending], vector, k, now)
            rows.update(int(pending[i]) for i in best)
        return list(rows)


def new_graph(dim: int, params: AnnParams, matrix: F32) -> Any:
    """A USearch HNSW graph of ``matrix``'s rows under keys 0..n-1 (inner product)."""
    from usearch.index import Index

    graph = Index(
        ndim=dim,
        metric="ip",
        dtype="f32",
        connectivity=params.connectivity,
        expansion_add=params.expansion_add,
        expansion_search=params.expansion_search,
    )
    if len(matrix):
        keys = np.arange(len(matrix), dtype=np.uint64)
        graph.add(keys, np.ascontiguousarray(matrix), threads=params.build_threads)
    return graph


def top_rows(
    matrix: F32, expires: npt.NDArray[np.float64], vector: F32, k: int, now: float
) -> list[int]:
    """Row numbers of the ``k`` most similar live rows (one matrix-vector product)."""
    n = len(matrix)
    if n == 0:
        return []
    scores = matrix @ vector
    scores[expires <= now] = -np.inf
    top = np.argpartition(scores, n - k)[n - k :] if n > k else np.arange(n)
    return [int(i) for i in top if scores[i] != -np.inf]


class MemoryIndex:
    """Exact in-process index: a matrix per partition, a global capacity, TTLs.

    When full, the oldest entry (by insertion, across all partitions) goes first;
    expired entries are skipped by ``search`` and dropped as they reach the head
    of the insertion order.
    """

    def __init__(
        self,
        dim: int,
        *,
        capacity: int = 100_000,
        offload_rows: int = 20_000,
        ann_rows: int | None = 4_096,
        ann: AnnParams | None = None,
        ann_inline: bool = False,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.dim = dim
        #: partitions of this many rows or more are searched through an HNSW graph
        self.ann_rows = ann_rows
        self.ann = ann or AnnParams()
        #: build a graph on the searching call instead of a worker thread (tests)
        self.ann_inline = ann_inline
        self._builds: set[asyncio.Task[None]] = set()
        self.capacity = capacity
        self.offload_rows = offload_rows
        self._partitions: dict[str, _Partition] = {}
        # entry id -> (partition, expiry), oldest first.
        self._order: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._ids = itertools.count()

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._order

    def _drop(self, entry_id: str) -> None:
        partition_key, _ = self._order.pop(entry_id)
        partition = self._partitions[partition_key]
        partition.remove(entry_id)
        if partition.size == 0:
            del self._partitions[partition_key]

    def _purge(self, now: float) -> None:
        while self._order:
            entry_id, (_, expires) = next(iter(self._order.items()))
            if expires > now:
                return
            self._drop(entry_id)

    def add_sync(
        self,
        partition: str,
        vector: F32,
        text: str,
        payload: bytes,
        *,
        expires: float,
        entry_id: str | None = None,
        now: float,
    ) -> str:
        """``add`` with an absolute expiry and an optional caller-chosen id."""
        if vector.shape != (self.dim,):
            raise ValueError(f"vector must have shape ({self.dim},), got {vector.shape}")
        self._purge(now)
        if entry_id is None:
            entry_id = f"m{next(self._ids)}"
        elif entry_id in self._order:
            self._drop(entry_id)
        while len(self._order) >= self.capacity:
            self._drop(next(iter(self._order)))
        part = self._partitions.get(partition)
        if part is None:
            part = self._partitions[partition] = _Partition(
                self.dim, self._builds, inline=self.ann_inline
            )
        part.add(entry_id, vector, text, payload, expires)
        self._order[entry_id] = (partition, expires)
        return entry_id

    def build_ann(self, partition: str) -> None:
        """Give ``partition`` its HNSW graph now, whatever its size (benchmarks, warm-up)."""
        part = self._partitions.get(partition)
        if part is not None and part.ann is None:
            part.build_ann(self.ann)

    async def ann_ready(self, partition: str) -> bool:
        """Wait for a graph being built for ``partition``; whether it has one now."""
        part = self._partitions.get(partition)
        if part is not None and part.ann_build is not None:
            await part.ann_build
        if part is not None:
            await part.ann_idle()
        return self.uses_ann(partition)

    def uses_ann(self, partition: str) -> bool:
        part = self._partitions.get(partition)
        return part is not None and part.ann is not None

    def search_sync(self, partition: str, vector: F32, *, k: int, now: float) -> list[Candidate]:
        part = self._partitions.get(partition)
        return part.search(vector, k, now) if part is not None else []

    def fetch_sync(self, partition: str, entry_id: str, *, now: float) -> bytes | None:
        part = self._partitions.get(partition)
        if part is None:
            return None
        row = part.rows.get(entry_id)
        if row is None or part.expires[row] <= now:
            return None
        return part.payloads[row]

    def expires_at(self, entry_id: str) -> float | None:
        entry = self._order.get(entry_id)
        return entry[1] if entry is not None else None

    def remove_sync(self, entry_id: str) -> bool:
        if entry_id not in self._order:
            return False
        self._drop(entry_id)
        return True

    async def add(
        self,
        partition: str,
        vector: F32,
        text: str,
        payload: bytes,
        *,
        now: float,
        ttl: float,
        tokens: bytes | None = None,
    ) -> str:
        # ``tokens`` stay with this process's cache (its TokenStore has them)
        return self.add_sync(partition, vector, text, payload, expires=now + ttl, now=now)

    async def search(self, partition: str, vector: F32, *, k: int, now: float) -> list[Candidate]:
        part = self._partitions.get(partition)
        if part is None:
            return []
        if part.ann is None and self.ann_rows is not None and part.size >= self.ann_rows:
            if self.ann_inline:
                part.build_ann(self.ann)
            elif (task := part.start_ann_build(self.ann)) is not None:
                self._builds.add(task)
                task.add_done_callback(self._builds.discard)
        if part.size < self.offload_rows or part.ann is not None:
            return part.search(vector, k, now)
        # A scan of 100k rows reads ~150 MB (several ms): do it off the event
        # loop, then re-score the few winners on the loop against current data.
        matrix, expires = part.snapshot()
        rows = await asyncio.to_thread(top_rows, matrix, expires, vector, k, now)
        return part.rescore(rows, vector, now)

    async def fetch(self, partition: str, entry_id: str, *, now: float) -> bytes | None:
        return self.fetch_sync(partition, entry_id, now=now)

    async def close(self) -> None:
        builds = list(self._builds)
        for task in builds:
            task.cancel()
        await asyncio.gather(*builds, return_exceptions=True)
        self._partitions.clear()
        self._order.clear()
