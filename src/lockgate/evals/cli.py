"""``lockgate eval``: run suites, compare two targets, calibrate a judge, read online scores.

lockgate eval run suite.yaml --config lockgate.yaml --junit report.xml
lockgate eval compare suite.yaml --url http://127.0.0.1:4000 --baseline prod --candidate next
lockgate eval calibrate judge-dev.jsonl --judge judge --config lockgate.yaml
lockgate eval scores --config lockgate.yaml
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from lockgate.settings import Settings

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    help="Evaluation: suites with assertions and judges, comparisons, judge calibration."
)

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="Gateway config (in-process run; also prices a --url run)."
    ),
]
UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="A running gateway, e.g. http://127.0.0.1:4000 (else in-process)."),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar="LOCKGATE_API_KEY", help="Key sent to the gateway."),
]
CacheOpt = Annotated[
    str, typer.Option("--cache-dir", help="Where answers and verdicts are cached.")
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Ask again; keep nothing.")]
RepeatOpt = Annotated[
    int, typer.Option("--repeat", min=1, help="Run each case N times; report flaky cases.")
]
ConcOpt = Annotated[
    int | None, typer.Option("--concurrency", min=1, help="Calls in flight (default: suite's).")
]
CapOpt = Annotated[
    float | None, typer.Option("--cost-cap", help="USD; stop starting calls beyond it.")
]
JsonOpt = Annotated[str | None, typer.Option("--json", help="Write the full result as JSON here.")]
JunitOpt = Annotated[str | None, typer.Option("--junit", help="Write JUnit XML here.")]
HtmlOpt = Annotated[
    str | None, typer.Option("--html", help="Write a self-contained HTML report here.")
]
StoreOpt = Annotated[
    bool,
    typer.Option(
        "--store", help="Keep the run in the configured database (the console's eval reports)."
    ),
]
QuietOpt = Annotated[bool, typer.Option("--no-progress", help="No progress bar.")]


def _commands() -> Any:
    """The commands module, or a clear message when the ``evals`` extra is missing."""
    try:
        from lockgate.evals import commands
    except ImportError as exc:
        typer.echo(
            f"error: {exc.name or exc} is not installed; pip install 'lockgate[evals]'", err=True
        )
        raise typer.Exit(2) from None
    return commands


def _settings(config: str | None) -> Settings:
    from lockgate.cli_target import load

    return load(config)


def _go(coro: Coroutine[Any, Any, T]) -> T:
    from lockgate.evals.suite import SuiteError

    try:
        return asyncio.run(coro)
    except SuiteError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _suite(path: str) -> Any:
    from lockgate.evals.suite import SuiteError, load_suite

    try:
        return load_suite(path)
    except SuiteError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _reach(
    config: str | None,
    url: str | None,
    api_key: str | None,
    cache_dir: str,
    no_cache: bool,
    quiet: bool,
) -> Any:
    reach_type = _commands().Reach

    from lockgate.settings import find_config

    found = find_config(config)  # as serve finds it: --config, $LOCKGATE_CONFIG, ./lockgate.yaml
    config = None if found is None else str(found)
    return reach_type(
        _settings(config), config, url, api_key, None if no_cache else cache_dir, not quiet
    )


@app.command("run")
def run(
    suite: Annotated[str, typer.Argument(help="Suite YAML file.")],
    config: ConfigOpt = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    target: Annotated[
        list[str] | None, typer.Option("--target", help="Only these targets.")
    ] = None,
    repeat: RepeatOpt = 1,
    concurrency: ConcOpt = None,
    cost_cap: CapOpt = None,
    min_pass_rate: Annotated[
        float, typer.Option(help="Exit 1 when a target passes less often.")
    ] = 1.0,
    cache_dir: CacheOpt = ".lockgate-eval",
    no_cache: NoCacheOpt = False,
    json_out: JsonOpt = None,
    junit: JunitOpt = None,
    html: HtmlOpt = None,
    store: StoreOpt = False,
    no_progress: QuietOpt = False,
) -> None:
    """Run a suite. Exit 0 all pass, 1 failures, 2 errors (judge or upstream trouble)."""
    commands = _commands()
    from lockgate.evals.runner import RunOptions

    loaded = _suite(suite)
    reach = _reach(config, url, api_key, cache_dir, no_cache, no_progress)
    options = RunOptions(
        repeat=repeat,
        concurrency=concurrency,
        cost_cap_usd=cost_cap,
        targets=tuple(target) if target else None,
    )
    code = _go(
        commands.run(
            loaded,
            reach,
            options,
            commands.Outputs(json_out, junit, html, store),
            min_pass_rate=min_pass_rate,
            console=Console(),
        )
    )
    raise typer.Exit(code)


@app.command("compare")
def compare(
    suite: Annotated[str, typer.Argument(help="Suite YAML file.")],
    baseline: Annotated[
        str | None, typer.Option(help="Baseline target (default: the first).")
    ] = None,
    candidate: Annotated[
        str | None, typer.Option(help="Candidate target (default: the second).")
    ] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    margin: Annotated[
        float | None, typer.Option(help="Tolerated pass-rate drop (overrides gate).")
    ] = None,
    score_margin: Annotated[
        float | None, typer.Option(help="Tolerated score drop (overrides gate).")
    ] = None,
    repeat: RepeatOpt = 1,
    concurrency: ConcOpt = None,
    cost_cap: CapOpt = None,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    cache_dir: CacheOpt = ".lockgate-eval",
    no_cache: NoCacheOpt = False,
    json_out: JsonOpt = None,
    junit: JunitOpt = None,
    html: HtmlOpt = None,
    store: StoreOpt = False,
    no_progress: QuietOpt = False,
) -> None:
    """Baseline vs candidate on the same cases. Exit 0 ok, 1 regression, 2 errors."""
    commands = _commands()
    from lockgate.evals.runner import RunOptions

    loaded = _suite(suite)
    reach = _reach(config, url, api_key, cache_dir, no_cache, no_progress)
    options = RunOptions(repeat=repeat, concurrency=concurrency, cost_cap_usd=cost_cap)
    code = _go(
        commands.compare(
            loaded,
            reach,
            options,
            commands.Outputs(json_out, junit, html, store),
            baseline=baseline,
            candidate=candidate,
            console=Console(),
            seed=seed,
            pass_rate_margin=margin,
            score_margin=score_margin,
        )
    )
    raise typer.Exit(code)


@app.command("calibrate")
def calibrate(
    data: Annotated[
        str, typer.Argument(help="JSONL of gold pairs: input, output_1, output_2, label 1|2.")
    ],
    judge: Annotated[str, typer.Option(help="The judge's model alias.")],
    config: ConfigOpt = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N pairs.")] = None,
    concurrency: Annotated[int, typer.Option(min=1)] = 8,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    cache_dir: CacheOpt = ".lockgate-eval",
    no_cache: NoCacheOpt = False,
    json_out: JsonOpt = None,
    no_progress: QuietOpt = False,
) -> None:
    """Accuracy, Cohen's kappa and positional agreement of a judge, with 95% bootstrap CIs."""
    commands = _commands()

    reach = _reach(config, url, api_key, cache_dir, no_cache, no_progress)
    report = _go(
        commands.calibrate(
            data,
            judge,
            reach,
            console=Console(),
            limit=limit,
            concurrency=concurrency,
            seed=seed,
            json_path=json_out,
        )
    )
    raise typer.Exit(2 if report.overall.errors else 0)


@app.command("scores")
def scores(
    config: ConfigOpt = None,
    model: Annotated[str | None, typer.Option(help="Only this model alias.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Online judge scores per model and prompt version (from the database)."""
    from rich.table import Table

    from lockgate.evals.online_repository import OnlineScoreRepository
    from lockgate.storage.database import Database

    settings = _settings(config)

    async def go() -> list[Any]:
        db = Database(settings.general_settings.database_url)
        try:
            await db.migrate()
            return await OnlineScoreRepository(db).summary(model)
        finally:
            await db.aclose()

    rows = [s.to_json() for s in asyncio.run(go())]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("model", "prompt version", "n", "mean score", "95% CI", "pass rate")
    for r in rows:
        ci = "-" if r["ci_low"] is None else f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        table.add_row(
            str(r["model"]),
            str(r["prompt_version"] or "-"),
            str(r["count"]),
            f"{r['mean_score']:.3f}",
            ci,
            f"{r['pass_rate']:.1%}",
        )
    Console().print(table)
