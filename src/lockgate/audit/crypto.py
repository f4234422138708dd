"""AES-256-GCM encryption of audit bodies (prompts, completions) at rest.

Token layout, base64url without padding::

    version (1 byte, 0x01) | key id (4 bytes) | nonce (12 bytes) | ciphertext + tag (16 bytes)

The key id is the first 4 bytes of SHA-256 of the key, so a cipher holding the
current key and some retired ones decrypts old tokens while encrypting with the
current one. Version and key id are authenticated together with the caller's
associated data (bind that to the row, e.g. ``f"{request_id}:{field}"``, so a
ciphertext cannot be moved to another row unnoticed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import string
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lockgate.errors import InternalError

if TYPE_CHECKING:  # cryptography (~6 MB resident) loads when a cipher is first built
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["AuditKeyError", "BodyCipher", "DecryptionError", "key_id"]

_VERSION = 1
_KID_LEN = 4
_NONCE_LEN = 12
_TAG_LEN = 16
_HEADER_LEN = 1 + _KID_LEN


class AuditKeyError(InternalError):
    """An audit encryption key is missing, malformed or the wrong size."""


class DecryptionError(InternalError):
    """A stored body could not be decrypted (wrong key or AAD, or altered token)."""


def key_id(key: bytes) -> bytes:
    """The 4-byte identifier of ``key`` written into every token it makes."""
    return hashlib.sha256(key).digest()[:_KID_LEN]


def _parse_key(value: str) -> bytes:
    text = value.strip()
    if len(text) == 64 and all(c in string.hexdigits for c in text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise AuditKeyError("audit key is neither 64 hex digits nor base64") from exc
    return raw


class BodyCipher:
    """Encrypts and decrypts bodies with AES-256-GCM; see the module doc for the format.

    >>> cipher = BodyCipher(bytes(range(32)))
    >>> token = cipher.encrypt(b"hello", b"req-1:prompt")
    >>> cipher.decrypt(token, b"req-1:prompt")
    b'hello'
    """

    __slots__ = ("_current", "_keys", "_nonce", "_raw", "key_id")

    def __init__(
        self,
        key: bytes,
        *,
        retired: Iterable[bytes] = (),
        nonce_source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        keys = [key, *retired]
        for k in keys:
            if len(k) != 32:
                raise AuditKeyError(f"audit key must be 32 bytes, got {len(k)}")
        self._keys: dict[bytes, AESGCM] = {}
        for k in keys:
            self._keys.setdefault(key_id(k), AESGCM(k))
        self.key_id: str = key_id(key).hex()
        self._current = (key_id(key), self._keys[key_id(key)])
        self._nonce = nonce_source
        self._raw = (key, tuple(keys[1:]))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its keys (for the writer process, over a pipe it alone reads)."""
        key, retired = self._raw
        return (_restore, (key, retired, self._nonce))

    @classmethod
    def from_env_value(cls, value: str, *, retired: Iterable[str] = ()) -> BodyCipher:
        """Build from configuration text: 64 hex digits or base64 (standard or url-safe)."""
        return cls(_parse_key(value), retired=[_parse_key(v) for v in retired])

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> str:
        """A compact token; a fresh random nonce each call."""
        kid, aead = self._current
        header = bytes([_VERSION]) + kid
        nonce = self._nonce(_NONCE_LEN)
        if len(nonce) != _NONCE_LEN:
            raise AuditKeyError("nonce source returned the wrong number of bytes")
        sealed = aead.encrypt(nonce, plaintext, header + associated_data)
        return base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode("ascii")

    def decrypt(self, token: str, associated_data: bytes) -> bytes:
        """The plaintext, or :class:`DecryptionError` saying why not."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise DecryptionError("audit body token is not base64url") from exc
        if len(raw) < _HEADER_LEN + _NONCE_LEN + _TAG_LEN:
            raise DecryptionError("audit body token is too short")
        if raw[0] != _VERSION:
            raise DecryptionError(f"unsupported audit body token version {raw[0]}")
        kid = raw[1:_HEADER_LEN]
        aead = self._keys.get(kid)
        if aead is None:
            raise DecryptionError(
                f"audit body was encrypted with key {kid.hex()}, which this cipher does not hold"
            )
        nonce = raw[_HEADER_LEN : _HEADER_LEN + _NONCE_LEN]
        from cryptography.exceptions import InvalidTag

        try:
            return aead.decrypt(
                nonce, raw[_HEADER_LEN + _NONCE_LEN :], raw[:_HEADER_LEN] + associated_data
            )
        except InvalidTag as exc:
            raise DecryptionError(
                "audit body failed authentication: wrong key or associated data, or altered"
            ) from exc

    def __repr__(self) -> str:
        return f"BodyCipher(key_id={self.key_id!r}, keys={len(self._keys)})"


def _restore(
    key: bytes, retired: tuple[bytes, ...], nonce_source: Callable[[int], bytes]
) -> BodyCipher:
    return BodyCipher(key, retired=retired, nonce_source=nonce_source)
