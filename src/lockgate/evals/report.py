"""Terminal tables and the JSON document of a run or a comparison."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from lockgate.evals.compare import Comparison
from lockgate.evals.runner import RunResult
from lockgate.evals.summary import flaky_cases, summarize

__all__ = ["print_comparison", "print_run", "run_json"]


def run_json(run: RunResult, comparison: Comparison | None = None) -> dict[str, Any]:
    return {
        "targets": run.targets,
        "repeat": run.repeat,
        "summary": [s.to_json() for s in summarize(run)],
        "flaky": [f.to_json() for f in flaky_cases(run)],
        "cost_usd": round(run.cost_usd, 8),
        "estimate_usd": round(run.estimate.usd, 8),
        "cache_hits": run.cache_hits,
        "stopped_by_cap": run.stopped_by_cap,
        "elapsed_s": round(run.elapsed_s, 3),
        "comparison": comparison.to_json() if comparison is not None else None,
        "results": [r.to_json() for r in run.results],
    }


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def print_run(run: RunResult, console: Console, *, show_failures: int = 10) -> None:
    table = Table(
        "target",
        "runs",
        "pass",
        "fail",
        "error",
        "pass rate [95% CI]",
        "score",
        "cost (USD)",
        "latency ms",
    )
    for s in summarize(run):
        pr = s.pass_rate
        rate = "-" if pr.n == 0 else f"{pr.estimate:.1%} [{pr.low:.1%}, {pr.high:.1%}]"
        table.add_row(
            s.target,
            str(s.runs),
            str(s.passed),
            str(s.failed),
            str(s.errors),
            rate,
            _fmt(s.mean_score),
            f"{s.cost_usd:.6f}",
            _fmt(s.mean_latency_ms, ".1f"),
        )
    console.print(table)
    bad = [r for r in run.results if r.status != "pass"][:show_failures]
    for r in bad:
        why = r.error or "; ".join(
            f"{v.type}: {v.reason}" for v in r.verdicts if v.status != "pass"
        )
        console.print(
            f"[bold]{r.status.upper()}[/] {r.target} / {r.case_id} (#{r.repeat}): {why}",
            markup=True,
            highlight=False,
        )
    flaky = flaky_cases(run)
    if flaky:
        ft = Table(
            "flaky target",
            "case",
            "passed",
            "failed",
            "errors",
            title=f"flaky cases over {run.repeat} repeats",
        )
        for f in flaky:
            ft.add_row(f.target, f.case_id, str(f.passed), str(f.failed), str(f.errors))
        console.print(ft)
    console.print(
        f"spent ${run.cost_usd:.6f} (estimated ${run.estimate.usd:.6f}); {run.cache_hits} cached;"
        f" {run.elapsed_s:.2f} s" + ("; STOPPED BY THE COST CAP" if run.stopped_by_cap else ""),
        highlight=False,
    )


def print_comparison(c: Comparison, console: Console) -> None:
    t = Table("measure", "value", "95% CI", "n", title=f"{c.candidate} vs {c.baseline}")
    d = c.pass_rate_delta
    if d.n:
        t.add_row(
            "pass-rate change", f"{d.estimate:+.1%}", f"[{d.low:+.1%}, {d.high:+.1%}]", str(d.n)
        )
    t.add_row(
        "McNemar (exact)",
        f"p = {c.mcnemar.p_value:.3g}",
        f"baseline-only passes {c.mcnemar.lost}, candidate-only {c.mcnemar.gained}",
        str(d.n),
    )
    if c.score_delta is not None:
        s = c.score_delta
        t.add_row("score change", f"{s.estimate:+.3f}", f"[{s.low:+.3f}, {s.high:+.3f}]", str(s.n))
    if c.win_rate is not None:
        w = c.win_rate
        t.add_row("judge win rate", f"{w.estimate:.1%}", f"[{w.low:.1%}, {w.high:.1%}]", str(w.n))
    if c.errors:
        t.add_row("pairs with an ERROR", str(c.errors), "", "")
    console.print(t)
    if c.errors:
        console.print(f"ERRORS: {c.errors} pairs could not be compared (exit 2)", highlight=False)
    elif c.regression:
        for reason in c.reasons:
            console.print(f"REGRESSION: {reason}", highlight=False)
    else:
        console.print("no regression beyond the margin", highlight=False)
