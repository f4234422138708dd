"""AES-256-GCM body encryption: round trips, rotation, and clear failures."""

from __future__ import annotations

import base64
import itertools

import pytest

from lockgate.audit import AuditKeyError, BodyCipher, DecryptionError
from lockgate.errors import InternalError

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_round_trip() -> None:
    """What is encrypted decrypts to the same bytes with the same AAD."""
    cipher = BodyCipher(KEY)
    body = "prompt with ünïcode".encode() * 50
    token = cipher.encrypt(body, b"req-1:prompt")
    assert cipher.decrypt(token, b"req-1:prompt") == body
    assert cipher.decrypt(cipher.encrypt(b"", b""), b"") == b""


def test_token_layout() -> None:
    """Version byte, 4-byte key id, 12-byte nonce, then ciphertext and 16-byte tag."""
    nonces = (bytes([i]) * 12 for i in itertools.count())
    cipher = BodyCipher(KEY, nonce_source=lambda n: next(nonces))
    token = cipher.encrypt(b"abc", b"aad")
    assert "=" not in token and "+" not in token and "/" not in token
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert raw[0] == 1
    assert raw[1:5].hex() == cipher.key_id
    assert raw[5:17] == bytes(12)
    assert len(raw) == 1 + 4 + 12 + 3 + 16


def test_nonces_differ() -> None:
    """Two encryptions of the same body give different tokens."""
    cipher = BodyCipher(KEY)
    assert cipher.encrypt(b"same", b"a") != cipher.encrypt(b"same", b"a")


def test_wrong_key_fails_clearly() -> None:
    """A cipher without the key names the key id it would need."""
    token = BodyCipher(KEY).encrypt(b"secret", b"aad")
    with pytest.raises(DecryptionError, match="does not hold") as info:
        BodyCipher(OTHER).decrypt(token, b"aad")
    assert isinstance(info.value, InternalError)


def test_wrong_aad_fails_clearly() -> None:
    """A body moved to another row (other AAD) fails authentication."""
    cipher = BodyCipher(KEY)
    token = cipher.encrypt(b"secret", b"req-1:prompt")
    with pytest.raises(DecryptionError, match="wrong key or associated data"):
        cipher.decrypt(token, b"req-2:prompt")


def test_same_key_id_but_different_key_fails() -> None:
    """A forged key id pointing at a held key still fails the tag check."""
    token = BodyCipher(OTHER).encrypt(b"secret", b"aad")
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[1:5] = bytes.fromhex(BodyCipher(KEY).key_id)
    forged = base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError, match="authentication"):
        BodyCipher(KEY).decrypt(forged, b"aad")


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_altered_token_fails(position: int) -> None:
    """Flipping a bit anywhere in the token is caught."""
    cipher = BodyCipher(KEY)
    raw = bytearray(base64.urlsafe_b64decode(cipher.encrypt(b"secret body", b"a") + "=="))
    raw[position] ^= 1
    with pytest.raises(DecryptionError):
        cipher.decrypt(base64.urlsafe_b64encode(bytes(raw)).decode(), b"a")


@pytest.mark.parametrize("token", ["", "AAAA", "not base64 !!", "Ag" + "A" * 60])
def test_malformed_tokens(token: str) -> None:
    """Short, non-base64 and unknown-version tokens raise DecryptionError."""
    with pytest.raises(DecryptionError):
        BodyCipher(KEY).decrypt(token, b"")


def test_rotation() -> None:
    """After rotation new bodies use the new key and old ones still decrypt."""
    old = BodyCipher(KEY)
    old_token = old.encrypt(b"old body", b"r1")
    rotated = BodyCipher(OTHER, retired=[KEY])
    assert rotated.key_id != old.key_id
    assert rotated.decrypt(old_token, b"r1") == b"old body"
    new_token = rotated.encrypt(b"new body", b"r2")
    with pytest.raises(DecryptionError):
        old.decrypt(new_token, b"r2")


def test_from_env_value_hex_and_base64() -> None:
    """Configuration may give the key as hex, base64 or url-safe base64."""
    token = BodyCipher(KEY).encrypt(b"x", b"")
    for value in (
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        f"  {KEY.hex()}\n",
    ):
        assert BodyCipher.from_env_value(value).decrypt(token, b"") == b"x"
    rotated = BodyCipher.from_env_value(OTHER.hex(), retired=[KEY.hex()])
    assert rotated.decrypt(token, b"") == b"x"


@pytest.mark.parametrize("value", ["", "abc", "zz" * 32, base64.b64encode(bytes(16)).decode()])
def test_bad_key_values(value: str) -> None:
    """Wrong sizes and undecodable values raise AuditKeyError at construction."""
    with pytest.raises(AuditKeyError):
        BodyCipher.from_env_value(value)


def test_repr_hides_key() -> None:
    """The repr shows the key id, never the key."""
    assert KEY.hex() not in repr(BodyCipher(KEY))
