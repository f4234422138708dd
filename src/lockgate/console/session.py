"""Signed admin session cookies and CSRF tokens (pure: the clock is passed in).

A session is ``<expiry>.<nonce>.<hmac>`` keyed by a secret derived from the master key,
so rotating the master key ends every session.  The CSRF token of a session is an HMAC
of its nonce: a form carries it, and a POST without the matching token is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["csrf_token", "issue", "secret_of", "verify"]

COOKIE = "lockgate_console"
TTL_S = 8 * 3600


def secret_of(master_key: str) -> bytes:
    return hmac.new(master_key.encode(), b"lockgate-console-session", hashlib.sha256).digest()


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def issue(secret: bytes, now: float, ttl: float = TTL_S) -> str:
    body = f"{int(now + ttl)}.{secrets.token_hex(16)}"
    return f"{body}.{_mac(secret, body)}"


def verify(secret: bytes, cookie: str | None, now: float) -> str | None:
    """The session's nonce when ``cookie`` is genuine and unexpired, else None."""
    if not cookie or cookie.count(".") != 2:
        return None
    expiry, nonce, mac = cookie.split(".")
    if not hmac.compare_digest(mac, _mac(secret, f"{expiry}.{nonce}")):
        return None
    if not expiry.isdigit() or int(expiry) <= now:
        return None
    return nonce


def csrf_token(secret: bytes, nonce: str) -> str:
    return _mac(secret, "csrf:" + nonce)
