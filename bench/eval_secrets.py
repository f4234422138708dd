# ruff: noqa: E501  (report lines)
"""Secret detection on gitleaks' examples (tests/guards_pii/data/gitleaks_examples.jsonl).

    PYTHONPATH=src python bench/eval_secrets.py

Recall on rows gitleaks 8.30.1 reports, false-positive rate on the rows it does not
(all of them, and the "must not match" kind: false examples copied from gitleaks'
rule files plus documentation placeholders), for the whole scanner (gitleaks' rules
plus lockgate's own credential detectors) and for the gitleaks rules alone; Wilson 95%
intervals; scan cost.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from lockgate.guards.pii import SECRET_TYPES, PiiScanner
from lockgate.guards.pii.secret_rules import SecretRuleDetector

DATA = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "guards_pii"
    / "data"
    / "gitleaks_examples.jsonl"
)


def wilson(k: int, n: int) -> str:
    if not n:
        return "n=0"
    z, p = 1.96, k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return f"{p:.4f} [{max(0, c - h):.4f}, {min(1, c + h):.4f}] ({k}/{n})"


def main() -> None:
    rows = [json.loads(x) for x in DATA.read_text().splitlines() if x]
    scanner = PiiScanner(sorted(SECRET_TYPES))
    rules = SecretRuleDetector()
    for name, hit in (
        ("scanner", lambda t: bool(scanner.find(t))),
        ("gitleaks rules", lambda t: bool(rules.hits(t))),
    ):
        pos = [r for r in rows if r["label"] == 1]
        neg = [r for r in rows if r["label"] == 0]
        must_not = [r for r in neg if r["origin"] in ("gitleaks-go", "placeholder")]
        print(f"{name}: recall {wilson(sum(hit(r['text']) for r in pos), len(pos))}")
        print(
            f"  FPR must-not-match kind {wilson(sum(hit(r['text']) for r in must_not), len(must_not))}"
        )
        print(
            f"  FPR all gitleaks-negative rows {wilson(sum(hit(r['text']) for r in neg), len(neg))}"
        )
        for origin in sorted({r["origin"] for r in rows}):
            sub = [r for r in rows if r["origin"] == origin]
            p = [r for r in sub if r["label"] == 1]
            n = [r for r in sub if r["label"] == 0]
            print(
                f"    {origin:12} recall {wilson(sum(hit(r['text']) for r in p), len(p))}"
                f"  fpr {wilson(sum(hit(r['text']) for r in n), len(n))}"
            )
    covered = {r["rule"] for r in rows if r["label"] == 1}
    print(f"rules with a true example: {len(covered)} of {len(rules.rule_ids)}")
    texts = [r["text"] for r in rows]
    kb = sum(len(t) for t in texts) / 1024
    start = time.perf_counter()
    for t in texts:
        scanner.find(t)
    print(f"scan cost: {(time.perf_counter() - start) * 1e6 / kb:.0f} us/KB over {kb:.0f} KB")


if __name__ == "__main__":
    main()
