"""Quality and cost of the PII/secret scanner on a labelled JSONL file.

    PYTHONPATH=src python bench/eval_pii.py [data/dev/pii-dev.jsonl] [--show]
    PYTHONPATH=src python bench/eval_pii.py --secrets [--show]   # synthetic credentials

Rows: {"text", "label", "spans": [{"start", "end", "type", "value"}]}. Reports
span-level precision/recall per type (a prediction matches a gold span of the same
type when they overlap), the share of label-0 rows with any finding, and the scan
cost in microseconds per KB of text.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from lockgate.guards.pii import PiiScanner, Redactor, StreamRedactor

DEFAULT = Path(__file__).resolve().parents[1] / "data" / "dev" / "pii-dev.jsonl"


def wilson(k: int, n: int) -> str:
    """Wilson 95% interval of k/n, printed."""
    if n == 0:
        return "[n/a]"
    z, p = 1.96, k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / d
    return f"[{max(0.0, c - h):.4f}, {min(1.0, c + h):.4f}]"


@dataclass
class Tally:
    """Span-level counts of one scan of labelled rows (see ``score_rows``)."""

    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    exact: int = 0
    neg_rows: int = 0
    neg_hits: int = 0
    #: per row, the types of its findings that matched no gold span
    fp_types: list[set[str]] = field(default_factory=list)


def score_rows(rows: list[dict[str, Any]], scanner: PiiScanner, show: bool = False) -> Tally:
    """Match each row's findings to its gold spans: a finding matches an unmatched gold
    span of the same type that it overlaps; ``exact`` counts matches with equal bounds."""
    tally = Tally()
    for row in rows:
        text = row["text"]
        gold = [(s["start"], s["end"], s["type"]) for s in row.get("spans", [])]
        found = scanner.find(text)
        matched: set[int] = set()
        stray: set[str] = set()
        for f in found:
            hit = next(
                (
                    i
                    for i, (s, e, t) in enumerate(gold)
                    if t == f.type and f.start < e and s < f.end and i not in matched
                ),
                None,
            )
            if hit is None:
                tally.fp[f.type] += 1
                stray.add(f.type)
                if show:
                    ctx = text[max(0, f.start - 50) : f.end + 30]
                    print(f"FP {f.type:12} {f.value!r:40} | {ctx!r}")
            else:
                matched.add(hit)
                tally.tp[f.type] += 1
                tally.exact += (f.start, f.end) == gold[hit][:2]
                if show and (f.start, f.end) != gold[hit][:2]:
                    want = text[gold[hit][0] : gold[hit][1]]
                    print(f"INEXACT {f.type:8} {f.value!r:40} gold {want!r}")
        for i, (s, e, t) in enumerate(gold):
            if i not in matched:
                tally.fn[t] += 1
                if show:
                    print(f"FN {t:12} {text[s:e]!r:40} | {text[:160]!r}")
        tally.fp_types.append(stray)
        if row.get("label") == 0:
            tally.neg_rows += 1
            tally.neg_hits += bool(found)
    return tally


def print_tally(tally: Tally) -> None:
    """Per-type table, span recall and exactness, and label-0 rows with a finding."""
    tp, fp, fn = tally.tp, tally.fp, tally.fn
    types = sorted(set(tp) | set(fp) | set(fn))
    print(f"{'type':12} {'tp':>5} {'fp':>5} {'fn':>5} {'prec':>6} {'recall':>6}  recall 95% CI")
    for t in [*types, "ALL"]:
        a = sum(tp.values()) if t == "ALL" else tp[t]
        b = sum(fp.values()) if t == "ALL" else fp[t]
        c = sum(fn.values()) if t == "ALL" else fn[t]
        prec = a / (a + b) if a + b else 1.0
        rec = a / (a + c) if a + c else 1.0
        print(f"{t:12} {a:5} {b:5} {c:5} {prec:6.3f} {rec:6.3f}  {wilson(a, a + c)}")
    n_tp, n_gold = sum(tp.values()), sum(tp.values()) + sum(fn.values())
    print(
        f"span recall {n_tp}/{n_gold} Wilson 95% {wilson(n_tp, n_gold)}; exact boundaries "
        f"{tally.exact}/{n_tp} = {tally.exact / max(n_tp, 1):.4f} {wilson(tally.exact, n_tp)}"
    )
    print(
        f"label-0 rows with a finding: {tally.neg_hits}/{tally.neg_rows} = "
        f"{tally.neg_hits / max(tally.neg_rows, 1):.4f} Wilson 95% "
        f"{wilson(tally.neg_hits, tally.neg_rows)}"
    )


def main(argv: list[str]) -> None:
    show = "--show" in argv
    if "--secrets" in argv:
        sys.path.insert(0, str(Path(__file__).parent))
        from secret_rows import secret_rows

        rows = secret_rows()
    else:
        paths = [Path(a) for a in argv if not a.startswith("--")] or [DEFAULT]
        rows = [orjson.loads(line) for p in paths for line in p.read_bytes().splitlines() if line]
    scanner = PiiScanner()
    print_tally(score_rows(rows, scanner, show))

    corpus = "\n".join(r["text"] for r in rows)
    kb = len(corpus.encode()) / 1024
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        scanner.find(corpus)
        best = min(best, time.perf_counter() - t0)
    per_row = float("inf")
    texts = [r["text"] for r in rows]
    for _ in range(3):
        t0 = time.perf_counter()
        for t in texts:
            scanner.find(t)
        per_row = min(per_row, time.perf_counter() - t0)
    print(
        f"cost: {best * 1e6 / kb:.1f} us/KB on one {kb:.0f} KB text; "
        f"{per_row * 1e6 / kb:.1f} us/KB row by row ({per_row * 1e6 / len(rows):.1f} us/row)"
    )
    redactor = Redactor(scanner)
    for size in (4, 16, 64):
        deltas = [corpus[i : i + size] for i in range(0, len(corpus), size)]
        t0 = time.perf_counter()
        stream = StreamRedactor(redactor)
        for d in deltas:
            stream.feed(d)
        stream.flush()
        took = time.perf_counter() - t0
        print(f"stream: {took * 1e6 / kb:.1f} us/KB fed in {size}-char deltas")


if __name__ == "__main__":
    main(sys.argv[1:])
