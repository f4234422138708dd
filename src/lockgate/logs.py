"""Structured JSON logs: one formatter for every lockgate logger, and a request-log sink.

Each line is one JSON object with ``ts``, ``level``, ``logger``, ``msg`` and the
record's structured fields (``request_id`` and friends).  Secrets never reach a
log line: request bodies are not logged at all, key material is never part of a
record, and any string field that looks like a credential (``sk-...``,
``Bearer ...``) is masked before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import orjson
import structlog

from lockgate.records import RequestRecord

__all__ = ["JsonFormatter", "RequestLogSink", "configure_logging", "mask_known", "mask_secrets"]

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_secrets(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = _clean(value)
        if record.exc_info:
            data["exc"] = mask_secrets(self.formatException(record.exc_info))
        return orjson.dumps(data, default=str).decode()


def configure_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Send ``lockgate.*`` logs (stdlib and structlog) to ``stream`` as JSON lines.

    Called once at process start by ``lockgate serve``; returns the handler.
    """
    structlog.configure(
        processors=[structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("lockgate")
    for old in list(logger.handlers):
        if isinstance(old.formatter, JsonFormatter):
            logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return handler


class RequestLogSink:
    """A record sink that logs one line per finished request (never bodies)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("lockgate.requests")

    def submit(self, record: RequestRecord) -> None:
        log = self._log
        level = logging.INFO if record.status < 500 else logging.WARNING
        if not log.isEnabledFor(level):
            return
        log.log(
            level,
            "request",
            extra={
                "request_id": record.request_id,
                "client_request_id": record.client_request_id,
                "api": record.api,
                "key_id": record.key_id,
                "key_name": record.key_name,
                "team": record.team,
                "user": record.user,
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
                "ttft_ms": None if record.ttft_ms is None else round(record.ttft_ms, 3),
                "attempts": record.attempts,
                "cache": record.cache,
            },
        )

    async def aclose(self) -> None:
        return None
