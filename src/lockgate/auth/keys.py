"""Virtual keys: generation, hashing and scope checks (pure)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from lockgate.errors import PermissionDeniedError
from lockgate.limits.rules import LimitRule, rules_from_spec
from lockgate.model_patterns import matches_any

__all__ = ["KEY_PREFIX", "ApiKey", "Principal", "generate_key", "hash_key"]

KEY_PREFIX = "sk-lg-"


def generate_key() -> str:
    """A new secret key: 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # Keys are 256-bit random secrets, so a fast unsalted SHA-256 is enough to make a
    # stolen table useless; a slow password hash would only cost latency per request.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored virtual key (never the secret itself)."""

    id: str
    name: str
    key_prefix: str
    allowed_models: tuple[str, ...] | None
    team: str | None
    metadata: dict[str, Any]
    limits: dict[str, Any]
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    def active(self, now: float) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "key_prefix": self.key_prefix,
            "models": list(self.allowed_models) if self.allowed_models is not None else None,
            "team": self.team,
            "metadata": self.metadata,
            "limits": self.limits,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the master key, a virtual key, or anyone (open local mode)."""

    kind: str  # "master" | "key" | "anonymous"
    key_id: str | None = None
    name: str | None = None
    team: str | None = None
    allowed_models: frozenset[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    #: the key's own limits, parsed once when the key is loaded
    rules: tuple[LimitRule, ...] = ()
    #: when the key stops being valid (None: never)
    expires_at: float | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "master"

    def allows_model(self, name: str) -> bool:
        """Whether the key may use ``name``: listed, or matched by a listed pattern
        (``openai/*`` admits ``openai/gpt-4o``)."""
        allowed = self.allowed_models
        return allowed is None or name in allowed or matches_any(allowed, name)

    def check_model(self, alias: str) -> None:
        if not self.allows_model(alias):
            raise PermissionDeniedError(
                f"This key may not use model '{alias}'.", code="model_not_allowed", param="model"
            )

    @classmethod
    def from_key(cls, key: ApiKey) -> Principal:
        return cls(
            kind="key",
            key_id=key.id,
            name=key.name,
            team=key.team,
            allowed_models=frozenset(key.allowed_models)
            if key.allowed_models is not None
            else None,
            metadata=key.metadata,
            limits=key.limits,
            rules=tuple(rules_from_spec(f"key:{key.id}", key.limits)) if key.limits else (),
            expires_at=key.expires_at,
        )
