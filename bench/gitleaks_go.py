"""Helpers for transcribing gitleaks' rule-file examples (cmd/generate/config/rules/*.go).

The rule files build their true examples with ``utils.GenerateSampleSecrets(identifier,
secret)`` (30 assignment forms), ``utils.GenerateSampleSecret`` (one form) and
``secrets.NewSecret(pattern)`` (a random string drawn from a pattern). The data modules
``gitleaks_go_*.py`` write those calls with the functions below; a random draw is made
once, from a fixed seed, so the example file is reproducible. Literal examples are
copied as they are (gitleaks is MIT-licensed; its notice is in third_party/gitleaks/).

Each data module has ``EXAMPLES``: ``(rule file, rule id, text or list of texts,
label in the rule file: 1 for tps, 0 for fps)``. The label that counts is the
gitleaks binary's, given to every row by bench/gitleaks_examples.py.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable

import rstr

sys.modules["rstr.xeger"].STAR_PLUS_LIMIT = 400  # gitleaks has 146- to 300-character tokens

_RNG = random.Random(8)
_DRAW = rstr.Rstr(_RNG)

Example = tuple[str, str, "str | list[str]", int]

# gitleaks cmd/generate/config/utils/generate.go GenerateSampleSecrets: all 30 forms
FORMS = (
    '{i}Token="{s}"', '{i}Token = "{s}"', "{i}Token={s}", "{i}Token = {s}",
    '{\n    "{i}_token": "{s}"\n}', '\\{\n    \\"{i}_token\\": \\"{s}\\"\n\\}',
    "<{i}Token>{s}</{i}Token>", "<{i}Token>\n    {s}\n</{i}Token>",
    "{i}_token: {s}", "{i}_token: '{s}'", '{i}_token: "{s}"', "{i}_token: |\n  {s}",
    "{i}_token: >\n  {s}", 'string {i}Token = "{s}";', 'var {i}Token string = "{s}"',
    '{i}Token := "{s}"', "{i}Token := `{s}`", 'String {i}Token = "{s}";',
    'var {i}Token = "{s}"', '${i}Token .= "{s}"', "{i}Token = '{s}'", '{i}Token = "{s}"',
    "{i}Token,{s},", '  "{i}Token" => "{s}"', '{i}_TOKEN = "{s}"', '{i}_TOKEN := "{s}"',
    '{i}_TOKEN ::= "{s}"', '{i}_TOKEN :::= "{s}"', '{i}_TOKEN ?= "{s}"', '{i}_TOKEN += "{s}"',
)  # fmt: skip


def gs(identifier: str, secret: str) -> list[str]:
    """utils.GenerateSampleSecrets."""
    return [f.replace("{i}", identifier).replace("{s}", secret) for f in FORMS]


def g1(identifier: str, secret: str) -> str:
    """utils.GenerateSampleSecret."""
    return f'{identifier}_api_token = "{secret}"'


def ns(pattern: str) -> str:
    """secrets.NewSecret: one string drawn from ``pattern`` (fixed seed)."""
    return str(_DRAW.xeger(pattern))


# utils' pattern helpers (cmd/generate/config/utils/regex.go): a class of characters, a size
def _sized(chars: str) -> Callable[[str], str]:
    return lambda n: f"[{chars}]{{{n}}}"


hx = _sized("a-f0-9")  # Hex
num = _sized("0-9")  # Numeric
an = _sized("a-z0-9")  # AlphaNumeric
ans = _sized("a-z0-9_-")  # AlphaNumericExtendedShort
ane = _sized("a-z0-9=_\\-")  # AlphaNumericExtended
anl = _sized("a-z0-9\\/=_\\+\\-")  # AlphaNumericExtendedLong
HEX_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
