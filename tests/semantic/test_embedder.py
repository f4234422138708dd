"""The local MiniLM embedder and the callable one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lockgate.cache.semantic.embedder import CallableEmbedder, Embedder, LocalEmbedder
from lockgate.cache.semantic.minilm_onnx import build_graph, cache_dir, quantised_cached

# First 8 values of sentence-transformers' own all-MiniLM-L6-v2 vector for this text
# (torch reference, normalize_embeddings=True), recorded once.
REFERENCE_TEXT = "How do I reset my password?"
REFERENCE_HEAD = [0.0069, -0.06302, -0.07204, -0.0325, -0.04271, 0.07043, 0.00907, 0.01541]


async def test_vectors_are_unit_length_and_384_wide(local_embedder: LocalEmbedder) -> None:
    """Every row has 384 float32 values and length one."""
    out = await local_embedder.embed(["hello world", "What is the capital of France?", "a"])
    assert out.shape == (3, 384)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert isinstance(local_embedder, Embedder)


async def test_matches_the_reference_implementation(
    onnx_embedder: LocalEmbedder, numpy_embedder: LocalEmbedder
) -> None:
    """Both float32 backends reproduce sentence-transformers' vector."""
    for embedder in (onnx_embedder, numpy_embedder):
        out = await embedder.embed([REFERENCE_TEXT])
        np.testing.assert_allclose(out[0, :8], REFERENCE_HEAD, atol=2e-4)


async def test_backends_agree(
    onnx_embedder: LocalEmbedder, numpy_embedder: LocalEmbedder, l6_int8_embedder: LocalEmbedder
) -> None:
    """ONNX Runtime and numpy give the same vectors for a padded batch of mixed texts;
    the int8 model (quantised from the same weights at load) stays close to them."""
    texts = ["Is it safe?", "Ünïcödé text with 中文 and émojis 🙂", "word " * 300]
    a = await onnx_embedder.embed(texts)
    b = await numpy_embedder.embed(texts)
    np.testing.assert_allclose((a * b).sum(axis=1), 1.0, atol=1e-4)
    questions = ["How do I reset my password?", "What is the capital of France?", *texts]
    fp32, int8 = await onnx_embedder.embed(questions), await l6_int8_embedder.embed(questions)
    assert l6_int8_embedder.backend == "onnx-int8"
    assert ((fp32 * int8).sum(axis=1) > 0.97).all()
    assert not np.allclose(fp32, int8, atol=1e-4)  # really another model


async def test_paraphrases_score_above_unrelated(local_embedder: LocalEmbedder) -> None:
    """A paraphrase is closer than an unrelated question."""
    a, b, c = await local_embedder.embed(
        [
            "How do I reset my password?",
            "What is the procedure to change my password?",
            "What is the boiling point of water?",
        ]
    )
    assert float(a @ b) > 0.7
    assert float(a @ c) < 0.3


async def test_batch_padding_does_not_change_vectors(local_embedder: LocalEmbedder) -> None:
    """A short text embedded beside a long one gets the same vector as alone."""
    short, long = "Is it safe?", "Explain in detail how the token bucket rate limiter works " * 5
    together = await local_embedder.embed([short, long])
    alone = await local_embedder.embed([short])
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)


async def test_empty_batch(local_embedder: LocalEmbedder) -> None:
    """No texts give an empty (0, 384) array."""
    assert (await local_embedder.embed([])).shape == (0, 384)


async def test_callable_embedder_normalises() -> None:
    """Vectors from a gateway-supplied function are scaled to unit length."""

    async def fn(texts: list[str]) -> list[list[float]]:
        return [[3.0, 4.0] for _ in texts]

    out = await CallableEmbedder(fn, dim=2).embed(["x", "y"])
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.6, 0.8]], atol=1e-6)


async def test_callable_embedder_rejects_wrong_width() -> None:
    """A function returning vectors of the wrong width is an error, not a silent miss."""

    async def fn(texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]

    with pytest.raises(ValueError, match="shape"):
        await CallableEmbedder(fn, dim=2).embed(["x"])


def tiny_bert(rng: np.random.Generator, dim: int = 16, vocab: int = 50) -> dict[str, np.ndarray]:
    """Random weights in MiniLM's layout: one layer, ``dim`` wide (fast to quantise)."""

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.2, shape).astype(np.float32)

    t = {
        "embeddings.word_embeddings.weight": w(vocab, dim),
        "embeddings.position_embeddings.weight": w(32, dim),
        "embeddings.token_type_embeddings.weight": w(2, dim),
        "embeddings.LayerNorm.weight": np.ones(dim, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(dim, np.float32),
    }
    p = "encoder.layer.0."
    for name in ("query", "key", "value"):
        t[p + f"attention.self.{name}.weight"], t[p + f"attention.self.{name}.bias"] = (
            w(dim, dim),
            w(dim),
        )
    t[p + "attention.output.dense.weight"], t[p + "attention.output.dense.bias"] = (
        w(dim, dim),
        w(dim),
    )
    t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = (
        w(4 * dim, dim),
        w(4 * dim),
    )
    t[p + "output.dense.weight"], t[p + "output.dense.bias"] = w(dim, 4 * dim), w(dim)
    for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
        t[p + ln + ".weight"], t[p + ln + ".bias"] = (
            np.ones(dim, np.float32),
            np.zeros(dim, np.float32),
        )
    return t


def test_the_int8_model_is_made_once_and_kept_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quantised from the float graph on first use, then read back from the cache directory;
    an unwritable cache directory only means quantising again."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    monkeypatch.setenv("LOCKGATE_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    model = build_graph(tiny_bert(np.random.default_rng(0)), heads=2, layers=1)
    first = quantised_cached(model)
    (kept,) = list((tmp_path / "cache").iterdir())
    assert kept.read_bytes() == first and first != model
    inode = kept.stat().st_ino
    assert quantised_cached(model) == first and kept.stat().st_ino == inode  # read, not rewritten
    ids = np.asarray([[1, 7, 9, 2, 0]], dtype=np.int64)
    mask = np.asarray([[1, 1, 1, 1, 0]], dtype=np.int64)
    run = {"input_ids": ids, "attention_mask": mask}
    fp32 = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, run)[0]
    int8 = ort.InferenceSession(first, providers=["CPUExecutionProvider"]).run(None, run)[0]
    cos = (fp32 * int8).sum(-1) / np.linalg.norm(fp32, axis=-1) / np.linalg.norm(int8, axis=-1)
    assert (cos > 0.95).all()
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("LOCKGATE_CACHE_DIR", str(blocked))
    assert quantised_cached(model) == first


def test_a_new_int8_model_removes_the_cached_ones_long_unused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old int8 files of this cache (other weights or ONNX Runtime versions) and leftover
    temporary files go when a new model is written; recent ones and other files stay."""
    import os
    import time

    from lockgate.cache.semantic.minilm_onnx import STALE_SECONDS

    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("LOCKGATE_CACHE_DIR", str(cache))
    old = time.time() - STALE_SECONDS - 3600
    files = {
        "minilm-int8-aaaa-ort1.0.0.onnx": old,
        "minilm-int8-bbbb-ort1.1.0.123.tmp": old,
        "minilm-int8-cccc-ort1.2.0.onnx": time.time() - 86_400,
        "someone-elses.onnx": old,
    }
    for name, stamp in files.items():
        (cache / name).write_bytes(b"x")
        os.utime(cache / name, (stamp, stamp))
    model = build_graph(tiny_bert(np.random.default_rng(0)), heads=2, layers=1)
    quantised_cached(model)
    left = sorted(p.name for p in cache.iterdir())
    assert "minilm-int8-cccc-ort1.2.0.onnx" in left and "someone-elses.onnx" in left
    assert "minilm-int8-aaaa-ort1.0.0.onnx" not in left
    assert "minilm-int8-bbbb-ort1.1.0.123.tmp" not in left
    assert len(left) == 3  # the two kept and the new model
    # reading the cached model marks it as used, so a long-running install keeps its file
    (current,) = [p for p in cache.iterdir() if p.name not in files]
    os.utime(current, (old, old))
    quantised_cached(model)
    assert current.stat().st_mtime > old + STALE_SECONDS
