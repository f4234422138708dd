"""all-MiniLM-L6-v2 on ONNX Runtime, with the graph built from the safetensors weights.

ONNX Runtime runs the model about twice as fast as the numpy forward pass
(``minilm``) on this class of CPU, because its MLAS kernels pack the weights
for the small matrix shapes of short texts. Exporting with torch would need the
2 GB torch install and a one-time export step with a cache directory to manage;
instead the same BERT graph is written here with ``onnx.helper`` (a few dozen
standard operators) and handed to ONNX Runtime as bytes, once, when the model
loads. Numerically it is the numpy path's twin: both are checked against
sentence-transformers in the tests.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lockgate.cache.semantic.minilm import layer_count, load_safetensors, mean_pool

__all__ = ["OnnxMiniLM", "build_graph", "cache_dir", "quantise", "quantised_cached", "remove_stale"]

F32 = npt.NDArray[np.float32]


def build_graph(
    tensors: dict[str, npt.NDArray[np.generic]], *, heads: int = 12, layers: int | None = None
) -> bytes:
    """A serialised ONNX model: (input_ids, attention_mask) -> last hidden state
    (``layers``: every ``encoder.layer.N`` of ``tensors`` unless given)."""
    from onnx import TensorProto, helper, numpy_helper

    if layers is None:
        layers = layer_count(tensors)

    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: npt.ArrayLike, dtype: Any = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(name: str, transpose: bool = False) -> str:
        arr = np.asarray(tensors[name], dtype=np.float32)
        return const(name, np.ascontiguousarray(arr.T) if transpose else arr)

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    dim = int(tensors["embeddings.word_embeddings.weight"].shape[1])
    head_dim = dim // heads
    const("axes_12", [1, 2], np.int64)
    const("zero_s", 0, np.int64)
    const("one_s", 1, np.int64)
    const("qkv_shape", [0, 0, 3, heads, head_dim], np.int64)
    const("ctx_shape", [0, 0, dim], np.int64)
    const("scale", 1.0 / math.sqrt(head_dim))
    const("one_f", 1.0)
    const("neg_big", -1e9)
    const("sqrt_half", 1.0 / math.sqrt(2.0))
    const("half", 0.5)
    for i in range(3):
        const(f"idx{i}", i, np.int64)
    token_type0 = np.asarray(tensors["embeddings.token_type_embeddings.weight"])[0]
    const("token_type0", token_type0)

    # Embeddings: word + position + token type 0, then LayerNorm.
    node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], "word")
    node("Shape", ["input_ids"], "ids_shape")
    node("Gather", ["ids_shape", "one_s"], "seq_len")
    node("Range", ["zero_s", "seq_len", "one_s"], "positions")
    node("Gather", [weight("embeddings.position_embeddings.weight"), "positions"], "pos")
    node("Add", ["word", "pos"], "emb0")
    node("Add", ["emb0", "token_type0"], "emb1")
    x = node(
        "LayerNormalization",
        ["emb1", weight("embeddings.LayerNorm.weight"), weight("embeddings.LayerNorm.bias")],
        "x_emb",
        axis=-1,
        epsilon=1e-12,
    )
    # Padding keys get -1e9 before softmax: (1 - mask) * -1e9, shaped (n, 1, 1, s).
    node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    node("Sub", ["one_f", "mask_f"], "inv_mask")
    node("Mul", ["inv_mask", "neg_big"], "bias2")
    node("Unsqueeze", ["bias2", "axes_12"], "attn_bias")

    for i in range(layers):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate(
            [
                np.asarray(tensors[p + f"attention.self.{n}.weight"])
                for n in ("query", "key", "value")
            ]
        ).T
        qkv_b = np.concatenate(
            [np.asarray(tensors[p + f"attention.self.{n}.bias"]) for n in ("query", "key", "value")]
        )
        const(f"l{i}_qkv_w", np.ascontiguousarray(qkv_w))
        const(f"l{i}_qkv_b", qkv_b)
        node("MatMul", [x, f"l{i}_qkv_w"], f"l{i}_qkv0")
        node("Add", [f"l{i}_qkv0", f"l{i}_qkv_b"], f"l{i}_qkv1")
        node("Reshape", [f"l{i}_qkv1", "qkv_shape"], f"l{i}_qkv2")
        node("Transpose", [f"l{i}_qkv2"], f"l{i}_qkv3", perm=[2, 0, 3, 1, 4])
        q, k, v = (
            node("Gather", [f"l{i}_qkv3", f"idx{j}"], f"l{i}_{n}") for j, n in enumerate("qkv")
        )
        node("Transpose", [k], f"l{i}_kt", perm=[0, 1, 3, 2])
        node("MatMul", [q, f"l{i}_kt"], f"l{i}_s0")
        node("Mul", [f"l{i}_s0", "scale"], f"l{i}_s1")
        node("Add", [f"l{i}_s1", "attn_bias"], f"l{i}_s2")
        node("Softmax", [f"l{i}_s2"], f"l{i}_w", axis=-1)
        node("MatMul", [f"l{i}_w", v], f"l{i}_ctx0")
        node("Transpose", [f"l{i}_ctx0"], f"l{i}_ctx1", perm=[0, 2, 1, 3])
        node("Reshape", [f"l{i}_ctx1", "ctx_shape"], f"l{i}_ctx")
        node("MatMul", [f"l{i}_ctx", weight(p + "attention.output.dense.weight", True)], f"l{i}_o0")
        node("Add", [f"l{i}_o0", weight(p + "attention.output.dense.bias")], f"l{i}_o1")
        node("Add", [f"l{i}_o1", x], f"l{i}_o2")
        x = node(
            "LayerNormalization",
            [
                f"l{i}_o2",
                weight(p + "attention.output.LayerNorm.weight"),
                weight(p + "attention.output.LayerNorm.bias"),
            ],
            f"l{i}_x1",
            axis=-1,
            epsilon=1e-12,
        )
        node("MatMul", [x, weight(p + "intermediate.dense.weight", True)], f"l{i}_u0")
        node("Add", [f"l{i}_u0", weight(p + "intermediate.dense.bias")], f"l{i}_u1")
        # Exact (erf) GELU, the form BERT was trained with; ORT fuses this pattern.
        node("Mul", [f"l{i}_u1", "sqrt_half"], f"l{i}_g0")
        node("Erf", [f"l{i}_g0"], f"l{i}_g1")
        node("Add", [f"l{i}_g1", "one_f"], f"l{i}_g2")
        node("Mul", [f"l{i}_u1", f"l{i}_g2"], f"l{i}_g3")
        node("Mul", [f"l{i}_g3", "half"], f"l{i}_g4")
        node("MatMul", [f"l{i}_g4", weight(p + "output.dense.weight", True)], f"l{i}_d0")
        node("Add", [f"l{i}_d0", weight(p + "output.dense.bias")], f"l{i}_d1")
        node("Add", [f"l{i}_d1", x], f"l{i}_d2")
        x = node(
            "LayerNormalization",
            [
                f"l{i}_d2",
                weight(p + "output.LayerNorm.weight"),
                weight(p + "output.LayerNorm.bias"),
            ],
            f"l{i}_x2",
            axis=-1,
            epsilon=1e-12,
        )
    node("Identity", [x], "hidden")
    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", "s"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["n", "s"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["n", "s", dim])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    blob: bytes = model.SerializeToString()
    return blob


def quantise(model: bytes) -> bytes:
    """``model`` with int8 weights (per output channel) and dynamically quantised
    activations: about half the CPU time of a forward pass.

    Made here from the installed weights (nothing is downloaded), in a few
    seconds, when an ``int8`` encoder loads. Per-channel scales matter: with one
    scale per tensor, BERT's outlier channels cost the sentence vectors a cosine
    of 0.96 to the float32 model's; per channel it is 0.994 (mean over 40
    dev sentences, bench/bench_semantic.py compares the two).
    """
    import logging
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    def no_preprocessing_advice(record: logging.LogRecord) -> bool:
        # The quantiser suggests its shape pre-pass (it needs sympy) on the root
        # logger; every shape here is already known.
        return "pre-processing before quantization" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(no_preprocessing_advice)
    try:
        with tempfile.TemporaryDirectory(prefix="lockgate-minilm-") as tmp:
            src, dst = Path(tmp, "fp32.onnx"), Path(tmp, "int8.onnx")
            src.write_bytes(model)
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True)
            return dst.read_bytes()
    finally:
        root.removeFilter(no_preprocessing_advice)


def cache_dir() -> Path:
    """Where derived model files are kept: ``$LOCKGATE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/lockgate``, else ``~/.cache/lockgate``."""
    import os

    explicit = os.environ.get("LOCKGATE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lockgate"


#: a cached int8 model not read for this long belongs to a weights or ONNX Runtime
#: version no longer in use here: the next quantisation removes it
STALE_SECONDS = 30 * 86_400


def quantised_cached(model: bytes) -> bytes:
    """``quantise(model)``, kept on disk after the first time (keyed by the float
    model's bytes and the ONNX Runtime version): later starts skip the seconds
    it takes. A cache that cannot be read or written is only a slower start.

    Each read marks the file as used (its mtime); writing a new one removes the
    other int8 models of this cache not used for ``STALE_SECONDS`` (another
    install still using one keeps it fresh, and one removed under it only costs
    that install a quantisation) and temporary files left by an interrupted write.
    """
    import hashlib
    import os

    import onnxruntime as ort  # type: ignore[import-untyped]

    key = hashlib.sha256(model).hexdigest()[:20]
    path = cache_dir() / f"minilm-int8-{key}-ort{ort.__version__}.onnx"
    try:
        blob = path.read_bytes()
    except OSError:
        pass
    else:
        with contextlib.suppress(OSError):
            os.utime(path)
        return blob
    blob = quantise(model)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        tmp.replace(path)  # atomic: a concurrent start reads the old file or the new one
    except OSError:
        return blob
    remove_stale(path)
    return blob


def remove_stale(current: Path, *, now: float | None = None) -> list[Path]:
    """Remove the cached int8 models (and leftover temporary files) beside ``current``
    not used for ``STALE_SECONDS``; only this cache's own file names are touched."""
    import time

    cutoff = (time.time() if now is None else now) - STALE_SECONDS
    removed = []
    for old in current.parent.glob("minilm-int8-*"):
        if old == current or not old.name.endswith((".onnx", ".tmp")):
            continue
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
                removed.append(old)
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


class OnnxMiniLM:
    """The same encoder as ``minilm.MiniLM``, run by ONNX Runtime (``int8``: quantised)."""

    def __init__(
        self,
        tensors: dict[str, npt.NDArray[np.generic]],
        *,
        threads: int = 1,
        int8: bool = False,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread per call: the gateway already runs one embed per worker
        # thread, and spreading a 9-token matmul over cores costs more than it saves.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        model = build_graph(tensors)
        self.int8 = int8
        self._session = ort.InferenceSession(
            quantised_cached(model) if int8 else model, options, providers=["CPUExecutionProvider"]
        )
        self.dim = int(tensors["embeddings.word_embeddings.weight"].shape[1])
        self.max_positions = int(tensors["embeddings.position_embeddings.weight"].shape[0])

    @classmethod
    def from_dir(cls, model_dir: Path, *, threads: int = 1, int8: bool = False) -> OnnxMiniLM:
        return cls(load_safetensors(model_dir / "model.safetensors"), threads=threads, int8=int8)

    def encode(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> F32:
        """Pooled, L2-normalised sentence vectors for a padded batch ``(n, seq)``."""
        return mean_pool(self.hidden(ids, mask), mask)

    def hidden(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> F32:
        """The last hidden state ``(n, seq, dim)``: one vector per token."""
        (out,) = self._session.run(["hidden"], {"input_ids": ids, "attention_mask": mask})
        hidden: F32 = np.asarray(out, dtype=np.float32)
        return hidden
