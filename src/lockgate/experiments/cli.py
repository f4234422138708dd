"""``lockgate experiments`` and ``lockgate rollouts`` (talk to the configured database).

lockgate experiments create exp.yaml
lockgate experiments status support-tone
lockgate experiments promote support-tone [--variant terse]
lockgate rollouts start rollout.yaml
lockgate rollouts status [NAME]
lockgate rollouts abort NAME
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lockgate.errors import GatewayError
from lockgate.experiments import actions
from lockgate.experiments.rollout import RolloutState
from lockgate.experiments.spec import METRICS, ExperimentSpec, RolloutSpec, parse_model
from lockgate.prompts.cli import ConfigOpt, Stores, _read, run_with_stores

if TYPE_CHECKING:
    from lockgate.experiments.analysis import Report

__all__ = ["experiments_app", "rollouts_app"]

experiments_app = typer.Typer(help="A/B experiments on prompt versions and model aliases.")
rollouts_app = typer.Typer(help="Canary rollouts of prompt labels.")


def _spec(kind: Any, file: str) -> Any:
    try:
        return parse_model(kind, _read(file))
    except GatewayError as exc:
        typer.echo(f"error: {file}: {exc.message}", err=True)
        raise typer.Exit(2) from None


@experiments_app.command("create")
def create(file: str, config: ConfigOpt = None) -> None:
    """Start an experiment from a YAML/JSON file."""
    spec: ExperimentSpec = _spec(ExperimentSpec, file)
    run_with_stores(config, lambda s: actions.create_experiment(s.prompts, s.experiments, spec))
    typer.echo(f"started experiment {spec.name} on {spec.prompt}@{spec.label}")


def _fmt(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def render_report(report: Report) -> Table:
    """One row per variant and metric: n, mean, and the interval against the control."""
    spec = report.spec
    table = Table(
        "variant",
        "metric",
        "n",
        "mean",
        f"diff vs {spec.variants[0].name} [{1 - spec.alpha:.0%} always-valid CI]",
        "p (always-valid)",
        title=f"experiment {spec.name}: {spec.prompt}@{spec.label}, primary metric {spec.metric}",
    )
    for v in spec.variants:
        row = report.variants[v.name]
        first = True
        for metric in METRICS:
            summary = row[metric]
            if not summary["n"]:
                continue
            iv = report.comparisons.get(v.name, {}).get(metric)
            ci = "-" if iv is None else f"{iv.difference:+.4g} [{iv.low:+.4g}, {iv.high:+.4g}]"
            mark = " *" if metric == spec.metric else ""
            table.add_row(
                f"{v.name} ({row['requests']} req)" if first else "",
                metric + mark,
                str(summary["n"]),
                _fmt(summary["mean"]),
                ci,
                "-" if iv is None else f"{iv.p_value:.3g}",
            )
            first = False
        if "latency_p95_ms" in row:
            table.add_row(
                "",
                "latency P50/P95",
                "",
                f"{row['latency_p50_ms']:.1f}/{row['latency_p95_ms']:.1f}",
            )
        table.add_section()
    return table


@experiments_app.command("status")
def status(
    name: str,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per-variant metrics with always-valid intervals, the SRM check and the decision."""
    row, report = run_with_stores(config, lambda s: actions.experiment_report(s.experiments, name))
    if as_json:
        typer.echo(json.dumps({**report.to_json(), "state": row["state"]}, indent=2))
        return
    Console().print(render_report(report))
    srm = report.srm_p
    typer.echo(
        f"SRM: p = {_fmt(srm, 3)}{'  ALARM (p < 0.001)' if report.srm_alarm else ''};"
        f" decision: {report.decision['state']}"
        f"{' → ' + str(report.decision['winner']) if report.decision.get('winner') else ''};"
        f" state: {row['state']}"
    )


@experiments_app.command("promote")
def promote(
    name: str,
    variant: Annotated[
        str | None, typer.Option(help="Variant to promote (default: winner).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Move the experiment's label to a variant's version (recorded)."""
    decision = run_with_stores(
        config,
        lambda s: actions.promote(s.prompts, s.experiments, s.events, name, variant, s.actor),
    )
    old, new = decision["from_version"], decision["version"]
    typer.echo(f"promoted {decision['variant']}: label v{old} -> v{new}")


@experiments_app.command("list")
def list_experiments(config: ConfigOpt = None) -> None:
    """Every experiment and its state."""
    rows = run_with_stores(config, lambda s: s.experiments.experiments())
    table = Table("name", "prompt", "state", "variants")
    for r in rows:
        spec: ExperimentSpec = r["spec"]
        arms = ", ".join(f"{v.name}:{v.weight:g}" for v in spec.variants)
        table.add_row(r["name"], f"{spec.prompt}@{spec.label}", r["state"], arms)
    Console().print(table)


@rollouts_app.command("start")
def start(file: str, config: ConfigOpt = None) -> None:
    """Start a canary rollout from a YAML/JSON file."""
    spec: RolloutSpec = _spec(RolloutSpec, file)

    async def act(s: Stores) -> RolloutState:
        return await actions.start_rollout(s.prompts, s.experiments, s.events, spec, s.actor)

    state = run_with_stores(config, act)
    typer.echo(
        f"rollout {spec.name}: {spec.prompt}@{spec.label} v{state.from_version} ->"
        f" v{spec.to_version}, steps {spec.steps}"
    )


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S")


@rollouts_app.command("status")
def rollout_status(
    name: Annotated[str | None, typer.Argument(help="One rollout (default: all).")] = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rollouts and, for one, every step/pass/fail/rollback event."""

    async def act(s: Stores) -> list[tuple[RolloutSpec, RolloutState]]:
        if name is not None:
            return [await s.experiments.rollout(name)]
        return await s.experiments.rollouts()

    rows = run_with_stores(config, act)
    if as_json:
        typer.echo(json.dumps([{"spec": s.model_dump(), **st.to_json()} for s, st in rows]))
        return
    table = Table("rollout", "prompt", "from→to", "status", "weight %", "failures", "checks")
    for spec, st in rows:
        table.add_row(
            spec.name,
            f"{spec.prompt}@{spec.label}",
            f"v{st.from_version}→v{spec.to_version}",
            st.status,
            f"{st.weight(spec):g}",
            f"{st.failures}/{spec.failure_limit}",
            str(st.checks),
        )
    Console().print(table)
    if name is not None:
        for event in rows[0][1].events:
            typer.echo(
                f"  {_when(event['at'])} {event['kind']:<12} step {event['step']}"
                f" weight {event['weight']:g}% {event['detail']}"
            )


@rollouts_app.command("abort")
def abort(name: str, config: ConfigOpt = None) -> None:
    """Stop a rollout now: the old version serves everything again."""
    run_with_stores(config, lambda s: actions.abort_rollout(s.experiments, s.events, name, s.actor))
    typer.echo(f"aborted {name}")
