"""Builds the audit-log record sink from the ``audit:`` settings."""

from __future__ import annotations

import os
from collections.abc import Mapping

from lockgate.audit.crypto import AuditKeyError, BodyCipher
from lockgate.audit.writer import AuditWriter
from lockgate.records import RecordSink
from lockgate.settings import ConfigError, Settings
from lockgate.storage.database import Database
from lockgate.storage.dead_letter import DeadLetter

__all__ = ["body_cipher", "build_audit_sinks", "check_audit_key"]


def body_cipher(settings: Settings, env: Mapping[str, str] | None = None) -> BodyCipher | None:
    """The body cipher from the key in ``audit.key_env``; None when the variable is unset.

    A set but malformed key is a :class:`ConfigError`.
    """
    env = os.environ if env is None else env
    name = settings.audit.key_env
    value = env.get(name)
    if not value:
        return None
    try:
        return BodyCipher.from_env_value(value)
    except AuditKeyError as exc:
        raise ConfigError(f"audit: environment variable {name}: {exc.message}") from None


def check_audit_key(settings: Settings, env: Mapping[str, str] | None = None) -> BodyCipher | None:
    """The body cipher the audit writer needs (None when bodies are not stored).

    A missing key with ``audit.store_bodies`` on, or a malformed one, is a :class:`ConfigError`.
    """
    audit = settings.audit
    if not (audit.enabled and audit.store_bodies):
        return None
    cipher = body_cipher(settings, env)
    if cipher is None:
        raise ConfigError(
            f"audit.store_bodies is on but environment variable {audit.key_env} is not set;"
            " set it to a 32-byte key (64 hex digits or base64), e.g. the output of"
            " `openssl rand -hex 32`, or turn audit.store_bodies off"
        )
    return cipher


def build_audit_sinks(
    settings: Settings, db: Database, env: Mapping[str, str] | None = None
) -> list[RecordSink]:
    """The sinks that keep the tamper-evident audit log.

    With ``audit.store_bodies`` on, the key must be in the environment: bodies are
    never stored in plaintext, so a missing key stops the gateway from starting.
    """
    audit = settings.audit
    if not audit.enabled:
        return []
    cipher = check_audit_key(settings, env)
    return [
        AuditWriter(
            db,
            cipher=cipher,
            batch_size=audit.batch_size,
            flush_interval=audit.flush_interval_seconds,
            max_queue=audit.max_queue,
            max_queue_bytes=audit.max_queue_bytes,
            overflow=audit.overflow,
            durable=audit.durability == "sync",
            dead_letter=DeadLetter(audit.dead_letter_file, "audit"),
            retention_seconds=(
                audit.retention_days * 86400.0 if audit.retention_days is not None else None
            ),
        )
    ]
