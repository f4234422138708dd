"""Measure a semantic cache setting on labelled question pairs.

The input is JSON Lines, one pair a line::

    {"q1": "How do I reset my password?", "q2": "How can I change my password?", "label": 1}

``label`` is 1 (or true) when an answer to ``q1`` is a correct answer to ``q2``.
(``sentence1``/``sentence2`` are accepted too, as PAWS and GLUE name them.)
An optional ``source`` field groups the figures (one table per source).
Each pair is treated as one lookup of ``q2`` against a cache holding ``q1``.
With the learned verifier (the default) a *hit* is a cosine at or above the
verifier's recall floor and a verifier probability at or above the operating
point of ``max_false_hit_rate``; without it, a cosine at or above the
threshold that no enabled guard vetoes.

* precision      = true hits / all hits (how often a served answer is right)
* hit rate       = true hits / positive pairs (how many paraphrases are served)
* false-hit rate = false hits / negative pairs (how many near misses are served)

Each comes with a 95% Clopper-Pearson interval and its sample size. The sweep
shows the same figures at other operating points (error budgets with the
verifier, cosine thresholds without).

Run ``python -m lockgate.cache.semantic.eval PAIRS.jsonl`` (the gateway CLI
wraps the same function as ``lockgate cache eval``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lockgate.cache.semantic.embedder import Embedder, LocalEmbedder, TokenEmbedder, TokenVectors
from lockgate.cache.semantic.guards import extract_features, near_miss
from lockgate.cache.semantic.live import proportion_interval
from lockgate.cache.semantic.semantic_cache import SemanticSettings
from lockgate.cache.semantic.settings import CACHE_ENCODER
from lockgate.cache.semantic.verifier import (
    Verifier,
    differing_words,
    load_verifier,
    pair_features,
)

__all__ = [
    "EvalReport",
    "LabelledPair",
    "Rates",
    "SweepPoint",
    "evaluate_pairs",
    "evaluate_pairs_async",
    "load_pairs",
    "main",
]

_SWEEP = (0.70, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98)


@dataclass(frozen=True, slots=True)
class LabelledPair:
    q1: str
    q2: str
    label: bool
    source: str = "all"


Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Rates:
    """Counts and rates of one group of pairs, each rate with its 95% interval."""

    pairs: int
    positives: int
    negatives: int
    true_hits: int
    false_hits: int
    precision: float | None
    precision_ci: Interval
    hit_rate: float | None
    hit_rate_ci: Interval
    false_hit_rate: float | None
    false_hit_rate_ci: Interval

    @classmethod
    def of(cls, outcomes: list[tuple[bool, bool]]) -> Rates:
        """From ``(label, hit)`` pairs."""
        pos = sum(1 for label, _ in outcomes if label)
        neg = len(outcomes) - pos
        th = sum(1 for label, hit in outcomes if hit and label)
        fh = sum(1 for label, hit in outcomes if hit and not label)

        def rate(k: int, n: int) -> tuple[float | None, Interval]:
            return (k / n if n else None), proportion_interval(k, n, method="exact")

        precision, precision_ci = rate(th, th + fh)
        hit_rate, hit_ci = rate(th, pos)
        fhr, fhr_ci = rate(fh, neg)
        return cls(len(outcomes), pos, neg, th, fh, precision, precision_ci, hit_rate, hit_ci,
                   fhr, fhr_ci)  # fmt: skip

    def cells(self) -> str:
        def pct(value: float | None, ci: Interval) -> str:
            if value is None:
                return "n/a"
            return f"{value:6.1%} [{ci[0]:.1%}, {ci[1]:.1%}]"

        served = self.true_hits + self.false_hits
        return (
            f"precision {pct(self.precision, self.precision_ci)} n={served}"
            f" | hit rate {pct(self.hit_rate, self.hit_rate_ci)} n={self.positives}"
            f" | false-hit {pct(self.false_hit_rate, self.false_hit_rate_ci)} n={self.negatives}"
        )


@dataclass(frozen=True, slots=True)
class OperatingPointRow:
    """Figures at one point of the sweep: overall and per source."""

    label: str
    overall: Rates
    by_source: dict[str, Rates]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """Precision and rates at one threshold, with and without the guards."""

    threshold: float
    precision: float | None
    hit_rate: float
    false_hit_rate: float
    precision_no_guards: float | None
    hit_rate_no_guards: float
    false_hit_rate_no_guards: float


@dataclass(frozen=True, slots=True)
class PairOutcome:
    q1: str
    q2: str
    label: bool
    score: float
    rejected_by: str | None
    hit: bool
    probability: float | None = None
    source: str = "all"


@dataclass(frozen=True)
class EvalReport:
    """Counts and rates at the configured settings, plus a threshold sweep."""

    threshold: float
    guards: tuple[str, ...]
    pairs: int
    positives: int
    negatives: int
    true_hits: int
    false_hits: int
    missed: int
    correct_rejects: int
    rejected_by: dict[str, int]
    sweep: list[SweepPoint]
    false_hit_examples: list[PairOutcome] = field(default_factory=list)
    missed_examples: list[PairOutcome] = field(default_factory=list)
    #: "verifier" (learned verifier at an error budget) or "threshold" (cosine + guards)
    mode: str = "threshold"
    max_false_hit_rate: float | None = None
    overall: Rates | None = None
    by_source: dict[str, Rates] = field(default_factory=dict)
    operating_points: list[OperatingPointRow] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        hits = self.true_hits + self.false_hits
        return self.true_hits / hits if hits else None

    @property
    def hit_rate(self) -> float:
        return self.true_hits / self.positives if self.positives else 0.0

    @property
    def false_hit_rate(self) -> float:
        return self.false_hits / self.negatives if self.negatives else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            precision=self.precision, hit_rate=self.hit_rate, false_hit_rate=self.false_hit_rate
        )
        return out

    def render(self) -> str:
        """A plain-text summary for a terminal."""

        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1%}"

        setting = (
            f"learned verifier at max_false_hit_rate {self.max_false_hit_rate}"
            if self.mode == "verifier"
            else f"threshold {self.threshold:.2f}, guards: {', '.join(self.guards) or 'none'}"
        )
        lines = [
            f"pairs {self.pairs} ({self.positives} paraphrases, {self.negatives} near misses)",
            setting,
            f"precision      {pct(self.precision)}  "
            f"({self.true_hits} right / {self.true_hits + self.false_hits} served)",
            f"hit rate       {pct(self.hit_rate)}  ({self.true_hits} of {self.positives})",
            f"false-hit rate {pct(self.false_hit_rate)}  ({self.false_hits} of {self.negatives})",
            (
                "rejected above the recall floor: "
                if self.mode == "verifier"
                else "vetoed above threshold: "
            )
            + (", ".join(f"{k} {v}" for k, v in sorted(self.rejected_by.items())) or "none"),
        ]
        if self.by_source:
            lines += ["", "per source (95% Clopper-Pearson intervals, n = pairs counted):"]
            lines += [f"  {name:<16} {r.cells()}" for name, r in sorted(self.by_source.items())]
        if self.operating_points:
            lines += ["", "operating-point sweep (max_false_hit_rate):"]
            for row in self.operating_points:
                lines.append(f"  {row.label:<8} all              {row.overall.cells()}")
                lines += [
                    f"  {'':<8} {name:<16} {r.cells()}" for name, r in sorted(row.by_source.items())
                ]
        lines += [
            "",
            "threshold  precision  hit-rate  false-hit  "
            "| no guards: precision  hit-rate  false-hit",
        ]
        for p in self.sweep:
            lines.append(
                f"{p.threshold:9.2f}  {pct(p.precision):>9}  {pct(p.hit_rate):>8}  "
                f"{pct(p.false_hit_rate):>9}  |            {pct(p.precision_no_guards):>9}  "
                f"{pct(p.hit_rate_no_guards):>8}  {pct(p.false_hit_rate_no_guards):>9}"
            )
        for title, examples in (
            ("false hits", self.false_hit_examples),
            ("missed", self.missed_examples),
        ):
            if examples:
                lines += ["", f"{title}:"]
                lines += [
                    f"  {e.score:.3f} {e.rejected_by or '-':>9}  {e.q1!r} / {e.q2!r}"
                    for e in examples
                ]
        return "\n".join(lines)


def _label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    raise ValueError(f"label must be 0/1 or true/false, got {value!r}")


def load_pairs(path: Path) -> list[LabelledPair]:
    """Read a JSONL pairs file; blank lines are skipped, bad lines raise with a line number."""
    pairs: list[LabelledPair] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                q1 = row["q1"] if "q1" in row else row["sentence1"]
                q2 = row["q2"] if "q2" in row else row["sentence2"]
                if not isinstance(q1, str) or not isinstance(q2, str):
                    raise ValueError("q1 and q2 must be strings")
                source = row.get("source", "all")
                pairs.append(LabelledPair(q1, q2, _label(row["label"]), str(source)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from exc
    return pairs


def _rates(
    outcomes: list[tuple[bool, bool]], positives: int, negatives: int
) -> tuple[float | None, float, float]:
    true_hits = sum(1 for label, hit in outcomes if hit and label)
    false_hits = sum(1 for label, hit in outcomes if hit and not label)
    served = true_hits + false_hits
    return (
        true_hits / served if served else None,
        true_hits / positives if positives else 0.0,
        false_hits / negatives if negatives else 0.0,
    )


async def evaluate_pairs_async(
    path: Path | str,
    cache_settings: SemanticSettings,
    *,
    embedder: Embedder | None = None,
    verifier: Verifier | None = None,
    batch: int = 64,
    examples: int = 20,
    progress: bool = False,
) -> EvalReport:
    """``evaluate_pairs`` for callers already inside an event loop.

    The verifier decides when ``cache_settings.verifier`` is on and the
    embedder yields token vectors (the local one does); ``verifier`` defaults
    to the shipped one. ``progress`` draws a progress bar on stderr.
    """
    pairs = load_pairs(Path(path))
    emb = (
        embedder
        if embedder is not None
        else LocalEmbedder(model=CACHE_ENCODER, backend="onnx-int8")
    )
    use_verifier = cache_settings.verifier and isinstance(emb, TokenEmbedder)
    if use_verifier and verifier is None:
        # the weights trained on this embedder's vectors
        verifier = load_verifier(
            backend=getattr(emb, "backend", "onnx-int8"),
            model=getattr(emb, "model", CACHE_ENCODER),
        )
    texts = sorted({t for p in pairs for t in (p.q1, p.q2)})
    vectors: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}
    tokens: dict[str, TokenVectors] = {}
    with _progress(progress, len(texts) + len(pairs)) as advance:
        for start in range(0, len(texts), batch):
            chunk = texts[start : start + batch]
            if use_verifier:
                assert isinstance(emb, TokenEmbedder)
                for text, tv in zip(chunk, await emb.embed_tokens(chunk), strict=True):
                    tokens[text] = tv
                    vectors[text] = tv.sentence
            else:
                for text, vec in zip(chunk, await emb.embed(chunk), strict=True):
                    vectors[text] = vec
            advance(len(chunk))
        features = {t: extract_features(t) for t in texts}
        scored: list[tuple[LabelledPair, float, str | None, float | None]] = []
        inputs: dict[LabelledPair, tuple[np.ndarray[Any, np.dtype[np.float32]], int]] = {}
        for p in pairs:
            score = float(vectors[p.q1] @ vectors[p.q2])
            veto = near_miss(features[p.q2], features[p.q1], cache_settings.guards)
            prob = None
            if use_verifier:
                assert verifier is not None
                row = pair_features(tokens[p.q2], features[p.q2], tokens[p.q1], features[p.q1])
                prob = float(verifier.probability(row[None, :])[0])
                if p.q1 == p.q2:
                    prob = 1.0  # as a live lookup judges the very same question (certain)
                inputs[p] = (row, differing_words(features[p.q2], features[p.q1]))
                if verifier.vetoed(row[None, :])[0]:
                    prob = 0.0  # a hard veto: never a hit at any operating point
            scored.append((p, score, veto, prob))
            advance(1)
    positives = sum(p.label for p in pairs)
    negatives = len(pairs) - positives
    points_at = (
        {b: verifier.operating_point(b) for b, *_ in verifier.calibration} if verifier else {}
    )

    def hit_at(
        p: LabelledPair, score: float, veto: str | None, prob: float | None, budget: float
    ) -> bool:
        if use_verifier:
            assert verifier is not None and prob is not None
            point = points_at.get(budget) or verifier.operating_point(budget)
            row, differing = inputs[p]
            probs = np.asarray([prob])
            return bool(verifier.accepts(row[None, :], np.asarray([differing]), point, probs)[0])
        return score >= cache_settings.threshold and veto is None

    outcomes: list[PairOutcome] = []
    rejected: Counter[str] = Counter()
    for p, score, veto, prob in scored:
        hit = hit_at(p, score, veto, prob, cache_settings.max_false_hit_rate)
        if use_verifier:
            assert verifier is not None
            if not hit and score >= verifier.operating_point(1.0).recall:
                rejected["verifier"] += 1
        elif score >= cache_settings.threshold and veto is not None:
            rejected[veto] += 1
        outcomes.append(
            PairOutcome(
                p.q1,
                p.q2,
                p.label,
                round(score, 4),
                None if use_verifier else veto,
                hit,
                None if prob is None else round(prob, 4),
                p.source,
            )
        )
    sweep: list[SweepPoint] = []
    for t in sorted({*_SWEEP, cache_settings.threshold}):
        guarded = _rates(
            [(p.label, s >= t and v is None) for p, s, v, _ in scored], positives, negatives
        )
        bare = _rates([(p.label, s >= t) for p, s, _, _ in scored], positives, negatives)
        sweep.append(SweepPoint(t, *guarded, *bare))
    points: list[OperatingPointRow] = []
    if use_verifier:
        assert verifier is not None
        for budget, *_ in verifier.calibration:
            hits = [(p, hit_at(p, s, v, pr, budget)) for p, s, v, pr in scored]
            points.append(_row(f"{budget:g}", hits))
    by_score = sorted(outcomes, key=lambda o: -o.score)
    final = [(o.label, o.hit) for o in outcomes]
    return EvalReport(
        threshold=cache_settings.threshold,
        guards=() if use_verifier else cache_settings.guards,
        pairs=len(pairs),
        positives=positives,
        negatives=negatives,
        true_hits=sum(o.hit and o.label for o in outcomes),
        false_hits=sum(o.hit and not o.label for o in outcomes),
        missed=sum(not o.hit and o.label for o in outcomes),
        correct_rejects=sum(not o.hit and not o.label for o in outcomes),
        rejected_by=dict(rejected),
        sweep=sweep,
        false_hit_examples=[o for o in by_score if o.hit and not o.label][:examples],
        missed_examples=[o for o in by_score if not o.hit and o.label][:examples],
        mode="verifier" if use_verifier else "threshold",
        max_false_hit_rate=cache_settings.max_false_hit_rate if use_verifier else None,
        overall=Rates.of(final),
        by_source=_by_source([(o.source, o.label, o.hit) for o in outcomes]),
        operating_points=points,
    )


def _by_source(rows: list[tuple[str, bool, bool]]) -> dict[str, Rates]:
    groups: dict[str, list[tuple[bool, bool]]] = {}
    for source, label, hit in rows:
        groups.setdefault(source, []).append((label, hit))
    return {name: Rates.of(group) for name, group in groups.items()}


def _row(label: str, hits: list[tuple[LabelledPair, bool]]) -> OperatingPointRow:
    return OperatingPointRow(
        label,
        Rates.of([(p.label, hit) for p, hit in hits]),
        _by_source([(p.source, p.label, hit) for p, hit in hits]),
    )


@contextmanager
def _progress(show: bool, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr, or a no-op."""
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("embedding and scoring pairs", total=total)
        yield lambda n: bar.advance(task, n)


def evaluate_pairs(
    path: Path | str,
    cache_settings: SemanticSettings,
    *,
    embedder: Embedder | None = None,
    verifier: Verifier | None = None,
    progress: bool = False,
) -> EvalReport:
    """Precision, hit rate and false-hit rate of ``cache_settings`` on a pairs file."""
    return asyncio.run(
        evaluate_pairs_async(
            path, cache_settings, embedder=embedder, verifier=verifier, progress=progress
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lockgate.cache.semantic.eval",
        description="Precision, hit rate and false-hit rate of the semantic cache on "
        "labelled question pairs (JSONL with q1, q2, label).",
    )
    parser.add_argument("pairs", type=Path)
    defaults = SemanticSettings()
    parser.add_argument("--threshold", type=float, default=defaults.threshold)
    parser.add_argument(
        "--guards",
        default=",".join(defaults.guards),
        help="comma-separated guard names; empty for none",
    )
    parser.add_argument("--max-false-hit-rate", type=float, default=defaults.max_false_hit_rate)
    parser.add_argument(
        "--no-verifier", action="store_true", help="cosine threshold and guards only"
    )
    parser.add_argument("--progress", action="store_true", help="progress bar on stderr")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    guards = tuple(g for g in args.guards.split(",") if g)
    settings = SemanticSettings(
        threshold=args.threshold,
        guards=guards,
        verifier=not args.no_verifier,
        max_false_hit_rate=args.max_false_hit_rate,
    )
    report = evaluate_pairs(args.pairs, settings, progress=args.progress)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
