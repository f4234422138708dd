"""Scored pattern families over normalised text.

A family hit adds a fixed, hand-set amount to the detector's logit; benign-context
cues subtract, so "ignore the eslint rules" or a question about prompt injection needs
more evidence than one trigger word. The weights are priors about phrasing, the part
of the detector that does not depend on any training set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._rules import FAMILY_WEIGHTS, RULES, Rule

__all__ = ["FAMILY_NAMES", "HeuristicHits", "PatternMatcher"]

FAMILY_NAMES: tuple[str, ...] = tuple(FAMILY_WEIGHTS)

# Benign context: technical uses of trigger words and questions about the topic.
_BENIGN_CONTEXT = re.compile(
    r"\b(?:eslint|pylint|flake8|ruff|mypy|linter|lint|gitignore|git|css|firewall"
    r"|iptables|regex|compiler|warning|warnings|jest|pytest|webpack|robots\.txt|spam filter"
    r"|unit tests?|test cases?|typescript|tsconfig|npm|pip|docker)\b"
)
_META_DISCUSSION = re.compile(
    r"\b(?:what\s+is|what\s+are|explain|define|describe|detect|detecting|prevent|preventing|defend"
    r"|defending|mitigat\w*|protect\w*\s+against|research|paper|examples?\s+of|history\s+of)\b"
    r".{0,60}\b(?:prompt\s+injections?|jailbreak\w*|prompt\s+attacks?|adversarial\s+prompts?)\b"
)
_BENIGN_WEIGHT = -1.5
# Bounds the anchored attempts per trigger word per window (a window is ~1 KB).
_MAX_POSITIONS = 64
_LINE_PREFIX_CHARS = " \t#*->=[("
# Chinese and Japanese have no word boundaries, so their rules are anchored on literal
# strings; this one check skips those literal scans for text without any CJK.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True, slots=True)
class _Compiled:
    family: str
    pattern: re.Pattern[str]
    line_start: bool


@dataclass(frozen=True, slots=True)
class HeuristicHits:
    """The families that matched one window and their summed logit."""

    logit: float
    names: tuple[str, ...]


def _key(word: str) -> str:
    # Short anchors are keyed by the whole word, which equals its own 4-prefix, so one
    # slice serves both kinds: token "no"[:4] == "no", but "nobody"[:4] == "nobo".
    return word[:4]


def _at_line_start(text: str, pos: int) -> bool:
    line_begin = text.rfind("\n", 0, pos) + 1
    return not text[line_begin:pos].strip(_LINE_PREFIX_CHARS)


class PatternMatcher:
    """Index of the anchored rules; build once, then ``match`` windows without allocation churn."""

    __slots__ = ("_ascii_literals", "_by_key", "_finders", "_keys", "_literals")

    def __init__(self, rules: tuple[Rule, ...] = RULES) -> None:
        # Compiled here, once per detector, so importing the package stays cheap.
        by_key: dict[str, list[_Compiled]] = {}
        literals: dict[str, list[_Compiled]] = {}
        for rule in rules:
            compiled = _Compiled(rule.family, re.compile(rule.pattern), rule.line_start)
            for word in rule.words:
                by_key.setdefault(_key(word), []).append(compiled)
            for literal in rule.literals:
                literals.setdefault(literal, []).append(compiled)
        self._by_key = {k: tuple(v) for k, v in by_key.items()}
        self._keys = frozenset(by_key)
        # The literal comes first so re can use its fast prefix scan; a leading
        # look-behind would make every finder cost ~15 us per KB. The left word
        # boundary is checked by hand on the (few) hits instead.
        self._finders = {
            k: re.compile(re.escape(k) + (r"(?![^\W_])" if len(k) < 4 else "")) for k in by_key
        }
        self._literals = tuple((lit, tuple(rs)) for lit, rs in literals.items())
        self._ascii_literals = tuple((lit, rs) for lit, rs in self._literals if lit.isascii())

    def match(self, text: str, tokens: list[str]) -> HeuristicHits:
        """Score one normalised window, given its word tokens."""
        hit: set[str] = set()
        present = self._keys.intersection([t[:4] for t in tokens])
        for key in present:
            rules = self._by_key[key]
            n = 0
            for found in self._finders[key].finditer(text):
                pos = found.start()
                if pos and text[pos - 1].isalnum():
                    continue
                self._try(rules, text, pos, hit)
                n += 1
                if n >= _MAX_POSITIONS:
                    break
        literals = self._literals if _CJK.search(text) is not None else self._ascii_literals
        for literal, rules in literals:
            pos = text.find(literal)
            n = 0
            while pos >= 0 and n < _MAX_POSITIONS:
                self._try(rules, text, pos, hit)
                pos = text.find(literal, pos + 1)
                n += 1
        if not hit:
            return HeuristicHits(0.0, ())
        names = [name for name in FAMILY_NAMES if name in hit]
        logit = sum(FAMILY_WEIGHTS[name] for name in names)
        if _BENIGN_CONTEXT.search(text) is not None:
            logit += _BENIGN_WEIGHT
            names.append("benign_technical_context")
        if _META_DISCUSSION.search(text) is not None:
            logit += _BENIGN_WEIGHT
            names.append("benign_meta_discussion")
        return HeuristicHits(logit, tuple(names))

    @staticmethod
    def _try(rules: tuple[_Compiled, ...], text: str, pos: int, hit: set[str]) -> None:
        for rule in rules:
            if rule.family in hit:
                continue
            if rule.pattern.match(text, pos) is None:
                continue
            if rule.line_start and not _at_line_start(text, pos):
                continue
            hit.add(rule.family)
