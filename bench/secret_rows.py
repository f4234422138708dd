"""Seeded synthetic rows of credentials in realistic surroundings, and near misses.

Same schema as the PII dev file (text, label, spans) so eval_pii.py can score them:

    PYTHONPATH=src python bench/eval_pii.py --secrets
"""

from __future__ import annotations

import base64
import json
import random
import string
from typing import Any

__all__ = ["secret_rows"]

_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "-_"
_B64 = _ALNUM + "+/"


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _keys(rng: random.Random) -> list[tuple[str, str]]:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": str(rng.randint(1, 10**9)), "iat": 1700000000}).encode())
    jwt = f"{header}.{payload}.{_rand(rng, _URLSAFE, 43)}"
    body = "\n".join(_rand(rng, _B64, 64) for _ in range(rng.randint(3, 8)))
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    pem = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"
    return [
        ("API_KEY", "sk-" + _rand(rng, _ALNUM, 48)),
        ("API_KEY", "sk-proj-" + _rand(rng, _URLSAFE, 120) + _rand(rng, _ALNUM, 4)),
        ("API_KEY", "sk-ant-api03-" + _rand(rng, _URLSAFE, 93) + "AA"),
        ("API_KEY", "AKIA" + _rand(rng, string.ascii_uppercase + string.digits, 16)),
        ("API_KEY", "ghp_" + _rand(rng, _ALNUM, 36)),
        ("API_KEY", "github_pat_" + _rand(rng, _ALNUM, 22) + "_" + _rand(rng, _ALNUM, 59)),
        ("API_KEY", f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**12, 10**13)}-"
         + _rand(rng, _ALNUM, 24)),
        ("API_KEY", "sk_live_" + _rand(rng, _ALNUM, 24)),
        ("API_KEY", "rk_live_" + _rand(rng, _ALNUM, 24)),
        ("API_KEY", "AIza" + _rand(rng, _URLSAFE, 35)),
        ("API_KEY", "hf_" + _rand(rng, string.ascii_letters, 34)),
        ("JWT", jwt),
        ("PRIVATE_KEY", pem),
    ]  # fmt: skip


_SURROUNDINGS = [
    "Here is my key: {}",
    "export OPENAI_API_KEY={}",
    'client = Client(api_key="{}")',
    '{{"token": "{}", "user": "bob"}}',
    "curl -H 'Authorization: Bearer {}' https://api.example.com/v1/models",
    "Why does this fail?\n```\nKEY = '{}'\nprint(call(KEY))\n```",
    "my config.yaml:\n  secret: {}\n  region: eu-west-1",
    "use {} for the staging box",
]

_GENERIC = [
    ("api_key = '{}'", _ALNUM, 32),
    ("SECRET_KEY={}", _ALNUM + "!@#$%^&*(-_=+)", 50),
    ('"client_secret": "{}"', _URLSAFE, 40),
    ("password: {}", _ALNUM, 20),
    ("aws_secret_access_key = {}", _B64, 40),
]

_NEGATIVES = [
    "id: 123e4567-e89b-12d3-a456-426614174000",
    "checksum = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "fixed in commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "api_key = os.environ['OPENAI_API_KEY']",
    "token = get_token(session)",
    "password = settings.DATABASE_PASSWORD_FOR_PRODUCTION",
    "Set api_key=YOUR_API_KEY_HERE before running.",
    "Replace sk-... with your key and ask-me-anything-about-the-api",
    "we use scikit-learn and a risk-averse-long-winded-strategy-for-everything",
    "class AbstractSingletonProxyFactoryBean extends Base {}",
    "See https://example.com/docs/authentication/api-keys#rotating-keys-safely",
    "The secret is to keep going: the aws console is slow today",
    "token: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "header eyJ is how every JWT begins, e.g. eyJhbGciOi...",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "image: data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
    "path /usr/local/lib/python3.11/site-packages/requests/adapters.py",
]


def secret_rows(seed: int = 0, rounds: int = 20) -> list[dict[str, Any]]:
    """Positive rows (one credential each, in varied surroundings) and negatives."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for _ in range(rounds):
        for type_, value in _keys(rng):
            text = rng.choice(_SURROUNDINGS).format(value)
            start = text.index(value)
            span = {"start": start, "end": start + len(value), "type": type_, "value": value}
            rows.append({"text": text, "label": 1, "types": [type_], "spans": [span]})
        for template, alphabet, n in _GENERIC:
            value = _rand(rng, alphabet, n - 4) + _rand(rng, string.digits, 4)
            text = template.format(value)
            start = text.index(value)
            span = {"start": start, "end": start + len(value), "type": "API_KEY", "value": value}
            rows.append({"text": text, "label": 1, "types": ["API_KEY"], "spans": [span]})
    for text in _NEGATIVES:
        rows.append({"text": text, "label": 0, "types": [], "spans": []})
    return rows
