"""Logs: one formatter for every lockgate logger, the access log, and storm control.

Each line is one JSON object (``logs.format: json``, the default) with ``ts``,
``level``, ``logger``, ``msg`` and the record's structured fields, or one
``key=value`` text line (``logs.format: text``).  ``RequestLogSink`` writes the
access log: one line per finished request (logger ``lockgate.requests``).  Warning
and error lines (upstream errors, retries, breaker transitions, limiter outages,
writer failures) pass a per-message budget (``logs.events_per_minute``) so a storm
stays readable: the first lines of each kind in a minute are written, the rest
counted and reported on the next line of that kind that is written.

Secrets never reach a log line: request bodies are not logged at all, key material
is never part of a record, and any string field that looks like a credential
(``sk-...``, ``Bearer ...``) is masked before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, TextIO

import orjson
from pydantic import BaseModel, ConfigDict, Field

from lockgate.records import RequestRecord

__all__ = [
    "ACCESS_LOGGER",
    "JsonFormatter",
    "LineBudget",
    "LogSettings",
    "RateLimitFilter",
    "RequestLogSink",
    "TextFormatter",
    "configure_logging",
    "import_structlog_lean",
    "mask_known",
    "mask_secrets",
]

#: the access log's logger
ACCESS_LOGGER = "lockgate.requests"


class LogSettings(BaseModel):
    """The ``logs:`` section (the level is ``server.log_level``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: one line per finished request (logger ``lockgate.requests``)
    access: bool = True
    format: Literal["json", "text"] = "json"
    #: warning/error lines written per distinct message per minute; the rest are counted
    events_per_minute: int = Field(default=20, ge=1)


_SECRET = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(sk|pk|rk|lg)[-_][A-Za-z0-9_-]{8,}"
    # An "Authorization: Bearer <token>" keeps its scheme word out of the value.
    r"|\b(api[_-]?key|authorization|x-api-key|password|secret)(\"?\s*[:=]\s*\"?(?:bearer\s+)?)"
    r"[^\s\",}]{4,}"
)
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def mask_secrets(text: str) -> str:
    """Replace anything shaped like a credential with ``***``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(1) + "***"
        if m.group(3):
            return m.group(3) + m.group(4) + "***"
        return "***"

    return _SECRET.sub(sub, text)


def mask_known(text: str, secrets: Iterable[str]) -> str:
    """``mask_secrets`` plus every occurrence of the given secret values (e.g. the
    deployment's own api_key, whatever its shape)."""
    for secret in secrets:
        if len(secret) >= 6 and secret in text:
            text = text.replace(secret, "***")
    return mask_secrets(text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    access: dict[str, Any] | None = getattr(record, "_access", None)
    if access is not None:  # the access log: built and masked by its sink
        return access
    return {
        key: _clean(value)
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_secrets(record.getMessage()),
        }
        data.update(_fields(record))
        if record.exc_info:
            data["exc"] = mask_secrets(self.formatException(record.exc_info))
        return orjson.dumps(data, default=str).decode()


class TextFormatter(logging.Formatter):
    """``2026-11-28T14:03:07.123Z info lockgate.requests request status=200 ...``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"{stamp}.{int(record.msecs):03d}Z",
            record.levelname.lower(),
            record.name,
            mask_secrets(record.getMessage()),
        ]
        for key, value in _fields(record).items():
            if value is None:
                continue
            if isinstance(value, str):
                text = value if value and " " not in value and '"' not in value else _quote(value)
            else:
                text = orjson.dumps(value, default=str).decode()
            parts.append(f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            exc = self.formatException(record.exc_info).replace("\n", " | ")
            line += " exc=" + _quote(mask_secrets(exc))
        return line


def _quote(text: str) -> str:
    return orjson.dumps(text).decode()


class LineBudget:
    """At most ``limit`` lines per key per ``window`` seconds (pure: ``now`` passed in)."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 1024) -> None:
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        #: key -> [window start, lines written in it, lines held back since the last one]
        self._state: dict[object, list[float]] = {}

    def admit(self, key: object, now: float) -> tuple[bool, int]:
        """Whether to write the line, and how many like it were held back before it."""
        st = self._state.get(key)
        if st is None:
            if len(self._state) >= self._max_keys:
                self._state.clear()  # bounded memory; at worst a few extra lines
            st = self._state[key] = [now, 0.0, 0.0]
        if now - st[0] >= self.window:
            st[0], st[1] = now, 0.0
        if st[1] >= self.limit:
            st[2] += 1
            return False, 0
        st[1] += 1
        held, st[2] = int(st[2]), 0.0
        return True, held


class RateLimitFilter(logging.Filter):
    """A ``LineBudget`` per (logger, message) for warning and error lines.

    Access lines and info/debug lines pass untouched.  A line written after others
    like it were held back carries ``suppressed``: how many were not written.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._budget = LineBudget(per_minute)
        self._clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.name == ACCESS_LOGGER:
            return True
        ok, held = self._budget.admit((record.name, record.msg), self._clock())
        if ok and held:
            record.suppressed = held
        return ok


def import_structlog_lean() -> None:
    """Import structlog with its development console's rich tracebacks left out.

    ``structlog.dev`` imports rich, and through ``rich.traceback`` pygments, whenever
    rich is installed (typer brings it): ~6 MB resident and ~60 ms of start-up for the
    ConsoleRenderer's pretty tracebacks.  The server never uses that renderer
    (``configure_logging`` hands structlog's events to stdlib logging and lockgate's
    formatters), so ``lockgate serve`` calls this before anything imports structlog;
    ``structlog.dev`` then uses plain tracebacks.  greenlet is hidden too (structlog's
    deprecated greenlet-local context, unused; SQLAlchemy's async engine imports it when
    it is made).  A no-op once structlog is imported.
    """
    from lockgate.serving.lean import import_hiding

    import_hiding("structlog", "rich", "greenlet")


def configure_logging(
    level: str = "info", stream: TextIO | None = None, logs: LogSettings | None = None
) -> logging.Handler:
    """Send ``lockgate.*`` logs (stdlib and structlog) to ``stream`` (stderr), one per line.

    Called once at process start by ``lockgate serve``; returns the handler.
    """
    import structlog

    logs = logs or LogSettings()
    structlog.configure(
        processors=[structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if logs.format == "json" else TextFormatter())
    handler.addFilter(RateLimitFilter(logs.events_per_minute))
    logger = logging.getLogger("lockgate")
    for old in list(logger.handlers):
        if isinstance(old.formatter, JsonFormatter | TextFormatter):
            logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return handler


_RECORD_TEMPLATE = vars(logging.makeLogRecord({"msg": "request"}))
_START = _RECORD_TEMPLATE["created"] - _RECORD_TEMPLATE["relativeCreated"] / 1000.0
_LEVEL_NAMES = {logging.INFO: "INFO", logging.WARNING: "WARNING"}


def _access_record(name: str, level: int, fields: dict[str, Any]) -> logging.LogRecord:
    """A LogRecord without ``Logger.makeRecord``'s caller lookup (a stack walk per line)."""
    record = logging.LogRecord.__new__(logging.LogRecord)
    now = time.time()
    record.__dict__.update(_RECORD_TEMPLATE)
    record.__dict__.update(
        name=name,
        levelno=level,
        levelname=_LEVEL_NAMES[level],
        created=now,
        msecs=(now - int(now)) * 1000.0,
        relativeCreated=(now - _START) * 1000.0,
        _access=fields,
    )
    return record


class RequestLogSink:
    """The access log: one line per finished request (never bodies), cheap enough for each.

    The line's fields are built here once; only those a client or an operator fills
    with free text (request id, key name, user) go through the secret mask.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger(ACCESS_LOGGER)

    def wants(self, status: int) -> bool:
        return self._log.isEnabledFor(logging.INFO if status < 500 else logging.WARNING)

    def submit(self, record: RequestRecord) -> None:
        log = self._log
        level = logging.INFO if record.status < 500 else logging.WARNING
        if not log.isEnabledFor(level):
            return
        name, user, cid = record.key_name, record.user, record.client_request_id
        fields = {
            "request_id": mask_secrets(record.request_id),
            "client_request_id": mask_secrets(cid) if cid else cid,
            "api": record.api,
            "key_id": record.key_id,
            "key_name": mask_secrets(name) if name else name,
            "team": record.team,
            "user": mask_secrets(user) if user else user,
            "model": record.model,
            "provider": record.provider,
            "deployment": record.deployment,
            "status": record.status,
            "error_code": record.error_code,
            "stream": record.stream,
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "cost_usd": record.cost_usd,
            "latency_ms": round(record.latency_ms, 3),
            "overhead_ms": round(record.overhead_ms, 3),
            "upstream_ms": round(record.latency_ms - record.overhead_ms, 3),
            "ttft_ms": None if record.ttft_ms is None else round(record.ttft_ms, 3),
            "attempts": record.attempts,
            "cache": record.cache,
        }
        log.handle(_access_record(log.name, level, fields))

    async def aclose(self) -> None:
        return None
