"""One anchored pattern rule, the family weights, and the helper that builds rules.

Each rule names the words (or literal strings) it starts with, and its regex is only
tried with ``match`` at those positions. Python's ``re`` has no multi-pattern prefilter,
so searching every pattern over every window would cost ~1 ms/KB; anchoring keeps the
heuristic layer proportional to the number of trigger words.

A word anchor of four or more characters matches every token that starts with its first
four characters ("ignor" -> "ignore", "ignoriere", "ignoring"); shorter anchors match the
exact token only ("du", "no", "dan").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAMILY_WEIGHTS", "Rule", "rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One anchored pattern (source, compiled by the matcher) belonging to a family."""

    family: str
    words: tuple[str, ...]
    literals: tuple[str, ...]
    pattern: str
    line_start: bool = False


FAMILY_WEIGHTS: dict[str, float] = {
    "override_instructions": 3.5,
    "prompt_extraction": 3.0,
    "persona_jailbreak": 3.0,
    "template_injection": 2.5,
    "indirect_injection": 2.5,
    "data_exfiltration": 2.0,
    "coercion": 1.5,
    "task_pivot": 1.5,
    "encoding_request": 1.5,
    "role_reassignment": 1.0,
}


def rule(
    family: str,
    pattern: str,
    words: tuple[str, ...] = (),
    literals: tuple[str, ...] = (),
    *,
    line_start: bool = False,
) -> Rule:
    return Rule(family, words, literals, pattern, line_start)
