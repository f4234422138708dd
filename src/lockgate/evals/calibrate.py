"""Judge calibration on pairwise preference data with gold labels (LLMBar-style rows).

Every pair is judged in both orders (output_1 shown first, then output_2 shown first):
- accuracy: share of the 2N order-judgments that pick the gold output (a tie is wrong);
- Cohen's kappa between the judge's picks and the gold labels over the same judgments;
- positional agreement: share of pairs where both orders pick the same output;
- consistent accuracy: share of pairs where both orders pick the gold output;
each with a 95% bootstrap interval over pairs, overall and per source subset.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lockgate.evals.answer import ChatClient
from lockgate.evals.judge import JudgeError, Side, judge_pair
from lockgate.evals.runner import ProgressSink
from lockgate.evals.stats import Interval, bootstrap_ci, cohen_kappa
from lockgate.evals.store import ResultCache, content_key
from lockgate.evals.suite import SuiteError

__all__ = [
    "PUBLISHED",
    "CalibrationReport",
    "GoldPair",
    "Judgment",
    "SubsetReport",
    "calibration_report",
    "judge_gold_pairs",
    "load_gold_pairs",
]

#: Published GPT-4 judge figures to read a run against.
PUBLISHED: list[tuple[str, str, float]] = [
    ("accuracy", "GPT-4 on LLMBar Natural", 0.955),
    ("accuracy", "GPT-4 on LLMBar's hardest adversarial subset", 0.787),
    ("accuracy", "GPT-4 vs MT-Bench human majority", 0.81),
    ("positional_agreement", "GPT-4 on MT-Bench, both orders", 0.87),
]


@dataclass(frozen=True, slots=True)
class GoldPair:
    id: str
    source: str
    input: str
    output_1: str
    output_2: str
    label: int  # 1 or 2


def load_gold_pairs(path: str | Path) -> list[GoldPair]:
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SuiteError(f"cannot read {p}: {exc.strerror}") from None
    pairs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = int(row["label"])
            if label not in (1, 2):
                raise ValueError("label must be 1 or 2")
            pairs.append(
                GoldPair(
                    id=str(row.get("id", n)),
                    source=str(row.get("source", "all")),
                    input=str(row["input"]),
                    output_1=str(row["output_1"]),
                    output_2=str(row["output_2"]),
                    label=label,
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SuiteError(f"{p}:{n}: not a gold pair ({exc})") from None
    return pairs


@dataclass(frozen=True, slots=True)
class Judgment:
    pair: GoldPair
    #: the output picked (1, 2; 0 = tie) with output_1 shown as A, then with output_2 shown as A
    forward: int | None
    backward: int | None
    error: str | None = None


def _pick(side: Side, first: int) -> int:
    if side == "tie":
        return 0
    return first if side == "A" else 3 - first


async def judge_gold_pairs(
    client: ChatClient,
    judge: str,
    pairs: Sequence[GoldPair],
    *,
    concurrency: int = 8,
    cache: ResultCache | None = None,
    namespace: str = "",
    progress: ProgressSink | None = None,
) -> list[Judgment]:
    sem = asyncio.Semaphore(concurrency)
    store = cache or ResultCache(None)

    async def one_order(pair: GoldPair, first: int) -> int:
        a, b = (pair.output_1, pair.output_2) if first == 1 else (pair.output_2, pair.output_1)
        key = content_key("calibrate", namespace, judge, pair.input, a, b)
        hit = store.get(key)
        if hit is not None:
            return int(hit)
        async with sem:
            side, _, _ = await judge_pair(client, judge, pair.input, a, b)
        pick = _pick(side, first)
        store.put(key, pick)
        return pick

    async def one(pair: GoldPair) -> Judgment:
        try:
            f, b = await asyncio.gather(one_order(pair, 1), one_order(pair, 2))
            return Judgment(pair, f, b)
        except JudgeError as exc:
            return Judgment(pair, None, None, str(exc))
        finally:
            if progress is not None:
                progress.advance()

    if progress is not None:
        progress.start("judging pairs", len(pairs))
    out = list(await asyncio.gather(*(one(p) for p in pairs)))
    await asyncio.to_thread(store.save)
    return out


@dataclass(frozen=True, slots=True)
class SubsetReport:
    name: str
    pairs: int
    errors: int
    accuracy: Interval
    kappa: Interval
    positional_agreement: Interval
    consistent_accuracy: Interval

    def to_json(self) -> dict[str, Any]:
        def iv(x: Interval) -> dict[str, Any] | None:
            return None if math.isnan(x.estimate) else x.to_json()

        return {
            "name": self.name,
            "pairs": self.pairs,
            "errors": self.errors,
            "accuracy": iv(self.accuracy),
            "kappa": iv(self.kappa),
            "positional_agreement": iv(self.positional_agreement),
            "consistent_accuracy": iv(self.consistent_accuracy),
        }


def _subset(
    name: str, judged: list[Judgment], rng: np.random.Generator, resamples: int
) -> SubsetReport:
    ok = [j for j in judged if j.error is None]
    gold = np.array([j.pair.label for j in ok], dtype=np.int64)
    fwd = np.array([j.forward for j in ok], dtype=np.int64)
    bwd = np.array([j.backward for j in ok], dtype=np.int64)

    def acc(idx: npt.NDArray[np.int64]) -> float:
        return float(((fwd[idx] == gold[idx]).mean() + (bwd[idx] == gold[idx]).mean()) / 2)

    def kappa(idx: npt.NDArray[np.int64]) -> float:
        picks = np.concatenate([fwd[idx], bwd[idx]])
        labels = np.concatenate([gold[idx], gold[idx]])
        return cohen_kappa(list(picks), list(labels))

    def agree(idx: npt.NDArray[np.int64]) -> float:
        return float(((fwd[idx] == bwd[idx]) & (fwd[idx] != 0)).mean())

    def both(idx: npt.NDArray[np.int64]) -> float:
        return float(((fwd[idx] == gold[idx]) & (bwd[idx] == gold[idx])).mean())

    n = len(ok)
    return SubsetReport(
        name=name,
        pairs=len(judged),
        errors=len(judged) - n,
        accuracy=bootstrap_ci(n, acc, rng, resamples=resamples),
        kappa=bootstrap_ci(n, kappa, rng, resamples=resamples),
        positional_agreement=bootstrap_ci(n, agree, rng, resamples=resamples),
        consistent_accuracy=bootstrap_ci(n, both, rng, resamples=resamples),
    )


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    judge: str
    overall: SubsetReport
    subsets: list[SubsetReport]

    @property
    def warnings(self) -> list[str]:
        """What the figures say is wrong with the judge."""
        o = self.overall
        out = []
        if o.errors:
            out.append(f"{o.errors} of {o.pairs} pairs could not be judged")
        if not math.isnan(o.kappa.low) and o.kappa.low <= 0.0:
            out.append("kappa's interval reaches 0: no better than chance")
        if (
            not math.isnan(o.positional_agreement.estimate)
            and o.positional_agreement.estimate < 0.8
        ):
            out.append(
                f"positional agreement {o.positional_agreement.estimate:.1%} is below 80%:"
                " the verdict depends on the order the outputs are shown in"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "overall": self.overall.to_json(),
            "subsets": [s.to_json() for s in self.subsets],
            "published": [{"measure": m, "source": s, "value": v} for m, s, v in PUBLISHED],
            "warnings": self.warnings,
        }


def calibration_report(
    judge: str, judged: list[Judgment], rng: np.random.Generator, *, resamples: int = 2000
) -> CalibrationReport:
    sources = sorted({j.pair.source for j in judged})
    return CalibrationReport(
        judge=judge,
        overall=_subset("all", judged, rng, resamples),
        subsets=[
            _subset(s, [j for j in judged if j.pair.source == s], rng, resamples) for s in sources
        ],
    )
