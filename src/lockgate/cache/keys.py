"""Canonical exact-cache keys.

A key is ``"c1:" + sha256(canonical bytes)`` where the canonical bytes are the
orjson encoding (sorted keys) of everything that can change the answer: the
resolved model group, the tenant namespace, the normalised messages, tools and
every generation parameter.  Fields that only change *how* the answer is
delivered or recorded (``stream``, ``stream_options``, ``metadata``, ``user`` by
default, lockgate's own ``cache`` control) are left out, so a streamed and a
non-streamed request share one entry.

Unknown body fields are kept: a needless miss costs one upstream call, a false
hit serves a wrong answer.  Bump ``KEY_VERSION`` whenever the encoding changes;
old entries then simply stop matching and age out by TTL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["EXCLUDED_FIELDS", "KEY_VERSION", "cache_key", "canonical_payload"]

KEY_VERSION = 1

#: Body fields that never change the answer (``user`` is opt-in, see ``cache_key``).
EXCLUDED_FIELDS = frozenset({"model", "stream", "stream_options", "metadata", "cache", "store"})


def _number(value: Any) -> Any:
    # 0 and 0.0 mean the same to every provider; without this they hash apart.
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _message(msg: Mapping[str, Any]) -> Any:
    # SDKs serialise absent optionals as null; {"name": None} must equal no name.
    if None not in msg.values():
        return msg
    return {k: v for k, v in msg.items() if v is not None}


def canonical_payload(
    body: Mapping[str, Any],
    *,
    model: str,
    namespace: str,
    include_user: bool = False,
) -> dict[str, Any]:
    """The dict that is hashed into the key (exposed for tests and debugging)."""
    payload: dict[str, Any] = {"_v": KEY_VERSION, "_model": model, "_ns": namespace}
    for name, value in body.items():
        if value is None or name in EXCLUDED_FIELDS:
            continue
        if name == "user" and not include_user:
            continue
        if name == "messages" and isinstance(value, list):
            payload[name] = [_message(m) if isinstance(m, dict) else m for m in value]
        else:
            payload[name] = _number(value)
    return payload


def cache_key(
    body: Mapping[str, Any],
    *,
    model: str,
    namespace: str = "",
    include_user: bool = False,
) -> str:
    """The exact-cache key of an OpenAI chat body.

    ``model`` is the resolved model group (alias) the gateway routes to, not
    necessarily ``body["model"]``; ``namespace`` isolates tenants (e.g. the
    project or key id) so one tenant never reads another's answers.
    """
    payload = canonical_payload(body, model=model, namespace=namespace, include_user=include_user)
    raw = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return f"c{KEY_VERSION}:{hashlib.sha256(raw).hexdigest()}"
