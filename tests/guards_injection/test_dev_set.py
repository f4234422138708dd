"""Regression floors on the labelled dev file (training-set figures, not held-out ones).

The shipped model was fitted on 23 sources including this file, so these numbers are
optimistic; leave-one-source-out figures come from bench/injection_loso.py. The floors
are there to catch a regression in normalisation, patterns, features or the weights
file. Measured 2026-11-29 at the default threshold 0.6: recall 0.852, FPR 0.000 (was
0.882 with the 18-source model: the benign documents added since pull some of deepset's
loosely labelled "injections", such as "generate c++", below the threshold, while the
leave-one-source-out user-turn FPR fell from 0.037 to 0.029 at an unchanged F1 0.905).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lockgate.guards.injection import InjectionDetector

DEV = Path(
    os.environ.get(
        "LOCKGATE_INJECTION_DEV",
        str(Path(__file__).resolve().parents[2] / "data" / "dev" / "injection-dev.jsonl"),
    )
)


def test_dev_file_recall_and_false_positive_floors() -> None:
    """Recall stays at least 0.84 and the false-positive rate at most 0.01 on the dev rows."""
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()]
    detector = InjectionDetector()
    tp = fp = pos = neg = 0
    for row in rows:
        flagged = detector.score(row["text"]).flagged
        if row["label"]:
            pos += 1
            tp += flagged
        else:
            neg += 1
            fp += flagged
    assert pos > 150 and neg > 400
    assert tp / pos >= 0.84, f"recall {tp / pos:.3f}"
    assert fp / neg <= 0.01, f"false-positive rate {fp / neg:.3f}"
