"""gitleaks' secret rules, run the way gitleaks runs them.

The rules come from gitleaks' default configuration (MIT), translated to the ``regex``
module's syntax by ``scripts/gitleaks_rules.py`` into ``secret_rules.json``. For each
text, as gitleaks does: a rule runs only if one of its keywords occurs (lower-cased
substring, the cheap prefilter); each match's secret is its first non-empty group;
a secret at or below the rule's entropy floor is dropped (placeholders such as
``xoxb-xxxx...``); then the global and the rule's own allowlists (regexes on the
secret, the match or the line, and stopwords) can clear it. Path and commit
allowlists do not apply to chat text, so an allowlist that needs a path never clears.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import ahocorasick_rs
import regex

from lockgate.guards.pii.finding import Finding
from lockgate.guards.pii.validators import shannon_entropy

__all__ = ["RULES_FILE", "SecretRule", "SecretRuleDetector", "load_rules"]

RULES_FILE = "secret_rules.json"
_LEAD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_FLAGS = regex.VERSION1 | regex.ASCII


class Allowlist:
    """One gitleaks allowlist: regexes (on the secret, the match or the line) and stopwords."""

    __slots__ = ("_stopwords", "all_of", "has_paths", "regexes", "target")

    def __init__(
        self,
        target: str,
        all_of: bool,
        has_paths: bool,
        regexes: tuple[tuple[str, regex.Pattern[str]], ...],
        stopwords: tuple[str, ...],
    ) -> None:
        self.target = target  # "secret", "match" or "line"
        self.all_of = all_of  # condition AND: every configured check must hold
        self.has_paths = has_paths
        #: (a literal every match contains, lower-cased, or "", the pattern)
        self.regexes = regexes
        # gitleaks' generic rule has ~1,500 stopwords: one automaton, one pass
        self._stopwords = ahocorasick_rs.AhoCorasick(list(stopwords)) if stopwords else None

    def _stopword(self, secret: str) -> bool:
        words = self._stopwords
        return words is not None and bool(words.find_matches_as_indexes(secret.lower()))

    def _regex(self, target: str) -> bool:
        lowered = target.lower()
        return any(
            (not literal or literal in lowered) and pattern.search(target) is not None
            for literal, pattern in self.regexes
        )

    def allows(self, secret: str, match: str, line: str) -> bool:
        target = match if self.target == "match" else line if self.target == "line" else secret
        if not self.all_of:
            return self._regex(target) or self._stopword(secret)
        checks: list[bool] = []
        if self.has_paths:
            checks.append(False)  # no file path in a chat
        if self.regexes:
            checks.append(self._regex(target))
        if self._stopwords is not None:
            checks.append(self._stopword(secret))
        return bool(checks) and all(checks)


@dataclass(frozen=True, slots=True)
class SecretRule:
    id: str
    pattern: regex.Pattern[str]
    #: how far the match may extend backwards over [\w.-] (a prefix the generator cut off)
    lead: int
    #: every match starts where one of the keywords does: try only those positions
    anchored: bool
    entropy: float
    keywords: tuple[str, ...]
    secret_group: int
    allowlists: tuple[Allowlist, ...]


def _allowlist(raw: dict[str, Any]) -> Allowlist:
    return Allowlist(
        target=str(raw.get("target", "secret")),
        all_of=raw.get("condition", "OR") == "AND",
        has_paths=bool(raw.get("has_paths")),
        regexes=tuple(
            (str(p["literal"]), regex.compile(p["regex"], _FLAGS)) for p in raw.get("regexes", ())
        ),
        stopwords=tuple(str(w) for w in raw.get("stopwords", ())),
    )


def load_rules(payload: dict[str, Any] | None = None) -> tuple[tuple[SecretRule, ...], Allowlist]:
    """Compile the shipped rules, or ``payload`` in their format (about 0.3 s: do it once,
    at start-up)."""
    if payload is None:
        payload = json.loads(resources.files(__package__).joinpath(RULES_FILE).read_text())
    rules = tuple(
        SecretRule(
            id=str(r["id"]),
            pattern=regex.compile(r["regex"], _FLAGS),
            lead=int(r["lead"]),
            anchored=bool(r["anchored"]),
            entropy=float(r["entropy"]),
            keywords=tuple(r["keywords"]),
            secret_group=int(r["secret_group"]),
            allowlists=tuple(_allowlist(a) for a in r["allowlists"]),
        )
        for r in payload["rules"]
    )
    return rules, _allowlist(payload["global_allowlist"])


def gitleaks_allowlists(rule_id: str) -> tuple[Allowlist, ...]:
    """gitleaks' global allowlist and one rule's own allowlists. For ``generic-api-key``:
    what gitleaks does not count as a generic ``name = value`` secret (``public_key``,
    ``credentialsId``, ``key_length``, ``csrf-token``, its ~1,500 stopwords ...)."""
    raw = resources.files(__package__).joinpath(RULES_FILE).read_text()
    payload: dict[str, Any] = json.loads(raw)
    rules = [r for r in payload["rules"] if r["id"] == rule_id]
    lists = [payload["global_allowlist"]] + [a for r in rules for a in r["allowlists"]]
    return tuple(_allowlist(a) for a in lists)


def line_of(text: str, start: int, end: int) -> str:
    """The whole line(s) of ``text`` around ``start:end``."""
    return _line(text, start, end)


def _line(text: str, start: int, end: int) -> str:
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    return text[lo : hi if hi >= 0 else len(text)]


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: str
    start: int
    end: int
    secret: str
    #: where the whole match starts (gitleaks compares the lines matches start on)
    match_start: int = -1


class SecretRuleDetector:
    """Credentials of ~220 services, by gitleaks' rules; findings span the secret only."""

    type = "API_KEY"
    priority = 100
    needs_digit = False

    def __init__(self, payload: dict[str, Any] | None = None) -> None:
        self._rules, self._global = load_rules(payload)
        self._always = tuple(r for r in self._rules if not r.keywords)
        self._by_keyword: dict[str, list[SecretRule]] = {}
        for rule in self._rules:
            for word in rule.keywords:
                self._by_keyword.setdefault(word, []).append(rule)
        # One pass over the text finds every keyword (gitleaks uses Aho-Corasick too).
        self._words = list(self._by_keyword)
        self._keywords = ahocorasick_rs.AhoCorasick(self._words)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self._rules)

    def scan(self, text: str) -> Iterator[Finding]:
        for hit in self.hits(text):
            yield Finding(hit.start, hit.end, self.type, hit.secret, f"gitleaks:{hit.rule}")

    def hits(self, text: str) -> list[RuleHit]:
        """Every rule's surviving matches, with the rule that found each; as gitleaks
        does, a generic rule's hit is dropped where a specific rule's match starts on the
        same line and its secret holds the generic one."""
        hits = list(self._all_hits(text))
        specific = [h for h in hits if not h.rule.startswith("generic")]
        if len(specific) == len(hits) or not specific:
            return hits

        def line(h: RuleHit) -> int:
            return text.count("\n", 0, h.match_start)

        return [
            h
            for h in hits
            if not h.rule.startswith("generic")
            or not any(
                s.start < h.end and h.start < s.end and h.secret in s.secret and line(s) == line(h)
                for s in specific
            )
        ]

    def _all_hits(self, text: str) -> Iterator[RuleHit]:
        lowered = text.lower()
        found = self._keywords.find_matches_as_indexes(lowered, overlapping=True)
        # Lower-casing keeps offsets for all but a few non-ASCII letters (İ -> i̇).
        exact = len(lowered) == len(text)
        starts: dict[str, list[int]] = {}
        for index, start, _ in found:
            starts.setdefault(self._words[index], []).append(start)
        chosen: dict[str, SecretRule] = {r.id: r for r in self._always}
        for word in starts:
            for rule in self._by_keyword[word]:
                chosen[rule.id] = rule
        for rule in chosen.values():
            if rule.anchored and exact:
                positions = sorted({p for w in rule.keywords for p in starts.get(w, ())})
                yield from self._rule_hits(rule, text, self._anchored(rule, text, positions))
            else:
                yield from self._rule_hits(rule, text, rule.pattern.finditer(text))

    @staticmethod
    def _anchored(rule: SecretRule, text: str, positions: list[int]) -> Iterator[regex.Match[str]]:
        """What ``finditer`` would give, trying the pattern only at keyword positions."""
        end = 0
        for pos in positions:
            if pos < end:
                continue
            m = rule.pattern.match(text, pos)
            if m is not None:
                end = m.end()
                yield m

    def _rule_hits(
        self, rule: SecretRule, text: str, matches: Iterator[regex.Match[str]]
    ) -> Iterator[RuleHit]:
        last_end = 0
        for m in matches:
            begin = m.start()
            if rule.lead:
                floor = max(begin - rule.lead, last_end)
                while begin > floor and text[begin - 1] in _LEAD_CHARS:
                    begin -= 1
            last_end = m.end()
            whole = text[begin : m.end()]
            stripped = whole.strip("\n")
            if not stripped:
                continue
            start = begin + (len(whole) - len(whole.lstrip("\n")))
            span = (start, start + len(stripped))
            if m.re.groups:
                if rule.secret_group:
                    g = rule.secret_group
                    if m.group(g) is None:
                        continue
                    span = m.span(g)
                else:
                    for g in range(1, m.re.groups + 1):
                        if m.group(g):
                            span = m.span(g)
                            break
            secret = text[span[0] : span[1]]
            if rule.entropy and shannon_entropy(secret) <= rule.entropy:
                continue
            line = _line(text, begin, m.end())
            if self._global.allows(secret, stripped, line):
                continue
            if any(a.allows(secret, stripped, line) for a in rule.allowlists):
                continue
            yield RuleHit(rule.id, span[0], span[1], secret, start)
