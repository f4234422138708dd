"""What each replica knows about prompts: label → version, running experiments and
rollouts, and compiled versions; refreshed by polling the change counter.

A poll is one ``SELECT max(id)`` on ``lockgate_changes``; only when it moved are the
labels, experiments and rollouts read again, so a label move reaches every replica
within ``poll_interval_seconds`` (1 s by default).  Compiled versions are immutable
and kept forever.  When the database is down the last known state keeps serving and
``degraded`` is set (``/ready`` reports it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from lockgate.errors import BadRequestError, GatewayError, NotFoundError, ServiceUnavailableError
from lockgate.experiments.assign import bucket, choose, fnv1a32
from lockgate.experiments.repository import ExperimentRepository, rollout_tag
from lockgate.experiments.rollout import RolloutState
from lockgate.experiments.spec import ExperimentSpec, RolloutSpec, Unit
from lockgate.prompts.repository import PromptRepository
from lockgate.prompts.template import CompiledPrompt, compile_version, environment
from lockgate.task_stop import stop_tasks

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

__all__ = ["PromptRegistry", "Resolution", "Units", "parse_ref"]

log = structlog.get_logger("lockgate.prompts")

DEFAULT_LABEL = "production"


class Units(Protocol):
    """Where assignment units come from (the request context in the gateway)."""

    def get(self, kind: Unit, header: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Resolution:
    """A resolved reference: the compiled version to render and how it was chosen."""

    prompt: CompiledPrompt
    label: str | None = None
    #: the alias requests go to: the variant's, else the version's (None: the client's)
    model: str | None = None
    #: usage rows' tag: the experiment's name, or ``rollout:<name>``
    experiment: str | None = None
    variant: str | None = None
    #: a hash of the assignment unit (never the raw user/session id), for per-unit analysis
    unit: str | None = None

    @property
    def ref(self) -> str:
        """``name@version``, what responses, usage rows and spans carry."""
        return self.prompt.version.ref

    def render(self, variables: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The filled template messages (400 on missing/extra/invalid variables)."""
        return self.prompt.render(variables or {})


def unit_hash(unit: str) -> str:
    """A short stable hash of an assignment unit."""
    return f"{fnv1a32(unit):08x}{fnv1a32(unit[::-1]):08x}"


def parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    """``name@label`` / ``name@7`` / ``name`` (production) → (name, label, version)."""
    name, _, tail = ref.partition("@")
    if not name:
        raise BadRequestError(f"Bad prompt reference {ref!r}: want name@label or name@version.")
    if not tail:
        return name, DEFAULT_LABEL, None
    if tail.isdigit():
        return name, None, int(tail)
    return name, tail, None


class PromptRegistry:
    def __init__(
        self,
        prompts: PromptRepository,
        experiments: ExperimentRepository,
        *,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prompts = prompts
        self.experiments = experiments
        self.poll_interval = poll_interval
        self._clock = clock
        self._env: SandboxedEnvironment | None = None  # Jinja2 loads with the first prompt
        self._compiled: dict[tuple[str, int], CompiledPrompt] = {}
        self.labels: dict[tuple[str, str], int] = {}
        self.running_experiments: dict[tuple[str, str], ExperimentSpec] = {}
        self.running_rollouts: dict[tuple[str, str], tuple[RolloutSpec, RolloutState]] = {}
        self.head = -1
        self.degraded = False
        self.last_refresh = 0.0
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []

    # -- keeping up -------------------------------------------------------------------

    async def refresh(self, *, force: bool = False) -> bool:
        """Reload when the change counter moved; False (and degraded) if the DB is down."""
        try:
            head = await self.prompts.head()
            if head != self.head or force:
                labels = await self.prompts.labels()
                exps = await self.experiments.experiments("running")
                rolls = await self.experiments.rollouts("running")
                self.labels = labels
                self.running_experiments = {
                    (e["spec"].prompt, e["spec"].label): e["spec"] for e in exps
                }
                self.running_rollouts = {(s.prompt, s.label): (s, st) for s, st in rolls}
                self.head = head
                for listener in self._listeners:
                    listener()
        except Exception as exc:
            if not self.degraded:
                log.warning(
                    "prompt registry refresh failed; serving last known state", error=str(exc)
                )
            self.degraded = True
            return False
        self.degraded = False
        self.last_refresh = self._clock()
        return True

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        await self.refresh(force=True)
        self._task = asyncio.create_task(self._poll(), name="lockgate-prompts-poll")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            await self.refresh()

    async def aclose(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task], "prompt registry refresh")
            self._task = None

    # -- resolving --------------------------------------------------------------------

    async def version(self, name: str, version: int) -> CompiledPrompt:
        """The compiled version (read once from the database, then kept)."""
        key = (name, version)
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        try:
            stored = await self.prompts.get(name, version)
        except GatewayError:
            raise
        except Exception:
            raise ServiceUnavailableError(
                f"Prompt {name}@{version} is not cached and the database is unavailable."
            ) from None
        if stored is None:
            raise NotFoundError(f"Prompt {name!r} has no version {version}.", param="prompt")
        if self._env is None:
            self._env = environment()
        compiled = compile_version(stored, self._env)
        self._compiled[key] = compiled
        return compiled

    async def label_version(self, name: str, label: str) -> int:
        version = self.labels.get((name, label))
        if version is None and not self.degraded:
            # Pushed a moment ago on another replica: look once before saying no.
            await self.refresh(force=True)
            version = self.labels.get((name, label))
        if version is None:
            raise NotFoundError(f"Prompt {name!r} has no label {label!r}.", param="prompt")
        return version

    async def resolve(
        self,
        name: str,
        *,
        label: str | None = None,
        version: int | None = None,
        units: Units | None = None,
    ) -> Resolution:
        """The version serving ``name`` at ``label`` (or exactly ``version``) for this unit,
        after the label's running experiment or rollout has had its say."""
        if version is not None:
            compiled = await self.version(name, version)
            return Resolution(compiled, None, compiled.version.model)
        label = label or DEFAULT_LABEL
        current = await self.label_version(name, label)
        key = (name, label)
        exp = self.running_experiments.get(key)
        if exp is not None and units is not None:
            unit = units.get(exp.unit, exp.session_header)
            if unit:
                arm = exp.variants[
                    choose([v.weight for v in exp.variants], bucket(exp.hash_seed, unit))
                ]
                compiled = await self.version(name, arm.version or current)
                model = arm.model or compiled.version.model
                return Resolution(compiled, label, model, exp.name, arm.name, unit_hash(unit))
        roll = self.running_rollouts.get(key)
        if roll is not None:
            spec, state = roll
            unit = units.get(spec.unit, spec.session_header) if units is not None else None
            share = state.weight(spec) / 100.0
            canary = unit is not None and bucket(f"{spec.name}:canary", unit) < share
            chosen = spec.to_version if canary else state.from_version
            compiled = await self.version(name, chosen)
            return Resolution(
                compiled,
                label,
                compiled.version.model,
                rollout_tag(spec.name),
                "canary" if canary else "stable",
            )
        compiled = await self.version(name, current)
        return Resolution(compiled, label, compiled.version.model)

    async def get(self, ref: str, units: Units | None = None) -> Resolution:
        """Resolve ``name@label`` / ``name@version`` / ``name`` (its production label)."""
        name, label, version = parse_ref(ref)
        return await self.resolve(name, label=label, version=version, units=units)
