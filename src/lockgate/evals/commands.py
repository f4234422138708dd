"""What ``lockgate eval run|compare|calibrate`` do, as functions the CLI and tests call."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from lockgate.evals.calibrate import (
    PUBLISHED,
    CalibrationReport,
    calibration_report,
    judge_gold_pairs,
    load_gold_pairs,
)
from lockgate.evals.compare import Comparison, compare_runs
from lockgate.evals.html_report import html_report
from lockgate.evals.junit import junit_xml
from lockgate.evals.report import print_comparison, print_run, run_json
from lockgate.evals.runner import CostCapError, RunOptions, RunResult, SuiteRunner
from lockgate.evals.session import RichProgress, connect
from lockgate.evals.similarity import local_embedder
from lockgate.evals.stats import Interval
from lockgate.evals.store import ResultCache
from lockgate.evals.suite import LoadedSuite, SuiteError
from lockgate.evals.summary import run_exit_code
from lockgate.settings import Settings

__all__ = ["Outputs", "Reach", "calibrate", "compare", "run"]


@dataclass(frozen=True, slots=True)
class Reach:
    """How to reach the gateway, and what to cache."""

    settings: Settings
    config_path: str | None = None
    url: str | None = None
    api_key: str | None = None
    cache_dir: str | None = ".lockgate-eval"
    progress: bool = True


@dataclass(frozen=True, slots=True)
class Outputs:
    json_path: str | None = None
    junit_path: str | None = None
    html_path: str | None = None
    #: keep the run in the configured database (the console's evaluation reports)
    store: bool = False


async def _store(
    reach: Reach,
    outputs: Outputs,
    run: RunResult,
    comparison: Comparison | None,
    title: str,
    console: Console,
) -> None:
    if not outputs.store:
        return
    from lockgate.evals.run_repository import EvalRunRepository
    from lockgate.storage.database import Database

    report = json.loads(json.dumps(run_json(run, comparison), default=str))
    db = Database(reach.settings.general_settings.database_url)
    try:
        await db.migrate()
        rid = await EvalRunRepository(db).add(title, report)
    finally:
        await db.aclose()
    console.print(f"stored as {rid}", highlight=False)


def _write(outputs: Outputs, run: RunResult, comparison: Comparison | None, title: str) -> None:
    if outputs.json_path:
        Path(outputs.json_path).write_text(
            json.dumps(run_json(run, comparison), indent=2, default=str)
        )
    if outputs.junit_path:
        Path(outputs.junit_path).write_text(junit_xml(run, comparison))
    if outputs.html_path:
        Path(outputs.html_path).write_text(html_report(run, comparison, title))


async def _execute(
    suite: LoadedSuite, reach: Reach, options: RunOptions, console: Console
) -> RunResult | None:
    cache = ResultCache(reach.cache_dir)
    async with connect(reach.settings, reach.config_path, reach.url, reach.api_key) as conn:
        with RichProgress(reach.progress) as progress:
            runner = SuiteRunner(
                suite,
                conn.client,
                options=RunOptions(
                    repeat=options.repeat,
                    concurrency=options.concurrency,
                    cost_cap_usd=options.cost_cap_usd,
                    targets=options.targets,
                    namespace=conn.namespace,
                ),
                cache=cache,
                prices=conn.prices,
                embedder=local_embedder,
                progress=progress,
            )
            try:
                items, est = await runner.prepare()
            except CostCapError as exc:
                console.print(f"error: {exc}; raise --cost-cap to run it", highlight=False)
                return None
            console.print(f"estimate: {est.describe()}", highlight=False)
            return await runner.execute(items, est)


async def run(
    suite: LoadedSuite,
    reach: Reach,
    options: RunOptions,
    outputs: Outputs,
    *,
    min_pass_rate: float,
    console: Console,
) -> int:
    """Run a suite; exit code 0 pass, 1 below ``min_pass_rate``, 2 errors."""
    result = await _execute(suite, reach, options, console)
    if result is None:
        return 2
    print_run(result, console)
    title = suite.description or "lockgate eval run"
    _write(outputs, result, None, title)
    await _store(reach, outputs, result, None, title, console)
    return run_exit_code(result, min_pass_rate)


async def compare(
    suite: LoadedSuite,
    reach: Reach,
    options: RunOptions,
    outputs: Outputs,
    *,
    baseline: str | None,
    candidate: str | None,
    console: Console,
    seed: int = 0,
    pass_rate_margin: float | None = None,
    score_margin: float | None = None,
) -> int:
    """Run baseline and candidate on the same cases; exit 0 ok, 1 regression, 2 errors."""
    names = [t.name for t in suite.targets]
    base = baseline or names[0]
    cand = candidate or (names[1] if len(names) > 1 else None)
    if cand is None:
        raise SuiteError(
            "compare needs two targets: give --candidate or a second target in the suite"
        )
    suite.target(base)
    suite.target(cand)
    gate = suite.gate
    updates: dict[str, Any] = {}
    if pass_rate_margin is not None:
        updates["pass_rate_margin"] = pass_rate_margin
    if score_margin is not None:
        updates["score_margin"] = score_margin
    if updates:
        gate = gate.model_copy(update=updates)
    opts = RunOptions(
        repeat=options.repeat,
        concurrency=options.concurrency,
        cost_cap_usd=options.cost_cap_usd,
        targets=(base, cand),
    )
    result = await _execute(suite, reach, opts, console)
    if result is None:
        return 2
    comparison = compare_runs(result, base, cand, gate, np.random.default_rng(seed))
    print_run(result, console)
    print_comparison(comparison, console)
    title = suite.description or f"{cand} vs {base}"
    _write(outputs, result, comparison, title)
    await _store(reach, outputs, result, comparison, title, console)
    return comparison.exit_code


def print_calibration(report: CalibrationReport, console: Console) -> None:
    t = Table(
        "subset",
        "pairs",
        "accuracy [95% CI]",
        "kappa [95% CI]",
        "positional agreement",
        "both orders right",
        title=f"judge {report.judge}",
    )

    def iv(x: Interval, pct: bool = True) -> str:
        if x.n == 0 or math.isnan(x.estimate):
            return "-"
        spec = ".1%" if pct else ".3f"
        return f"{x.estimate:{spec}} [{x.low:{spec}}, {x.high:{spec}}]"

    for s in [report.overall, *report.subsets]:
        t.add_row(
            s.name,
            f"{s.pairs - s.errors}/{s.pairs}",
            iv(s.accuracy),
            iv(s.kappa, False),
            iv(s.positional_agreement),
            iv(s.consistent_accuracy),
        )
    console.print(t)
    p = Table("published reference", "measure", "value")
    for measure, source, value in PUBLISHED:
        p.add_row(source, measure.replace("_", " "), f"{value:.1%}")
    console.print(p)
    for w in report.warnings:
        console.print(f"warning: {w}", highlight=False)


async def calibrate(
    data: str,
    judge: str,
    reach: Reach,
    *,
    console: Console,
    limit: int | None = None,
    concurrency: int = 8,
    seed: int = 0,
    json_path: str | None = None,
) -> CalibrationReport:
    pairs = load_gold_pairs(data)
    if limit is not None:
        pairs = pairs[:limit]
    async with connect(reach.settings, reach.config_path, reach.url, reach.api_key) as conn:
        with RichProgress(reach.progress) as progress:
            judged = await judge_gold_pairs(
                conn.client,
                judge,
                pairs,
                concurrency=concurrency,
                cache=ResultCache(reach.cache_dir),
                namespace=conn.namespace,
                progress=progress,
            )
    report = calibration_report(judge, judged, np.random.default_rng(seed))
    print_calibration(report, console)
    if json_path:
        await asyncio.to_thread(Path(json_path).write_text, json.dumps(report.to_json(), indent=2))
    return report
