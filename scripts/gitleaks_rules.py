"""Regenerate lockgate's secret rules from gitleaks' default configuration.

    python scripts/gitleaks_rules.py [third_party/gitleaks/gitleaks.toml]

Reads the TOML (MIT, see third_party/gitleaks/LICENSE) and writes
src/lockgate/guards/pii/secret_rules.json: each rule's regex translated from Go's RE2
syntax to the ``regex`` module's (compiled with VERSION1 | ASCII, where an inline
``(?i)`` in mid-pattern scopes to its group as in RE2), its keywords (the prefilter),
entropy floor, secret group and allowlists, plus the global allowlist. The one
path-only rule (a file name, no content pattern) is left out; rules that gitleaks
restricts to file paths are kept and run on any text, since a chat has no paths.
Every translated pattern is compiled here, so a rule that does not translate fails
the script rather than the gateway.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import regex

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "third_party" / "gitleaks" / "gitleaks.toml"
# rules gitleaks added after 8.30.1, written from its rule files (see the file's head)
NEWER = ROOT / "third_party" / "gitleaks" / "rules-after-8.30.1.toml"
TARGET = ROOT / "src" / "lockgate" / "guards" / "pii" / "secret_rules.json"
FLAGS = regex.VERSION1 | regex.ASCII


# RE2's \s is [\t\n\f\r ]; Python's (ASCII) also takes \v.
_SPACE = "\\t\\n\\f\\r "


def _class(body: str) -> str:
    """One character class's body (between [ and ])."""
    if "\\s" in body and "\\S" in body:
        return "[" + body + "]"  # "anything": \v either way
    if body == "\\S":
        return f"[^{_SPACE}]"
    if "\\S" in body:
        raise ValueError(f"\\S inside a class is not translated: [{body}]")
    return "[" + body.replace("\\s", _SPACE) + "]"


def translate(pattern: str) -> str:
    """Go RE2 -> ``regex``: ``\\z`` is ``\\Z``; ``\\s``/``\\S`` spelled out as RE2 means them."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            esc = pattern[i : i + 2]
            out.append({"\\s": f"[{_SPACE}]", "\\S": f"[^{_SPACE}]", "\\z": "\\Z"}.get(esc, esc))
            i += 2
        elif c == "[":
            j = i + 1
            head = ""
            if pattern.startswith("^", j):
                head, j = "^", j + 1
            if pattern.startswith("]", j):  # a leading ] is literal in RE2
                head, j = head + "\\]", j + 1
            body_start = j
            while j < n and pattern[j] != "]":
                if pattern.startswith("[:", j):  # POSIX class such as [:alnum:]
                    j = pattern.index(":]", j + 2) + 2
                else:
                    j += 2 if pattern[j] == "\\" else 1
            out.append(_class(head + pattern[body_start:j]))
            i = j + 1
        else:
            out.append(c)
            i += 1
    result = "".join(out)
    regex.compile(result, FLAGS)
    return result


def _top_level_split(body: str) -> list[str]:
    """``a|b(c|d)|[|]`` -> ``["a", "b(c|d)", "[|]"]``."""
    parts: list[str] = []
    depth, cur, i, in_class = 0, "", 0, False
    while i < len(body):
        c = body[i]
        if c == "\\":
            cur += body[i : i + 2]
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(cur)
            cur, i = "", i + 1
            continue
        cur += c
        i += 1
    parts.append(cur)
    return parts


_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\.": ".", "\\-": "-", "\\/": "/", "\\:": ":"}


def required_literal(alternative: str) -> str:
    """The longest literal (lower-cased) every match of ``alternative`` contains, or ''.

    Only characters at nesting depth 0 and not under a quantifier count, so the
    literal is necessary; an allowlist alternative whose literal is absent from the
    text cannot match and is not run (some are quadratic in the match length).
    """
    runs: list[str] = []
    cur, depth, i, n = "", 0, 0, len(alternative)
    while i < n:
        c = alternative[i]
        token, width = None, 1
        if c == "\\":
            width = 2
            token = _ESCAPES.get(alternative[i : i + 2])
        elif c == "[":
            j = i + 1
            while j < n and alternative[j] != "]":
                j += 2 if alternative[j] == "\\" else 1
            width = j + 1 - i
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c not in "^$.|?*+{}" and depth == 0:
            token = c
        quantified = i + width < n and alternative[i + width] in "?*+{"
        if token is not None and depth == 0 and not quantified:
            cur += token
        else:
            runs.append(cur)
            cur = ""
        i += width
    runs.append(cur)
    return max(runs, key=len).lower()


def allowlist_regexes(pattern: str) -> list[dict[str, str]]:
    """A pattern, split into its top-level alternatives, each with its required literal."""
    flags = "(?i)" if pattern.startswith("(?i)") else ""
    body = pattern[len(flags) :]
    if body.startswith("(?:") and body.endswith(")") and len(_top_level_split(body)) == 1:
        inner = body[3:-1]
        if all(p.count("(") == p.count(")") for p in _top_level_split(inner)):
            body = inner
    parts = _top_level_split(body)
    if len(parts) == 1:
        parts = [body]
    out = []
    for part in parts:
        alt = translate(flags + part)
        literal = required_literal(part) if "(?" not in part[:1] or part.startswith("(?:") else ""
        out.append({"regex": alt, "literal": literal if len(literal) >= 3 else ""})
    return out


def allowlist(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "target": raw.get("regexTarget", "secret"),
        "condition": raw.get("condition", "OR").upper(),
        "has_paths": bool(raw.get("paths")),
        "regexes": [a for p in raw.get("regexes", []) for a in allowlist_regexes(p)],
        "stopwords": [w.lower() for w in raw.get("stopwords", [])],
    }


_LEAD = r"[\w.-]{0,50}?"


def split_lead(pattern: str) -> tuple[str, int]:
    """Drop a leading lazy ``[\\w.-]{0,50}?`` (the identifier's prefix), returning its width.

    That prefix makes the engine try 50 starts at every position (most of the cost
    of the generic rule); the detector finds the match without it and then extends
    the start backwards over the same characters, which gives the same match under
    leftmost-first semantics.
    """
    flags = "(?i)" if pattern.startswith("(?i)") else ""
    body = pattern[len(flags) :]
    if body.startswith(_LEAD):
        return flags + body[len(_LEAD) :], 50
    return pattern, 0


def _group_end(pattern: str, start: int) -> int:
    """Index just past the group opening at ``pattern[start]``."""
    depth, i, in_class = 0, start, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced group in {pattern}")


def _prefixes(alt: str) -> set[str] | None:
    """Lower-cased literal prefixes one of which every match of ``alt`` starts with."""
    for opener in ("(?-i:", "(?i:", "(?:"):
        if alt.startswith(opener):
            inner = alt[len(opener) : _group_end(alt, 0) - 1]
            found: set[str] = set()
            for part in _top_level_split(inner):
                sub = _prefixes(part)
                if sub is None:
                    return None
                found |= sub
            return found
    out, i = "", 0
    while i < len(alt):
        c = alt[i]
        if alt.startswith("(?:", i):  # an optional literal such as passw(?:or)?d
            end = _group_end(alt, i)
            inner = alt[i + 3 : end - 1]
            if end < len(alt) and alt[end] == "?" and inner.isalnum():
                rest = alt[end + 1 :]
                with_it, without = _prefixes(inner + rest), _prefixes(rest)
                if with_it is None or without is None:
                    return {out} if out else None
                return {out + p for p in with_it | without}
            break
        if (
            c == "["
            and i + 3 < len(alt)
            and alt[i + 3] == "]"
            and alt[i + 1].lower() == alt[i + 2].lower()
        ):
            token, width = alt[i + 1].lower(), 4  # [Aa]
        elif c.isalnum() or c in "_-":
            token, width = c.lower(), 1
        else:
            break
        if i + width < len(alt) and alt[i + width] in "?*{":
            break
        out += token
        i += width
    return {out} if out else None


def anchored(pattern: str, keywords: list[str]) -> bool:
    """Whether every match of a lead-stripped pattern starts where one of its keywords does.

    Then the detector tries the pattern only at keyword positions instead of
    scanning the whole text with it.
    """
    body = pattern[4:] if pattern.startswith("(?i)") else pattern
    if not body.startswith("(?"):
        return False
    prefixes = _prefixes(body[: _group_end(body, 0)])
    return bool(prefixes) and all(any(p.startswith(k) for k in keywords) for p in prefixes or ())


# The boundaries gitleaks' rule generator (cmd/generate/config/utils/generate.go) puts
# around a secret: as 8.30.1 shipped them, and as its current source writes them. The
# current ones also take the forms its rule files test every rule with (XML elements,
# CSV cells, YAML block scalars, ``+=``, escaped JSON) and a secret followed by a
# comma, ``<`` or ``)``, which 8.30.1's patterns miss. The shipped rules take either
# (the current suffix already holds 8.30.1's), so nothing 8.30.1 finds is lost.
_MIDDLE_8_30 = r"""(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}"""
_MIDDLE_NOW = (
    r"""(?:[\w \t.-]{0,20})(?:\\*['"]{0,3})?[ \t]{0,5}"""
    r"""(?:[<>?+]?=|:{1,3}=|>|=>|:|\(|,|\|)(?:\\*(?:'|")|[\x60\s=|>]){0,5}"""
)
_SUFFIX_8_30 = r"""(?:[\x60'"\s;]|\\[nr]|$)"""
_SUFFIX_NOW = r"""(?:['"\x60\s;\\<,)]|$)"""


def current_boundaries(pattern: str) -> str:
    """A rule pattern of 8.30.1 that also takes the generator's current boundaries."""
    either = f"(?:{_MIDDLE_8_30}|{_MIDDLE_NOW})("
    return pattern.replace(_MIDDLE_8_30 + "(", either).replace(_SUFFIX_8_30, _SUFFIX_NOW)


def convert(config: dict[str, Any], version: str, *, current: bool = True) -> dict[str, Any]:
    """The rules as lockgate ships them; ``current=False``: 8.30.1's patterns as they are
    (without the rules added since)."""
    rules = []
    newer = tomllib.loads(NEWER.read_text())["rules"] if current else []
    for rule in config["rules"] + newer:
        if "regex" not in rule:
            continue  # path-only rule
        source = current_boundaries(rule["regex"]) if current else rule["regex"]
        pattern, lead = split_lead(translate(source))
        rules.append(
            {
                "id": rule["id"],
                "regex": pattern,
                "lead": lead,
                "anchored": bool(lead)
                and anchored(pattern, [k.lower() for k in rule.get("keywords", [])]),
                "entropy": float(rule.get("entropy", 0.0)),
                "keywords": sorted({k.lower() for k in rule.get("keywords", [])}),
                "secret_group": int(rule.get("secretGroup", 0)),
                "allowlists": [allowlist(a) for a in rule.get("allowlists", [])],
            }
        )
    glob = config.get("allowlist", {})
    return {
        "source": f"gitleaks {version} config/gitleaks.toml (MIT); see third_party/gitleaks",
        "global_allowlist": allowlist(
            {"regexes": glob.get("regexes", []), "stopwords": glob.get("stopwords", [])}
        ),
        "rules": rules,
    }


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else SOURCE
    config = tomllib.loads(source.read_text())
    out = convert(config, "8.30.1")
    TARGET.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{len(out['rules'])} rules -> {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
