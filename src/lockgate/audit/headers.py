"""A request's headers as the audit trail keeps them: credentials redacted (pure).

Kept: header names (lower-case) and values, the first :data:`MAX_HEADERS` of them, each
value cut at :data:`MAX_VALUE`.  Redacted (value replaced by ``[redacted]``): every
header whose name says it carries a credential (authorization, cookies, api keys,
tokens, secrets, signatures), and any value that looks like a key (``sk-...``,
``Bearer ...``) whatever the header is called.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

__all__ = ["MAX_HEADERS", "MAX_VALUE", "REDACTED", "redacted_headers"]

REDACTED = "[redacted]"
MAX_HEADERS = 50
MAX_VALUE = 256

_SECRET_NAME = re.compile(
    r"auth|cookie|key|token|secret|passw|signature|session|credential", re.IGNORECASE
)
#: how a credential's value starts (compared lower-cased)
_SECRET_PREFIXES = ("bearer ", "basic ", "sk-", "sk_", "xox", "ghp_", "akia")


@functools.lru_cache(maxsize=1024)
def _secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


def redacted_headers(headers: Mapping[str, str]) -> dict[str, str] | None:
    """``headers`` fit to store (None when there are none)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if len(out) >= MAX_HEADERS:
            break
        lname = name.lower()
        if _secret_name(lname) or value[:8].lstrip().lower().startswith(_SECRET_PREFIXES):
            out[lname] = REDACTED
        else:
            out[lname] = value[:MAX_VALUE]
    return out or None
