"""Which pairs the cross-encoder can ever decide: rewordings above the recall cosine.

    PYTHONPATH=src .venv/bin/python bench/cross_candidates.py \\
        /work/shared/data/paraphrase-dev.jsonl --extra bench/data/stsb_train_headlines.jsonl.gz \\
        --backend onnx-int8 --out /tmp/ce/candidates.npy

The cross-encoder only judges rewordings (near copies stay with the feature verifier) whose
sentence cosine reaches the recall threshold and that no hard veto rejects; everything else is
a miss or a near copy whatever it says. Training and scoring it on those rows only keeps a
CPU-starved run short. A rewording here is "not a near copy under the narrowest near-copy
regime the nested CV may pick" (Jaccard >= 0.8 or <= 1 differing word), so every regime's
rewordings are covered. Writes a boolean mask over the rows (dev file first, then --extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from train_verifier import RECALL, featurise, load, vetoed

from lockgate.cache.semantic.guards import extract_features
from lockgate.cache.semantic.verifier import Regime, differing_words

VETOES = ["numbers", "units", "negation", "opposites", "question"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--extra", type=Path, action="append", default=[])
    ap.add_argument("--backend", default="onnx-int8", choices=("onnx", "onnx-int8"))
    ap.add_argument("--vectors", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = load(args.pairs)
    for extra in args.extra:
        rows += load(extra)
    vectors = args.vectors or Path(f"/tmp/lockgate-verifier-vectors-{args.backend}.npz")
    x = featurise(rows, args.backend, vectors)
    feats = {t: extract_features(t) for r in rows for t in (r["q1"], r["q2"])}
    differing = np.asarray([differing_words(feats[r["q2"]], feats[r["q1"]]) for r in rows])
    near = Regime(0.8, 1).near_copy(x, differing)
    mask = (x[:, 0] >= RECALL) & ~vetoed(x, VETOES) & ~near
    np.save(args.out, mask)
    src = np.asarray([str(r.get("source", "all")) for r in rows])
    y = np.asarray([int(r["label"]) for r in rows])
    for s in np.unique(src):
        m = src == s
        print(
            f"{s}: {int(mask[m].sum())} of {int(m.sum())} rows, {int(mask[m & (y == 1)].sum())} pos"
        )


if __name__ == "__main__":
    main()
