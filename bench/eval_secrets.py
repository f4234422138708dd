# ruff: noqa: E501  (report lines)
"""Secret detection on gitleaks' examples (tests/guards_pii/data/gitleaks_examples.jsonl).

    PYTHONPATH=src python bench/eval_secrets.py [--families] [--show]

Every row is labelled by the gitleaks 8.30.1 binary. Reported, for the whole scanner
(gitleaks' rules plus lockgate's own credential detectors) and for the gitleaks rules
alone, with exact (Clopper-Pearson) 95% intervals:

- the rule files' own examples (origin ``gitleaks-go``): recall on the rows gitleaks
  reports, false-positive rate on the rule files' "must not match" examples (fps that
  gitleaks does not report either);
- the rule files' true examples that gitleaks 8.30.1 itself does not report (the rule
  files read are of a later commit, whose patterns also take XML elements, CSV cells,
  YAML block scalars, ``+=`` and escaped JSON): how many the scanner still redacts;
- all rows (with the rows drawn from each rule's pattern and the placeholders);
- with ``--families``: the same per rule family (rule file, else the rule id's stem).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from scipy.stats import binomtest

from lockgate.guards.pii import SECRET_TYPES, PiiScanner
from lockgate.guards.pii.secret_rules import SecretRuleDetector

DATA = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "guards_pii"
    / "data"
    / "gitleaks_examples.jsonl"
)

Row = dict[str, object]


def cp(k: int, n: int) -> str:
    """k/n with its exact (Clopper-Pearson) 95% interval."""
    if not n:
        return "n=0"
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return f"{k / n:.4f} [{ci.low:.4f}, {ci.high:.4f}] ({k}/{n})"


def family(row: Row) -> str:
    go_file = row.get("go_file")
    if isinstance(go_file, str):
        return go_file.removesuffix(".go")
    return str(row["rule"]).split("-")[0]


def split(rows: list[Row]) -> tuple[list[Row], list[Row], list[Row], list[Row]]:
    """Rule-file rows: gitleaks-positive, must-not-match, true examples gitleaks misses
    (of its own 8.30.1 rules; of rules added since)."""
    own = [r for r in rows if r["origin"] == "gitleaks-go"]
    pos = [r for r in own if r["label"] == 1]
    fps = [r for r in own if r["label"] == 0 and r.get("expected", 0) == 0]
    missed = [r for r in own if r["label"] == 0 and r.get("expected") == 1]
    return (
        pos,
        fps,
        [r for r in missed if not r.get("new_rule")],
        [r for r in missed if r.get("new_rule")],
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", action="store_true", help="per rule family")
    ap.add_argument("--show", action="store_true", help="print misses and false positives")
    args = ap.parse_args()
    rows: list[Row] = [json.loads(x) for x in DATA.read_text().splitlines() if x]
    scanner = PiiScanner(sorted(SECRET_TYPES))
    rules = SecretRuleDetector()
    pos, fps, gl_missed, new_rules = split(rows)
    own = pos + fps + gl_missed + new_rules
    print(f"rows {len(rows)}; rule-file rows {len(own)} "
          f"from {len({family(r) for r in own if r.get('go_file')})} files + s7's 15")  # fmt: skip
    detectors: list[tuple[str, Callable[[str], bool]]] = [
        ("scanner", lambda t: bool(scanner.find(t))),
        ("gitleaks rules", lambda t: bool(rules.hits(t))),
    ]
    for name, hit in detectors:
        flagged = {id(r): hit(str(r["text"])) for r in rows}
        tp = sum(flagged[id(r)] for r in pos)
        fp = sum(flagged[id(r)] for r in fps)
        print(f"{name}:")
        print(f"  rule-file examples: recall {cp(tp, len(pos))}  FPR {cp(fp, len(fps))}")
        print(f"  rule-file true examples gitleaks 8.30.1 does not report: redacted "
              f"{cp(sum(flagged[id(r)] for r in gl_missed), len(gl_missed))}")  # fmt: skip
        print(f"  rule-file true examples of rules added after 8.30.1: redacted "
              f"{cp(sum(flagged[id(r)] for r in new_rules), len(new_rules))}")  # fmt: skip
        s7 = [r for r in rows if r["origin"] == "gitleaks-go" and not r.get("go_file")]
        s7p = [r for r in s7 if r["label"] == 1]
        s7n = [r for r in s7 if r["label"] == 0]
        print(f"  session 7's 15 files only: recall {cp(sum(flagged[id(r)] for r in s7p), len(s7p))}"
              f"  FPR {cp(sum(flagged[id(r)] for r in s7n), len(s7n))}")  # fmt: skip
        allpos = [r for r in rows if r["label"] == 1]
        neg = [r for r in rows if r["label"] == 0 and r.get("expected", 0) == 0]
        print(f"  all rows: recall {cp(sum(flagged[id(r)] for r in allpos), len(allpos))}  "
              f"FPR {cp(sum(flagged[id(r)] for r in neg), len(neg))}")  # fmt: skip
        if args.show and name == "scanner":
            for r in pos:
                if not flagged[id(r)]:
                    print("    MISS", r["rule"], repr(str(r["text"])[:120]))
            for r in fps:
                if flagged[id(r)]:
                    print("    FP  ", r["rule"], repr(str(r["text"])[:120]))
        if args.families and name == "scanner":
            fam: dict[str, list[Row]] = defaultdict(list)
            for r in pos + fps:
                fam[family(r)].append(r)
            print(f"  per family ({len(fam)}), rule-file examples: recall / FPR")
            for f in sorted(fam):
                p = [r for r in fam[f] if r["label"] == 1]
                n = [r for r in fam[f] if r["label"] == 0]
                print(f"    {f:18} recall {cp(sum(flagged[id(r)] for r in p), len(p)):34} "
                      f"FPR {cp(sum(flagged[id(r)] for r in n), len(n))}")  # fmt: skip
    covered = {g for r in rows for g in r["gitleaks_rules"]}  # type: ignore[attr-defined]
    print(
        f"rules with a true example: {len(covered & set(rules.rule_ids))} of {len(rules.rule_ids)}"
    )


if __name__ == "__main__":
    main()
