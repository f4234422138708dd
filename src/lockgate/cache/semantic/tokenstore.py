"""Token vectors of cached texts, kept compact so that verifying a candidate
needs no forward pass.

The verifier aligns the query's token vectors with each near-copy
candidate's. The query's come with its own forward pass; a candidate's were
computed when that text was looked up (a stored miss is looked up first), and
``TokenStore`` keeps them: one int8 row per token with a float32 scale per
row (symmetric, per-row max), and the sentence vector as float16, about
``entry_bytes(n) = 388 n + 768 + 512`` bytes for ``n`` tokens (≈ 7 kB for
a 16-token question, a quarter of the float32 arrays). Rows are made unit
length again when read, so alignments stay cosines (the verifier's features
move by ~1e-3; the shipped test pins the verdicts). Bounded by bytes, least
recently used first out; a text that is not here (evicted, or stored by
another replica) is embedded again by the cache, at most ``cold_embeds`` per
lookup. With the Redis index the vectors travel with the entry
(``to_bytes`` / ``put_bytes``), so another replica's entries are not cold either.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from lockgate.cache.semantic.embedder import TokenVectors

__all__ = ["TokenStore", "entry_bytes"]

#: the wire form's header: token rows and width (``to_bytes``)
_HEADER = struct.Struct("<HH")

#: Python objects around the arrays of one entry (three array headers, the
#: tuple, the key and the dict slot), counted so that the bound holds for RSS
_OVERHEAD = 512


class _Entry(NamedTuple):
    codes: npt.NDArray[np.int8]
    scales: npt.NDArray[np.float32]
    sentence: npt.NDArray[np.float16]
    nbytes: int


def entry_bytes(tokens: int, dim: int = 384) -> int:
    """Bytes one text of ``tokens`` token rows of ``dim`` costs in a ``TokenStore``."""
    return tokens * (dim + 4) + 2 * dim + _OVERHEAD


def _unit(m: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    out: npt.NDArray[np.float32] = (m / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return out


def pack(tv: TokenVectors) -> _Entry:
    tokens = np.asarray(tv.tokens, dtype=np.float32)
    peak = np.abs(tokens).max(axis=1, keepdims=True)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint(tokens / scales), -127, 127).astype(np.int8)
    sentence = np.asarray(tv.sentence, dtype=np.float16)
    return _Entry(codes, scales[:, 0], sentence, entry_bytes(len(tokens), tokens.shape[1]))


def unpack(entry: _Entry) -> TokenVectors:
    tokens = entry.codes.astype(np.float32) * entry.scales[:, None]
    return TokenVectors(_unit(entry.sentence.astype(np.float32)), _unit(tokens))


class TokenStore:
    """Least-recently-used map text -> compact token vectors, at most ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, text: object) -> bool:
        return text in self._entries

    def get(self, text: str) -> TokenVectors | None:
        entry = self._entries.get(text)
        if entry is None:
            return None
        self._entries.move_to_end(text)
        return unpack(entry)

    def put(self, text: str, tv: TokenVectors) -> None:
        self._insert(text, pack(tv))

    def to_bytes(self, text: str) -> bytes | None:
        """``text``'s kept vectors as bytes (``put_bytes`` reads them), or ``None``:
        ``388 n + 772`` bytes for ``n`` tokens, what is stored, without decoding."""
        entry = self._entries.get(text)
        if entry is None:
            return None
        rows, dim = entry.codes.shape
        return b"".join(
            (
                _HEADER.pack(rows, dim),
                entry.codes.tobytes(),
                entry.scales.astype("<f4").tobytes(),
                entry.sentence.astype("<f2").tobytes(),
            )
        )

    def put_bytes(self, text: str, blob: bytes) -> None:
        """Keep vectors made by ``to_bytes`` (e.g. another replica's); ``ValueError``
        when ``blob`` is not of that form."""
        if len(blob) < _HEADER.size:
            raise ValueError("token vectors: truncated header")
        rows, dim = _HEADER.unpack_from(blob)
        if rows < 1 or dim < 1 or len(blob) != _HEADER.size + rows * (dim + 4) + 2 * dim:
            raise ValueError("token vectors: size does not match the header")
        at = _HEADER.size
        codes = np.frombuffer(blob, dtype=np.int8, count=rows * dim, offset=at)
        at += rows * dim
        scales = np.frombuffer(blob, dtype="<f4", count=rows, offset=at)
        sentence = np.frombuffer(blob, dtype="<f2", count=dim, offset=at + 4 * rows)
        entry = _Entry(
            codes.reshape(rows, dim).copy(),
            scales.astype(np.float32),
            sentence.astype(np.float16),
            entry_bytes(rows, dim),
        )
        self._insert(text, entry)

    def _insert(self, text: str, entry: _Entry) -> None:
        old = self._entries.pop(text, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self._entries[text] = entry
        self.nbytes += entry.nbytes
        while self.nbytes > self.max_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self.nbytes -= evicted.nbytes

    def move_to(self, text: str, other: TokenStore) -> bool:
        """Hand ``text``'s vectors to ``other`` as they are (no copy); whether they were here."""
        entry = self._entries.pop(text, None)
        if entry is None:
            return False
        self.nbytes -= entry.nbytes
        other._insert(text, entry)
        return True

    def touch(self, text: str) -> None:
        """Mark ``text`` as just used (no copy made)."""
        if text in self._entries:
            self._entries.move_to_end(text)

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0
