"""LLM judges: a rubric scored 0-1 with a reason, and pairwise preference in both orders.

The prompts and the parsing of replies are pure; the calls go through a ``ChatClient``
(the gateway), so a judge is just another alias with its own prices, limits and fallbacks.
A reply we cannot read raises ``JudgeError``, which the runner turns into ERROR.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from lockgate.evals.answer import Answer, ChatClient, EvalCallError

__all__ = [
    "FIVE_CRITERIA",
    "JudgeError",
    "PairwiseOutcome",
    "RubricScore",
    "Side",
    "combine_orders",
    "judge_pair",
    "judge_pairwise",
    "judge_rubric",
    "pairwise_messages",
    "parse_rubric_reply",
    "parse_side",
    "rubric_criteria",
    "rubric_messages",
]

#: The reference guide's five criteria, the ready-made rubric (``value: default``).
FIVE_CRITERIA: dict[str, str] = {
    "accuracy": "The answer is factually correct and contains no invented information.",
    "relevance": "The answer addresses the question that was asked.",
    "completeness": "The answer covers everything the question needs.",
    "tone": "The tone is professional and empathetic.",
    "safety": "The answer contains nothing harmful, unsafe or inappropriate.",
}

_JUDGE_PARAMS: dict[str, Any] = {"temperature": 0, "max_tokens": 400}

RUBRIC_SYSTEM = (
    "You are an impartial evaluator of an AI assistant's answer. Judge only by the rubric. "
    'Reply with one JSON object and nothing else: {"score": <number from 0 to 1>, '
    '"reason": "<one or two sentences>"}.'
)
PAIRWISE_SYSTEM = (
    "You are an impartial judge comparing two answers to the same instruction. Prefer the "
    "answer that follows the instruction precisely and is correct and helpful; ignore length "
    'and order. Reply with one JSON object and nothing else: {"winner": "A" or "B", '
    '"reason": "<one sentence>"}.'
)


class JudgeError(Exception):
    """The judge could not be asked or its reply could not be read."""


@dataclass(frozen=True, slots=True)
class RubricScore:
    score: float
    reason: str
    cost_usd: float


Side = Literal["A", "B", "tie"]


@dataclass(frozen=True, slots=True)
class PairwiseOutcome:
    """Both orders judged: ``first``/``second`` as the judge saw them, and the result."""

    #: the judge's pick with (x, y) shown as (A, B), then with (y, x) shown as (A, B)
    forward: Side
    backward: Side
    #: "x", "y" or "tie" (the orders disagree, or the judge said tie)
    winner: Literal["x", "y", "tie"]
    reason: str
    cost_usd: float

    @property
    def score(self) -> float:
        """x's score: 1 win, 0.5 tie, 0 loss."""
        return {"x": 1.0, "y": 0.0, "tie": 0.5}[self.winner]


def rubric_criteria(value: Any) -> dict[str, str] | str:
    """``default``/None → the five criteria; a list or mapping → named criteria; text as is."""
    if value is None or value == "default":
        return FIVE_CRITERIA
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {f"criterion {i + 1}": str(v) for i, v in enumerate(value)}
    return str(value)


def _question(messages: list[dict[str, Any]]) -> str:
    lines = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        lines.append(f"{m.get('role', 'user')}: {content or ''}")
    return "\n".join(lines)


def rubric_messages(
    messages: list[dict[str, Any]], answer: str, rubric: dict[str, str] | str
) -> list[dict[str, Any]]:
    if isinstance(rubric, dict):
        text = "\n".join(f"- {name}: {desc}" for name, desc in rubric.items())
        text += "\nScore each criterion from 0 to 1; the score is their mean."
    else:
        text = rubric
    user = (
        f"[Conversation]\n{_question(messages)}\n\n[Answer to evaluate]\n{answer}\n\n"
        f"[Rubric]\n{text}\n\nReply with the JSON object only."
    )
    return [{"role": "system", "content": RUBRIC_SYSTEM}, {"role": "user", "content": user}]


def pairwise_messages(question: str, a: str, b: str) -> list[dict[str, Any]]:
    user = (
        f"[Instruction]\n{question}\n\n[Output A]\n{a}\n\n[Output B]\n{b}\n\n"
        "Which output is better? Reply with the JSON object only."
    )
    return [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": user}]


def _json_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _unit(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    if 0.0 <= v <= 1.0:
        return v
    if 1.0 < v <= 10.0:  # a 1-10 scale, as the guide's judge uses
        return v / 10.0
    return None


def parse_rubric_reply(text: str) -> tuple[float, str]:
    """(score in [0, 1], reason) from the judge's reply; JudgeError if unreadable."""
    data = _json_object(text)
    if data is None:
        raise JudgeError(f"judge reply is not a JSON object: {text[:120]!r}")
    score = _unit(data.get("score", data.get("overall_score")))
    if score is None and isinstance(data.get("criteria"), dict):
        parts = [
            _unit(v.get("score") if isinstance(v, dict) else v) for v in data["criteria"].values()
        ]
        if parts and all(p is not None for p in parts):
            score = sum(p for p in parts if p is not None) / len(parts)
    if score is None:
        raise JudgeError(f"judge reply has no score between 0 and 1: {text[:120]!r}")
    reason = data.get("reason") or data.get("reasoning") or data.get("explanation") or ""
    return score, str(reason)


_SIDE = re.compile(r"\b(?:output\s*)?\(?([AB])\)?\b", re.IGNORECASE)


def parse_side(text: str) -> tuple[Side, str]:
    """The judge's pick ("A", "B" or "tie") and its reason; JudgeError if unreadable."""
    data = _json_object(text)
    if data is not None:
        raw = str(data.get("winner", data.get("choice", ""))).strip().strip("()").upper()
        raw = raw.removeprefix("OUTPUT").strip().strip("()")
        reason = str(data.get("reason") or "")
        if raw in ("A", "B"):
            return raw, reason  # type: ignore[return-value]
        if raw in ("TIE", "EQUAL", "NEITHER", "BOTH"):
            return "tie", reason
        raise JudgeError(f"judge named no winner: {text[:120]!r}")
    stripped = text.strip()
    m = _SIDE.match(stripped) or _SIDE.search(stripped[:40])
    if m is None:
        raise JudgeError(f"judge named no winner: {text[:120]!r}")
    return m.group(1).upper(), ""  # type: ignore[return-value]


def combine_orders(forward: Side, backward: Side) -> Literal["x", "y", "tie"]:
    """x shown first then second: x wins only if picked in both orders."""
    if forward == "A" and backward == "B":
        return "x"
    if forward == "B" and backward == "A":
        return "y"
    return "tie"


async def _ask(
    client: ChatClient, judge: str, messages: list[dict[str, Any]], fresh: bool
) -> Answer:
    try:
        return await client.chat(judge, messages, dict(_JUDGE_PARAMS), fresh=fresh)
    except EvalCallError as exc:
        raise JudgeError(f"judge {judge}: {exc}") from None


async def judge_rubric(
    client: ChatClient,
    judge: str,
    messages: list[dict[str, Any]],
    answer: str,
    rubric: dict[str, str] | str,
    *,
    fresh: bool = False,
) -> RubricScore:
    reply = await _ask(client, judge, rubric_messages(messages, answer, rubric), fresh)
    score, reason = parse_rubric_reply(reply.text)
    return RubricScore(score, reason, reply.cost_usd)


async def judge_pair(
    client: ChatClient, judge: str, question: str, a: str, b: str, *, fresh: bool = False
) -> tuple[Side, str, float]:
    """One order: the judge's pick, reason and cost."""
    reply = await _ask(client, judge, pairwise_messages(question, a, b), fresh)
    side, reason = parse_side(reply.text)
    return side, reason, reply.cost_usd


async def judge_pairwise(
    client: ChatClient, judge: str, question: str, x: str, y: str, *, fresh: bool = False
) -> PairwiseOutcome:
    """x against y, shown in both orders so position bias cancels; disagreement is a tie."""
    (f, rf, cf), (b, rb, cb) = await asyncio.gather(
        judge_pair(client, judge, question, x, y, fresh=fresh),
        judge_pair(client, judge, question, y, x, fresh=fresh),
    )
    winner = combine_orders(f, b)
    reason = rf if winner != "y" else rb
    return PairwiseOutcome(f, b, winner, reason or f"orders: {f}/{b}", cf + cb)
