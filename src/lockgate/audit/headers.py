"""A request's headers as the audit trail keeps them: credentials redacted (pure).

Kept: header names (lower-case) and values, the first :data:`MAX_HEADERS` of them, each
value cut at :data:`MAX_VALUE`.  Redacted (value replaced by ``[redacted]``): every
header whose name says it carries a credential (authorization, cookies, api keys,
tokens, secrets, signatures), and any value that looks like a key (``sk-...``,
``Bearer ...``) whatever the header is called.
"""

from __future__ import annotations

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


#: every character a value's check can start on: whitespace (stripped first) and the
#: characters that lower-case to a prefix's first letter (only ASCII ones do;
#: tests/audit/test_headers_fast.py checks every code point). A value starting on any
#: other character is not a credential by :data:`_SECRET_PREFIXES`, unchecked.
_CHECK_FIRST = frozenset(
    "".join(p[0] + p[0].upper() for p in _SECRET_PREFIXES)
    + "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: header name -> (its lower-case form, whether it names a credential), bounded
_NAMES: dict[str, tuple[str, bool]] = {}
_MAX_NAMES = 1024


def _secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


def _name(name: str) -> tuple[str, bool]:
    lname = name.lower()
    known = (lname, _secret_name(lname))
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[name] = known
    return known


def redacted_headers(headers: Mapping[str, str]) -> dict[str, str] | None:
    """``headers`` fit to store (None when there are none)."""
    if len(headers) > MAX_HEADERS:
        return _redacted_many(headers)
    out: dict[str, str] = {}
    names = _NAMES
    for name, value in headers.items():
        lname, secret = names.get(name) or _name(name)
        if secret or (
            value[:1] in _CHECK_FIRST and value[:8].lstrip().lower().startswith(_SECRET_PREFIXES)
        ):
            out[lname] = REDACTED
        else:
            out[lname] = value[:MAX_VALUE]
    return out or None


def _redacted_many(headers: Mapping[str, str]) -> dict[str, str] | None:
    """:func:`redacted_headers` of more than :data:`MAX_HEADERS` headers: the first
    :data:`MAX_HEADERS` distinct lower-case names are kept."""
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
