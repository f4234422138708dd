"""Signed console session cookies and CSRF tokens (pure: the clock is passed in).

A session is ``<expiry>.<subject>.<nonce>.<hmac>`` keyed by a secret derived from the
master key, so rotating the master key ends every session.  The subject is ``admin`` (the
master key logged in) or a virtual key's id (that key sees its own data only).  The CSRF
token of a session is an HMAC of its nonce: a form carries it, and a POST without the
matching token is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = ["ADMIN", "LOGIN", "Session", "csrf_token", "issue", "secret_of", "verify"]

COOKIE = "lockgate_console"
TTL_S = 8 * 3600
ADMIN = "admin"
#: the login form's own cookie (subject LOGIN): its CSRF token guards the login POST
LOGIN_COOKIE = "lockgate_console_login"
LOGIN = "login"
_SUBJECT = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Session:
    subject: str
    nonce: str

    @property
    def key_id(self) -> str | None:
        """The virtual key this session is confined to (None for the master key's)."""
        return None if self.subject == ADMIN else self.subject


def secret_of(master_key: str) -> bytes:
    return hmac.new(master_key.encode(), b"lockgate-console-session", hashlib.sha256).digest()


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def issue(secret: bytes, now: float, subject: str = ADMIN, ttl: float = TTL_S) -> str:
    if not _SUBJECT.fullmatch(subject):
        raise ValueError(f"not a session subject: {subject!r}")
    body = f"{int(now + ttl)}.{subject}.{secrets.token_hex(16)}"
    return f"{body}.{_mac(secret, body)}"


def verify(secret: bytes, cookie: str | None, now: float) -> Session | None:
    """The session when ``cookie`` is genuine and unexpired, else None."""
    if not cookie or cookie.count(".") != 3:
        return None
    expiry, subject, nonce, mac = cookie.split(".")
    if not hmac.compare_digest(mac, _mac(secret, f"{expiry}.{subject}.{nonce}")):
        return None
    if not expiry.isdigit() or int(expiry) <= now:
        return None
    return Session(subject, nonce)


def csrf_token(secret: bytes, nonce: str) -> str:
    return _mac(secret, "csrf:" + nonce)
