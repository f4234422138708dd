"""What the admin API and the CLI do to experiments and rollouts (one place for both)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lockgate.errors import BadRequestError, NotFoundError
from lockgate.experiments.rollout import RolloutState, abort, start
from lockgate.experiments.spec import ExperimentSpec, RolloutSpec
from lockgate.prompts.spec import parse_spec

if TYPE_CHECKING:  # the database layer and the statistics stack load on use
    from lockgate.experiments.analysis import Report
    from lockgate.experiments.events import EventLog
    from lockgate.experiments.repository import ExperimentRepository
    from lockgate.prompts.repository import PromptRepository

__all__ = [
    "abort_rollout",
    "create_experiment",
    "experiment_report",
    "move_label",
    "promote",
    "start_rollout",
]


async def move_label(
    prompts: PromptRepository,
    events: EventLog,
    name: str,
    label: str,
    version: int,
    actor: str | None,
    reason: str | None = None,
) -> tuple[int | None, int]:
    old, new = await prompts.move_label(name, label, version, actor, reason)
    if old != new:
        events.emit(
            "prompt.label",
            name,
            {"label": label, "from_version": old, "to_version": new, "reason": reason},
            actor,
        )
    return old, new


async def create_experiment(
    prompts: PromptRepository, repo: ExperimentRepository, spec: ExperimentSpec
) -> None:
    labels = await prompts.labels(spec.prompt)
    if (spec.prompt, spec.label) not in labels:
        raise NotFoundError(f"Prompt {spec.prompt!r} has no label {spec.label!r}.", param="label")
    for v in spec.variants:
        if v.version is not None and await prompts.get(spec.prompt, v.version) is None:
            raise NotFoundError(f"Prompt {spec.prompt!r} has no version {v.version}.")
    await repo.create_experiment(spec)


async def experiment_report(repo: ExperimentRepository, name: str) -> tuple[dict[str, Any], Report]:
    from lockgate.experiments.analysis import analyse  # numpy + scipy: loaded on first report

    row = await repo.experiment(name)
    spec: ExperimentSpec = row["spec"]
    report = analyse(spec, await repo.observations(spec.name, row["created_at"], spec.unit))
    return row, report


async def promote(
    prompts: PromptRepository,
    repo: ExperimentRepository,
    events: EventLog,
    name: str,
    variant: str | None,
    actor: str | None,
) -> dict[str, Any]:
    """Move the experiment's label to a variant (the decided winner by default)."""
    row, report = await experiment_report(repo, name)
    spec: ExperimentSpec = row["spec"]
    if row["state"] != "running":
        raise BadRequestError(f"Experiment {name!r} is {row['state']}.")
    chosen = variant or report.decision.get("winner")
    if chosen is None:
        raise BadRequestError(f"Experiment {name!r} has no winner yet; name a variant.")
    arm = next((v for v in spec.variants if v.name == chosen), None)
    if arm is None:
        raise NotFoundError(f"Experiment {name!r} has no variant {chosen!r}.", param="variant")
    labels = await prompts.labels(spec.prompt)
    version = arm.version or labels[(spec.prompt, spec.label)]
    stored = await prompts.get(spec.prompt, version)
    assert stored is not None
    if arm.model is not None and arm.model != stored.model:
        # A model-only variant becomes a version of its own, so the label can point at it.
        content = {**stored.content, "model": arm.model}
        new, _ = await prompts.push(
            parse_spec({**content, "message": f"experiment {name}: variant {arm.name}"}), actor
        )
        version = new.version
    reason = f"experiment {name} promoted variant {arm.name}"
    old, _ = await move_label(prompts, events, spec.prompt, spec.label, version, actor, reason)
    decision = {
        "variant": arm.name,
        "version": version,
        "from_version": old,
        "by": actor,
        "at": time.time(),
        "analysis": report.decision,
    }
    await repo.end_experiment(name, "promoted", decision)
    return decision


async def start_rollout(
    prompts: PromptRepository,
    repo: ExperimentRepository,
    events: EventLog,
    spec: RolloutSpec,
    actor: str | None,
) -> RolloutState:
    labels = await prompts.labels(spec.prompt)
    current = labels.get((spec.prompt, spec.label))
    if current is None:
        raise NotFoundError(f"Prompt {spec.prompt!r} has no label {spec.label!r}.", param="label")
    if await prompts.get(spec.prompt, spec.to_version) is None:
        raise NotFoundError(f"Prompt {spec.prompt!r} has no version {spec.to_version}.")
    if current == spec.to_version:
        raise BadRequestError(f"{spec.prompt}@{spec.label} already serves v{current}.")
    state = start(spec, current, time.time())
    await repo.create_rollout(spec, state)
    events.rollout(spec.name, state.events[-1], {"by": actor})
    return state


async def abort_rollout(
    repo: ExperimentRepository, events: EventLog, name: str, actor: str | None
) -> RolloutState:
    spec, state = await repo.rollout(name)
    if state.status != "running":
        raise BadRequestError(f"Rollout {name!r} is {state.status}.")
    event = abort(spec, state, time.time(), actor)
    await repo.save_rollout(name, state)
    events.rollout(name, event)
    return state
