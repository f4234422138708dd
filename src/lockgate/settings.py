"""Configuration: pydantic models of the YAML file, validated once.

The file is shaped like LiteLLM's proxy config so users can bring theirs::

    model_list:
      - model_name: gpt-4o-mini            # the alias clients ask for
        params:                            # `litellm_params` is accepted too
          model: openai/gpt-4o-mini        # provider/model
          api_base: https://api.openai.com/v1
          api_key: os.environ/OPENAI_API_KEY
          timeout: 60
          weight: 1
          input_cost_per_million: 0.15
          output_cost_per_million: 0.60
    router_settings:
      routing_strategy: simple-shuffle
      num_retries: 2
      fallbacks: [{gpt-4o-mini: [claude-haiku]}]
    general_settings:
      master_key: os.environ/LOCKGATE_MASTER_KEY
      database_url: sqlite+aiosqlite:////var/lib/lockgate/lockgate.db
      redis_url: redis://127.0.0.1:6379/0

Values written ``os.environ/NAME`` (LiteLLM's spelling) or ``${NAME}`` are read from
the environment when the file is loaded; this module is the one place that reads it.
Unknown keys are errors that name the closest known key; LiteLLM keys lockgate does
not implement are dropped with a named warning (``Settings.warnings``), see
:mod:`lockgate.config_keys`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from lockgate.audit.config import AuditSettings
from lockgate.batches.config import BatchSettings
from lockgate.cache.config import CacheSettings
from lockgate.cache.semantic.settings import SemanticCacheSettings
from lockgate.callbacks.config import CallbackSettings
from lockgate.callbacks.litellm import translate_litellm_callbacks
from lockgate.config_keys import describe_validation_error, strip_unhonoured
from lockgate.contextbudget.config import ContextSettings
from lockgate.embedding_settings import EmbeddingBatchSettings
from lockgate.evals.config import EvaluationSettings
from lockgate.guards.config import GuardrailSettings
from lockgate.litellm_settings import translate_litellm_settings
from lockgate.logs import LogSettings
from lockgate.modelconfig.config import LiveModelSettings
from lockgate.passthrough.config import PassthroughSettings
from lockgate.promptcache.config import PromptCacheSettings
from lockgate.prompts.config import PromptSettings
from lockgate.provider_presets import PRESETS, Wire, preset_for
from lockgate.responses.config import ResponsesSettings
from lockgate.routing.config import RoutingSettings
from lockgate.serving.config import HttpLimits
from lockgate.tracing import TracingSettings
from lockgate.usage.config import UsageSettings

__all__ = [
    "BreakerSettings",
    "ConfigError",
    "Deployment",
    "GeneralSettings",
    "LimitsSettings",
    "ModelEntry",
    "ModelParams",
    "RouterSettings",
    "ServerSettings",
    "Settings",
    "default_database_url",
    "find_config",
    "load_settings",
    "settings_from_mapping",
    "text_digest",
]

#: a provider prefix of ``model`` (see lockgate.provider_presets.PRESETS)
ProviderName = str
RoutingStrategy = Literal[
    "simple-shuffle",
    "weighted_random",
    "least-busy",
    "least_inflight",
    "latency-based-routing",
    "latency",
]

_ENV_PREFIX = "os.environ/"
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


class _Model(BaseModel):
    """Base of every config model: unknown keys are errors (reported with a did-you-mean)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelParams(_Model):
    """How to reach one deployment of a model alias."""

    model: str = Field(
        description="provider/model, e.g. openai/gpt-4o-mini or anthropic/claude-3-5-haiku"
    )
    api_base: str | None = None
    api_key: SecretStr | None = None
    #: Azure OpenAI: the api-version query parameter, and an Entra ID bearer token
    #: to send instead of the api-key header
    api_version: str | None = None
    azure_ad_token: SecretStr | None = None
    #: AWS Bedrock (LiteLLM's names): SigV4 credentials and region
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    aws_region_name: str | None = None
    #: Vertex AI (LiteLLM's names): project, region (default us-central1), and a
    #: service-account key (a JSON file's path or its text); none: Application
    #: Default Credentials
    vertex_project: str | None = None
    vertex_location: str = "us-central1"
    vertex_credentials: SecretStr | None = None
    #: longest a single attempt may take (non-streaming: the whole answer)
    timeout: float = Field(default=600.0, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    first_byte_timeout: float | None = Field(default=None, gt=0)
    stream_idle_timeout: float | None = Field(default=None, gt=0)
    weight: float = Field(default=1.0, gt=0)
    input_cost_per_million: float | None = Field(default=None, ge=0)
    output_cost_per_million: float | None = Field(default=None, ge=0)
    cached_input_cost_per_million: float | None = Field(default=None, ge=0)
    max_connections: int = Field(default=512, gt=0)
    #: most tokens one answer may ask for (max_tokens above it is a 400 before any stage)
    max_output_tokens: int | None = Field(default=None, gt=0)
    #: largest upstream answer read (streams: all events together); beyond it a 502
    max_response_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    extra_headers: dict[str, str] = Field(default_factory=dict)
    #: defaults for requests that leave them out (LiteLLM's litellm_params)
    temperature: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    #: drop request fields the provider cannot honour instead of answering 400
    drop_params: bool = False
    #: this deployment's own requests / tokens per minute; a deployment at its
    #: limit is skipped while the alias has another (LiteLLM's rpm/tpm)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)

    @field_validator("model")
    @classmethod
    def _provider_prefix(cls, value: str) -> str:
        provider, sep, name = value.partition("/")
        if not sep or not name:
            raise ValueError("must be written provider/model, e.g. 'openai/gpt-4o-mini'")
        if provider not in PRESETS:
            raise ValueError(
                f"unknown provider {provider!r}; expected one of {', '.join(sorted(PRESETS))}"
            )
        return value

    @model_validator(mode="after")
    def _base_when_required(self) -> ModelParams:
        if self.api_base is None and preset_for(self.provider).needs_base:
            raise ValueError(f"provider {self.provider!r} needs api_base (its server's URL)")
        if self.wire == "bedrock" and not (self.aws_region_name or self.api_base):
            raise ValueError("bedrock deployments need aws_region_name (or api_base)")
        if preset_for(self.provider).vertex and not self.vertex_project:
            raise ValueError("vertex_ai deployments need vertex_project (or VERTEXAI_PROJECT)")
        if preset_for(self.provider).azure and not self.api_version:
            raise ValueError("azure deployments need api_version, e.g. '2024-10-21'")
        return self

    @property
    def provider(self) -> ProviderName:
        return self.model.partition("/")[0]

    @property
    def wire(self) -> Wire:
        """The wire protocol the provider speaks (its provider implementation)."""
        return preset_for(self.provider).wire

    @property
    def upstream_model(self) -> str:
        return self.model.partition("/")[2]


class ModelEntry(_Model):
    """One `model_list` entry: an alias and one deployment behind it."""

    model_name: str = Field(min_length=1)
    params: ModelParams = Field(validation_alias=AliasChoices("params", "litellm_params"))
    #: LiteLLM's model_info; ``max_input_tokens`` sizes the alias's input limit
    model_info: dict[str, Any] = Field(default_factory=dict)


class BreakerSettings(_Model):
    """Circuit breaker per deployment (see lockgate.resilience.breaker)."""

    failure_rate: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=20, ge=1)
    window_seconds: float = Field(default=30.0, gt=0)
    consecutive_failures: int = Field(default=5, ge=0)
    open_seconds: float = Field(default=30.0, gt=0)
    half_open_probes: int = Field(default=3, ge=1)
    rate_limit_is_failure: bool = False
    #: attribute upstream faults to the caller: one caller's failures open the breaker
    #: for that caller only (lockgate.resilience.callers); false: one breaker for all
    per_caller: bool = True
    #: who a caller is: "key" (a virtual key's id) or "team" (its team, else the key)
    caller_scope: Literal["key", "team"] = "key"
    #: callers with recent failures tracked per deployment (least recently used go first)
    max_callers: int = Field(default=1000, ge=1)


class GroupAlias(_Model):
    model: str
    hidden: bool = False


class RouterSettings(_Model):
    routing_strategy: RoutingStrategy = "simple-shuffle"
    #: retries after the first attempt, per alias in the chain
    num_retries: int = Field(default=2, ge=0, le=10)
    #: total per-request deadline in seconds (clients may shorten it with x-lockgate-timeout)
    timeout: float = Field(default=600.0, gt=0)
    #: default time to first byte / first stream chunk, and longest gap between chunks
    first_byte_timeout: float = Field(default=120.0, gt=0)
    stream_idle_timeout: float = Field(default=60.0, gt=0)
    retry_backoff_base: float = Field(default=0.5, ge=0)
    retry_backoff_cap: float = Field(default=8.0, ge=0)
    #: a Retry-After longer than this fails over instead of waiting
    max_retry_after: float = Field(default=60.0, ge=0)
    #: retries allowed as a share of requests (plus a floor per second), per alias
    retry_budget_ratio: float = Field(default=0.2, ge=0)
    retry_budget_min_per_second: float = Field(default=10.0, ge=0)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    context_window_fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    #: second names for aliases (LiteLLM's): {"gpt-4": "gpt-4o"} or
    #: {"gpt-4": {"model": "gpt-4o", "hidden": true}} (hidden: not in /v1/models)
    model_group_alias: dict[str, str | GroupAlias] = Field(default_factory=dict)

    def hidden_aliases(self) -> frozenset[str]:
        return frozenset(
            name
            for name, target in self.model_group_alias.items()
            if not isinstance(target, str) and target.hidden
        )

    def group_aliases(self) -> dict[str, str]:
        return {
            name: target if isinstance(target, str) else target.model
            for name, target in self.model_group_alias.items()
        }


def default_database_url() -> str:
    """SQLite in the per-user data directory (``$XDG_DATA_HOME/lockgate`` on Linux)."""
    from platformdirs import user_data_dir

    return f"sqlite+aiosqlite:///{Path(user_data_dir('lockgate')) / 'lockgate.db'}"


class GeneralSettings(_Model):
    master_key: SecretStr | None = None
    #: default: SQLite in the per-user data directory (see default_database_url)
    database_url: str = Field(default_factory=default_database_url)
    redis_url: str | None = None
    max_request_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    #: the chat routes' own body limit: images and PDFs travel inline as base64
    #: (32 MiB, Anthropic's request limit; one 3 MB image is ~4 MB of JSON)
    max_chat_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    key_cache_ttl_seconds: float = Field(default=30.0, ge=0)
    #: how often each process reads the key change counter (revocations take effect within it)
    key_sync_seconds: float = Field(default=0.5, gt=0)
    #: where usage and audit batches are written: ``process`` (a child process of their own,
    #: off the request loop's CPU and GIL; restarted if it dies, nothing acknowledged lost)
    #: or ``thread`` (a thread of this process)
    database_writer: Literal["process", "thread"] = "process"
    #: the writer process at ``idle`` scheduling priority (it yields its CPU to any other
    #: task at once), lifted to normal while a batch waits longer than
    #: ``database_writer_starve_seconds`` (storage/write_priority.py); ``normal``: always
    #: normal.  Idle needs CAP_SYS_NICE or RLIMIT_NICE >= 20, else the writer stays normal.
    #: The bound is a few batches' time at full speed: records a lagging writer leaves
    #: queued set off young collections on the request loop (4-8 ms each, traced)
    database_writer_priority: Literal["idle", "normal"] = "idle"
    database_writer_starve_seconds: float = Field(default=0.1, gt=0)

    @field_validator("master_key")
    @classmethod
    def _master_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("must be at least 8 characters")
        return value


def _check_limit_spec(subject: str, spec: Mapping[str, Any]) -> None:
    from lockgate.limits.rules import rules_from_spec

    rules_from_spec(subject, spec)


class LimitsSettings(_Model):
    """Rate limits and budgets. Each spec: {requests, tokens, concurrent, budget: {day, month}}."""

    #: memory:// (one process) or redis://...; default: general_settings.redis_url, else memory
    backend: str | None = None
    failure_mode: Literal["fail_open", "fail_closed"] = "fail_open"
    timeout_ms: float = Field(default=50.0, gt=0)
    #: memory:// only: limit state entries (meters, budgets, lease sets) one process holds at
    #: most; when full, callers it holds nothing for get a 503 limit_state_full (never evicted)
    memory_max_entries: int = Field(default=200_000, ge=1)
    #: limits of every key that has none of its own (and of anonymous callers in open mode)
    key_defaults: dict[str, Any] = Field(default_factory=dict)
    #: limits of each end user (the body's `user` field or the user header)
    per_user: dict[str, Any] = Field(default_factory=dict)
    #: limits of each client IP address
    per_ip: dict[str, Any] = Field(default_factory=dict)
    #: limits of named teams (keys carry a team)
    teams: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: limits of a model alias, across all callers
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    user_header: str = "x-lockgate-user"
    #: refuse (403) requests a spending budget applies to when the model's price is
    #: unknown (it would count as $0); off: such requests pass and are counted in
    #: lockgate_unpriced_requests
    refuse_unpriced: bool = False

    @model_validator(mode="after")
    def _specs_are_valid(self) -> LimitsSettings:
        _check_limit_spec("limits.key_defaults", self.key_defaults)
        _check_limit_spec("limits.per_user", self.per_user)
        _check_limit_spec("limits.per_ip", self.per_ip)
        for name, spec in self.teams.items():
            _check_limit_spec(f"limits.teams.{name}", spec)
        for name, spec in self.models.items():
            _check_limit_spec(f"limits.models.{name}", spec)
        return self

    @property
    def configured(self) -> bool:
        return bool(self.key_defaults or self.per_user or self.per_ip or self.teams or self.models)


class ServerSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: serve HTTPS with this PEM certificate (chain) and private key; set both or neither
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    #: timeouts, connection cap and header limits of the listener (see serving/config.py)
    http: HttpLimits = Field(default_factory=HttpLimits)
    #: on SIGTERM, keep serving with /ready at 503 this long before closing the listener
    drain_seconds: float = Field(default=5.0, ge=0, le=300)
    #: then wait at most this long for requests and streams in flight
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    #: serve the hot routes (chat completions, messages, embeddings) from lockgate's own
    #: HTTP protocol without ASGI (serving/fastlane.py); false: every route through ASGI
    fast_lane: bool = True

    @model_validator(mode="after")
    def _tls_files(self) -> ServerSettings:
        cert, key = self.ssl_certfile, self.ssl_keyfile
        if (cert is None) != (key is None):
            raise ValueError("ssl_certfile and ssl_keyfile must be set together")
        for name, path in (("ssl_certfile", cert), ("ssl_keyfile", key)):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name} {path!r} does not exist or is not a file")
        return self


class Deployment(_Model):
    """A resolved deployment: alias + params + a stable id."""

    id: str
    alias: str
    params: ModelParams

    @property
    def provider(self) -> ProviderName:
        return self.params.provider


class Settings(_Model):
    model_list: list[ModelEntry] = Field(default_factory=list)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    semantic_cache: SemanticCacheSettings = Field(default_factory=SemanticCacheSettings)
    usage: UsageSettings = Field(default_factory=UsageSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    responses: ResponsesSettings = Field(default_factory=ResponsesSettings)
    passthrough: PassthroughSettings = Field(default_factory=PassthroughSettings)
    logs: LogSettings = Field(default_factory=LogSettings)
    prompts: PromptSettings = Field(default_factory=PromptSettings)
    embeddings: EmbeddingBatchSettings = Field(default_factory=EmbeddingBatchSettings)
    batches: BatchSettings = Field(default_factory=BatchSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    live_models: LiveModelSettings = Field(default_factory=LiveModelSettings)
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    prompt_cache: PromptCacheSettings = Field(default_factory=PromptCacheSettings)
    #: True when no config file was given: the gateway adds the mock model and
    #: whatever provider keys the environment holds.
    embedded_defaults: bool = False
    _warnings: tuple[str, ...] = PrivateAttr(default=())
    _source_digest: str | None = PrivateAttr(default=None)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Keys the file sets that lockgate ignores (LiteLLM settings it does not implement)."""
        return self._warnings

    @property
    def source_digest(self) -> str | None:
        """``text_digest`` of the config file these settings were parsed from (None: defaults)."""
        return self._source_digest

    @model_validator(mode="after")
    def _fallbacks_name_known_aliases(self) -> Settings:
        known = {e.model_name for e in self.model_list}
        for field in ("fallbacks", "context_window_fallbacks"):
            for item in getattr(self.router_settings, field):
                for src, targets in item.items():
                    for name in (src, *targets):
                        if name not in known:
                            raise ValueError(
                                f"router_settings.{field}: unknown model_name {name!r}"
                            )
        self.evaluation.check_aliases(known)
        self.responses.check_backend(self.general_settings.redis_url)
        for name, target in self.router_settings.group_aliases().items():
            if target not in known:
                raise ValueError(
                    f"router_settings.model_group_alias.{name}: unknown model_name {target!r}"
                )
        return self

    def deployments(self) -> list[Deployment]:
        out: list[Deployment] = []
        counts: dict[str, int] = {}
        for entry in self.model_list:
            n = counts.get(entry.model_name, 0)
            counts[entry.model_name] = n + 1
            out.append(
                Deployment(
                    id=f"{entry.model_name}#{n}", alias=entry.model_name, params=entry.params
                )
            )
        return out


#: ``required_env="storage"``: admin commands read only the database settings, so a
#: provider secret they never use may be unset (its value is this placeholder).
EnvScope = Literal["all", "storage"]
_STORAGE_PATHS = ("general_settings.database_url",)


def _interpolate(value: Any, env: Mapping[str, str], path: str, missing: dict[str, str]) -> Any:
    """``value`` with environment references resolved; unset names go into ``missing``."""
    if isinstance(value, str):
        if value.startswith(_ENV_PREFIX):
            name = value[len(_ENV_PREFIX) :]
            if name not in env:
                missing.setdefault(name, path)
                return f"<unset {name}>"
            return env[name]

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                missing.setdefault(m.group(1), path)
                return f"<unset {m.group(1)}>"
            return env[m.group(1)]

        return _ENV_PATTERN.sub(sub, value)
    if isinstance(value, dict):
        return {
            k: _interpolate(v, env, f"{path}.{k}" if path else str(k), missing)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, env, f"{path}.{i}", missing) for i, v in enumerate(value)]
    return value


_AWS_ENV = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "aws_region_name": ("AWS_REGION", "AWS_DEFAULT_REGION"),
}


def _default_keys(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Give deployments without an api_key their provider's usual key variable, if set."""
    entries = raw.get("model_list") or ()
    if not isinstance(entries, list):
        return  # not a list: the model's validation says so, in its own words
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        params = entry.get("params", entry.get("litellm_params"))
        if not isinstance(params, dict) or params.get("api_key") is not None:
            continue
        model = params.get("model")
        preset = PRESETS.get(model.partition("/")[0]) if isinstance(model, str) else None
        if preset is not None and preset.wire == "bedrock":
            for key, names in _AWS_ENV.items():
                found = next((env[n] for n in names if env.get(n)), None)
                if params.get(key) is None and found is not None:
                    params[key] = found
        if preset is not None and preset.vertex and params.get("vertex_project") is None:
            found = env.get("VERTEXAI_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT")
            if found:
                params["vertex_project"] = found
        for name in preset.key_env if preset is not None else ():
            if env.get(name):
                params["api_key"] = env[name]
                break


def settings_from_mapping(
    data: Mapping[str, Any] | None,
    env: Mapping[str, str] | None = None,
    *,
    required_env: EnvScope = "all",
) -> Settings:
    """Validate an already-parsed config mapping (environment references resolved).

    Every unset environment variable is reported in one error; with
    ``required_env="storage"`` only those the database settings need are required.
    """
    env = os.environ if env is None else env
    missing: dict[str, str] = {}
    # Ignored keys go first: an unset variable they reference does not matter.
    translated, honoured = translate_litellm_callbacks(dict(data or {}), env)
    translated, guarded = translate_litellm_settings(translated)
    stripped, warnings = strip_unhonoured(translated)
    warnings = honoured + guarded + warnings
    raw = _interpolate(stripped, env, "", missing)
    if required_env == "storage":
        missing = {n: p for n, p in missing.items() if p.startswith(_STORAGE_PATHS)}
    if missing:
        listed = "\n  ".join(f"{name} (used by {path})" for name, path in missing.items())
        noun = "variable is" if len(missing) == 1 else "variables are"
        raise ConfigError(f"environment {noun} not set:\n  {listed}")
    _default_keys(raw, env)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        lines = describe_validation_error(exc, Settings)
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    settings._warnings = tuple(warnings)
    return settings


def find_config(explicit: str | Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file every command uses: ``--config``, ``$LOCKGATE_CONFIG``, ``./lockgate.yaml``.

    None means the embedded defaults.
    """
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get("LOCKGATE_CONFIG"):
        return Path(env["LOCKGATE_CONFIG"])
    local = Path("lockgate.yaml")
    return local if local.is_file() else None


def _embedded_defaults(env: Mapping[str, str]) -> dict[str, Any]:
    models: list[dict[str, Any]] = [
        {"model_name": "mock", "params": {"model": "mock/mock-1"}},
    ]
    if env.get("OPENAI_API_KEY"):
        for name in ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1"):
            models.append(
                {
                    "model_name": name,
                    "params": {
                        "model": f"openai/{name}",
                        "api_base": env.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
                        "api_key": "os.environ/OPENAI_API_KEY",
                    },
                }
            )
    if env.get("ANTHROPIC_API_KEY"):
        for name in ("claude-3-5-haiku-latest", "claude-sonnet-4-5", "claude-opus-4-1"):
            models.append(
                {
                    "model_name": name,
                    "params": {
                        "model": f"anthropic/{name}",
                        "api_base": env.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
                        "api_key": "os.environ/ANTHROPIC_API_KEY",
                    },
                }
            )
    data: dict[str, Any] = {"model_list": models, "embedded_defaults": True}
    if env.get("LOCKGATE_MASTER_KEY"):
        data["general_settings"] = {"master_key": "os.environ/LOCKGATE_MASTER_KEY"}
    return data


def load_settings(
    path: str | Path | None,
    env: Mapping[str, str] | None = None,
    *,
    required_env: EnvScope = "all",
) -> Settings:
    """Load and validate the config file, or the embedded defaults when ``path`` is None."""
    env = os.environ if env is None else env
    if path is None:
        return settings_from_mapping(_embedded_defaults(env), env)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping at the top level")
    settings = settings_from_mapping(data, env, required_env=required_env)
    settings._source_digest = text_digest(text)
    return settings


def text_digest(text: str) -> str:
    """What tells one version of a config file from another (its SHA-256)."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()
