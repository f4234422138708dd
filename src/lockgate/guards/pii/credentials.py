"""Detectors for credentials: provider API keys and tokens, PEM private keys, JWTs.

Provider keys are recognised by their documented prefixes; anything else counts only
as the value of an ``api_key=``-style assignment (or a bearer token) with enough
entropy to be random, so that ordinary words and placeholders stay.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

from lockgate.guards.pii.finding import Detector, Finding
from lockgate.guards.pii.secret_rules import SecretRuleDetector, gitleaks_allowlists, line_of
from lockgate.guards.pii.validators import jwt_header_ok, placeholder_like, shannon_entropy

__all__ = [
    "ApiKeyDetector",
    "JwtDetector",
    "PrivateKeyDetector",
    "credential_detectors",
]

_TOKEN = r"[A-Za-z0-9_\-]"

# Prefixed formats of the major providers. Those with a separator ("-", "_", ".")
# in their first seven characters are found from the separator (rare in prose, so
# the engine skips text fast); the others start with a literal that is searched for.
_SEPARATED_KEYS = (
    # Anthropic API and admin keys: 93 characters and "AA" (the shape gitleaks,
    # trufflehog and Semgrep all match); shorter ones are cut copies, not keys.
    # Claude Code OAuth tokens: 95 characters (gitleaks' claude_code.go).
    r"sk-ant-(?:api|admin)\d{2}-" + _TOKEN + r"{93}AA",
    r"sk-ant-oat\d{2}-" + _TOKEN + r"{95}",
    r"sk-ant-sid\d{2}-" + _TOKEN + r"{20,}",  # claude.ai session keys
    r"sk-(?:proj|svcacct|admin|None|or-v1)-" + _TOKEN + r"{20,}",  # OpenAI project etc.
    r"sk-(?!ant-)[A-Za-z0-9](?:[A-Za-z0-9_\-]){19,}",  # OpenAI legacy and compatibles
    r"gh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{22,}",  # GitHub fine-grained
    r"glpat-[A-Za-z0-9_\-]{20,}",  # GitLab
    r"xox[abposre]-[A-Za-z0-9\-]{10,}",  # Slack
    r"xapp-\d-[A-Za-z0-9\-]{10,}",  # Slack app-level
    r"sk_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe secret key
    r"rk_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe restricted key
    r"hf_[A-Za-z]{34}",  # Hugging Face (gitleaks: exactly 34 letters)
    r"gsk_[A-Za-z0-9]{40,}",  # Groq
    r"xai-[A-Za-z0-9]{40,}",  # xAI
    r"npm_[A-Za-z0-9]{36}",  # npm
    r"pypi-AgE[A-Za-z0-9_\-]{40,}",  # PyPI
    r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",  # SendGrid
    r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}",  # Shopify
    r"sq0(?:atp|csp)-[A-Za-z0-9_\-]{22,}",  # Square
    r"dop_v1_[a-f0-9]{64}",  # DigitalOcean
    r"key-[a-f0-9]{32}",  # Mailgun
)
# The separator of each format above with the two characters before it.
_SEPARATOR_TAILS = (
    "sk-", "sk_", "rk_", "hp_", "ho_", "hu_", "hs_", "hr_", "ub_", "at-", "xa-", "xb-",
    "xp-", "xo-", "xs-", "xr-", "xe-", "pp-", "hf_", "ai-", "pm_", "pi-", "SG.", "at_",
    "ss_", "ca_", "pa_", "tp-", "sp-", "op_", "ey-",
)  # fmt: skip
_LITERAL_KEYS = (
    # One regex per leading literal, so each is a fast literal search.
    r"A(?:(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}"  # AWS access key id
    r"|Iza[0-9A-Za-z_\-]{35}"  # Google API key
    r"|C[a-f0-9]{32})",  # Twilio account SID (pairs with the secret)
    r"SK[a-f0-9]{32}",  # Twilio API key
    r"dapi[a-f0-9]{32}",  # Databricks
)
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_-")

# "sk-" keys with these prefixes are keys whatever their entropy.
_SK_SUBTYPES = ("sk-ant-", "sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-", "sk-or-v1-")
# Words after which a bare 40-character base64 run is taken for an AWS secret key.
_AWS_HINTS = ("aws", "AWS", "Aws", "mazon", "MAZON", "ecret", "ECRET", "AKIA", "ASIA")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")

# An assigned value counts as a credential when the name it is assigned to contains
# one of these (case-insensitive): OPENAI_API_KEY, client_secret, X-Auth-Token...
_NAME_PARTS = ("key", "secret", "token", "password", "passwd", "pwd", "credential", "auth")
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_-.")
_TRAILING = ".,;:)]}>"


# Documentation stand-ins, including Oracle's demo scott/tiger.
_PLACEHOLDER_PASSWORDS = frozenset({"password", "pass", "passwd", "pwd", "secret", "xxx", "tiger"})
_DIGITS = frozenset(string.digits)
_LOWER = frozenset(string.ascii_lowercase)
_UPPER = frozenset(string.ascii_uppercase)


def _mixed(value: str) -> bool:
    """At least two of: digits, lower case, upper case."""
    chars = set(value)
    return (
        (not chars.isdisjoint(_DIGITS))
        + (not chars.isdisjoint(_LOWER))
        + (not chars.isdisjoint(_UPPER))
    ) >= 2


class ApiKeyDetector:
    type = "API_KEY"
    priority = 100
    needs_digit = False

    def __init__(self) -> None:
        end = r"(?![A-Za-z0-9_\-])"
        tails = "|".join(map(re.escape, _SEPARATOR_TAILS))
        self._separator = re.compile(r"[-_.](?<=" + tails + ")")
        self._separated = re.compile("(?:" + "|".join(_SEPARATED_KEYS) + ")" + end)
        self._literal = [re.compile(p + end) for p in _LITERAL_KEYS]
        # Anchored on the separator; the name before it is read back afterwards.
        # The value sits in a lookahead so a long value never hides the next
        # separator from the scan: each ":" or "=" is judged on its own, which keeps
        # results the same whether the text is scanned whole or in stream windows.
        self._assignment = re.compile(
            r"[:=](?=>?[ \t]*(?:(?P<q>[\"'`])(?P<quoted>[^\s\"'`]{16,512})(?P=q)"
            r"|(?P<bare>[^\s\"'`,;<>]{16,512})))"
        )
        # scheme://user:password@host: the password of a connection string or URL.
        self._url_password = re.compile(
            r"\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@'\"]{0,64}:(?P<password>[^\s@/'\"]{1,128})@[\w.\-]"
        )
        self._telegram = re.compile(r"(?<![0-9])[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}(?![A-Za-z0-9_\-])")
        self._bearer = re.compile(r"(?i:\bbearer)\s+(?P<value>[A-Za-z0-9_\-.~+/]{20,}=*)")
        # What gitleaks' generic rule lets pass ("public_key = ...", "credentialsId: ...")
        # this detector's own "name = value" branch lets pass too.
        self._generic_allowlists = gitleaks_allowlists("generic-api-key")
        # Google's documented example keys (Firebase SDK) that gitleaks' rule lets pass
        self._google_allowlists = gitleaks_allowlists("gcp-api-key")
        self._aws_secret = re.compile(
            r"[A-Za-z0-9/+]{40}(?<![A-Za-z0-9/+=].{40})(?![A-Za-z0-9/+=])"
        )

    def scan(self, text: str) -> Iterator[Finding]:
        for finding in self._candidates(text):
            if not placeholder_like(finding.value):
                yield finding

    def _candidates(self, text: str) -> Iterator[Finding]:
        yield from self._provider_keys(text)
        for m in self._assignment.finditer(text):
            group = "quoted" if m.group("quoted") is not None else "bare"
            value = m.group(group)
            if group == "bare":
                value = value.rstrip(_TRAILING)
                if _looks_like_code(value):
                    continue
                # "name = value" with spaces is mostly a code expression, not a literal:
                # only a plain token with several digits passes there.
                if text[m.start() - 1 : m.start()] in (" ", "\t") and not _plain_token(value):
                    continue
            name_at = _credential_name(text, m.start())
            if name_at >= 0 and _random_enough(value):
                start = m.start(group)
                if self._gitleaks_allows(value, text, name_at, start + len(value)):
                    continue
                yield Finding(start, start + len(value), self.type, value, "lockgate:assignment")
        if "earer" in text or "EARER" in text:
            for m in self._bearer.finditer(text):
                value = m.group("value").rstrip(".")
                if _random_enough(value):
                    start = m.start("value")
                    yield Finding(start, start + len(value), self.type, value, "lockgate:bearer")
        yield from self._aws_secrets(text)
        if "://" in text:
            for m in self._url_password.finditer(text):
                value = m.group("password")
                if value.lower() not in _PLACEHOLDER_PASSWORDS and value[0] not in "<{$%*":
                    a, b = m.span("password")
                    yield Finding(a, b, self.type, value, "lockgate:url_password")
        if ":AA" in text:
            for m in self._telegram.finditer(text):
                yield Finding(m.start(), m.end(), self.type, m.group(), "lockgate:telegram")

    def _gitleaks_allows(self, secret: str, text: str, start: int, end: int) -> bool:
        match = text[start:end]
        line = line_of(text, start, end)
        return any(a.allows(secret, match, line) for a in self._generic_allowlists)

    def _provider_keys(self, text: str) -> Iterator[Finding]:
        consumed = 0
        for hint in self._separator.finditer(text):
            sep = hint.start()
            if sep < consumed:
                continue
            # The key starts 2 to 6 characters before its first separator.
            for start in range(sep - 2, max(sep - 7, -1), -1):
                if start > 0 and text[start - 1] in _KEY_CHARS:
                    continue
                m = self._separated.match(text, start)
                if m is not None:
                    consumed = m.end()
                    value = m.group()
                    if not value.startswith("sk-") or _key_like_sk(value):
                        yield Finding(start, m.end(), self.type, value, "lockgate:provider_key")
                    break
        for pattern in self._literal:
            for m in pattern.finditer(text):
                if m.start() == 0 or text[m.start() - 1] not in _KEY_CHARS:
                    value = m.group()
                    if value.startswith("AIza") and any(
                        a.allows(value, value, line_of(text, m.start(), m.end()))
                        for a in self._google_allowlists
                    ):
                        continue
                    yield Finding(m.start(), m.end(), self.type, value, "lockgate:provider_key")

    def _aws_secrets(self, text: str) -> Iterator[Finding]:
        """40-character secret access keys starting within 64 characters after an AWS hint."""
        seen: set[int] = set()
        n = len(text)
        for hint in _AWS_HINTS:
            pos = text.find(hint)
            while pos >= 0:
                for m in self._aws_secret.finditer(text, pos, min(n, pos + 64 + 41)):
                    value = m.group()
                    if m.start() in seen or m.start() > pos + 64:
                        continue
                    if m.end() < n and text[m.end()] in _BASE64_CHARS:
                        continue
                    if _random_enough(value):
                        seen.add(m.start())
                        yield Finding(m.start(), m.end(), self.type, value, "lockgate:aws_secret")
                pos = text.find(hint, pos + 1)


def _key_like_sk(value: str) -> bool:
    """An "sk-" match is a key unless it is a kebab-case slug ("sk-this-is-a-name")."""
    if value.startswith(_SK_SUBTYPES):
        return True
    return _mixed(value[3:]) and shannon_entropy(value) > 3.0


_CALL = re.compile(r"[A-Za-z_*][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*[(\[]")


def _looks_like_code(value: str) -> bool:
    """``torch.zeros(1``, ``shape[0``, ``get_key(``: a call or index, not a secret.

    Secrets such as Django's may contain ``(`` too, but not after a plain identifier.
    """
    m = _CALL.match(value)
    if m is None or _symbol_dense(value):
        return False
    name = m.group()[:-1]
    if "." in name or not any(c.isdigit() for c in name):
        return True
    after = value[m.end() : m.end() + 1]
    return len(name) >= 4 and (not after or after.isalpha() or after in "_)*[")


def _symbol_dense(value: str) -> bool:
    """Three or more of !@#$%^&: generated secrets (Django's), not code or URLs."""
    return sum(c in "!@#$%^&" for c in value) >= 3


_QUERY = re.compile(r"&[A-Za-z_][\w\[\]]*=")
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=]+")


def _plain_token(value: str) -> bool:
    return _PLAIN_TOKEN.fullmatch(value) is not None and sum(c.isdigit() for c in value) >= 2


def _credential_name(text: str, end: int) -> int:
    """Where the name written just before ``text[end]`` (a ':' or '=') starts, if it is a
    credential's; else -1."""
    i = end
    while i > 0 and end - i < 4 and text[i - 1] in " \t\"'`]:":
        i -= 1
    j = i
    while j > 0 and i - j < 40 and text[j - 1] in _NAME_CHARS:
        j -= 1
    name = text[j:i].lower()
    return j if any(part in name for part in _NAME_PARTS) else -1


def _random_enough(value: str) -> bool:
    """Long enough, several character classes and high entropy: not a word or path."""
    if len(value) < 16 or not _mixed(value) or _DIGITS.isdisjoint(value):
        return False
    if "|" in value or value.startswith("<"):
        return False
    if _QUERY.search(value) and not _symbol_dense(value):
        return False  # query strings, special tokens like "<|unused_1|>"
    if value.count("/") > 2 or value.count(".") > 2:
        return False  # paths, URLs, dotted names
    threshold = 3.0 if len(value) < 24 else 3.5
    return shannon_entropy(value) >= threshold


class PrivateKeyDetector:
    """PEM and PGP private-key blocks, including truncated ones without an END line."""

    type = "PRIVATE_KEY"
    priority = 110
    needs_digit = False

    def __init__(self) -> None:
        # A whole block; or, when END never comes, the header lines and the lines of
        # base64 that follow BEGIN (so trailing prose is not swallowed).
        self._re = re.compile(
            r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----"
            r"(?:[\s\S]*?-----END (?P=label)-----"
            r"|(?:[ \t]*\r?\n(?:(?:Proc-Type|DEK-Info|Comment|Version|Hash): [^\n]*"
            r"|[ \t]*[A-Za-z0-9+/=]{4,}(?=[ \t]*(?:\r?\n|$))|[ \t]*(?=\r?\n)))*)"
        )

    def scan(self, text: str) -> Iterator[Finding]:
        if "-----BEGIN" not in text:
            return
        for m in self._re.finditer(text):
            value = m.group().rstrip()
            yield Finding(m.start(), m.start() + len(value), self.type, value)


class JwtDetector:
    type = "JWT"
    priority = 105
    needs_digit = False

    def __init__(self) -> None:
        self._re = re.compile(
            r"(?<![A-Za-z0-9_\-])(eyJ[A-Za-z0-9_\-]{8,})\.(eyJ[A-Za-z0-9_\-]*|[A-Za-z0-9_\-]{8,})"
            r"\.[A-Za-z0-9_\-]*(?![A-Za-z0-9_\-])"
        )

    def scan(self, text: str) -> Iterator[Finding]:
        if "eyJ" not in text:
            return
        for m in self._re.finditer(text):
            if jwt_header_ok(m.group(1)):
                yield Finding(m.start(), m.end(), self.type, m.group())


def credential_detectors() -> list[Detector]:
    """Fresh compiled detectors for every credential type (gitleaks' rules included)."""
    return [ApiKeyDetector(), SecretRuleDetector(), PrivateKeyDetector(), JwtDetector()]
