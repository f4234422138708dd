"""Cheap text features of a prompt, beside its embedding, for the strong/weak router, and
the prompt's kind (multiple choice or not), which picks the model branch that scores it."""

from __future__ import annotations

import math
import re

__all__ = ["N_TEXT_FEATURES", "is_multiple_choice", "text_features"]

_DIGIT = re.compile(r"\d")
_MATH = re.compile(r"[=+\-*/^<>∑∫√%]|\\frac|\\sqrt|\bsqrt\b|\blog\b|\bsin\b|\bcos\b")
_QUESTION = re.compile(r"\?")
_CHOICE = re.compile(r"^[A-D]\.\s")
_CHOICES = re.compile(r"(?m)^[A-D]\.\s")
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SENTENCE = re.compile(r"[.!?](?:\s|$)")
_NUMERIC_CHOICE = re.compile(r"[\s\d.,\-+/%$()^a-z=]*\d[\s\d.,\-+/%$()^a-z=]*")
_NEGATION = re.compile(r"\b(?:NOT|EXCEPT|LEAST|FALSE)\b")
_WHICH = re.compile(r"which of the following", re.IGNORECASE)
_CODE = re.compile(r"[{};]|def |\bint\b|return|print\(")
_FRACTION = re.compile(r"\d/\d|half|third|quarter|twice|fraction")
_DECIMAL = re.compile(r"\d\.\d")
_EACH = re.compile(r"\b(?:each|every|per)\b")
_META_CHOICE = re.compile(r"all of the above|none of the above|both", re.IGNORECASE)
_ROMAN_CHOICE = re.compile(r"\bI\b.*\bII\b")

N_TEXT_FEATURES = 26


def is_multiple_choice(text: str) -> bool:
    """A question with lettered options (``A. ...`` lines): scored by its own branch."""
    return _CHOICES.search(text) is not None


def text_features(text: str) -> list[float]:
    """Length, word length, digit and maths-symbol density, questions, multiple choice,
    how many numbers and sentences (steps in a word problem); then the question stem and
    its options apart: stem length, option lengths, numeric options, negated questions
    (NOT/EXCEPT), statement pairs, code, fractions, percentages, decimals, rates, the
    largest number, "all of the above" and roman-numeral options."""
    n = max(len(text), 1)
    words = _WORD.findall(text)
    avg_word = sum(len(w) for w in words) / len(words) if words else 0.0
    lines = text.split("\n")
    choices = [line[3:] for line in lines if _CHOICE.match(line)]
    stem = "\n".join(
        line for line in lines if not _CHOICE.match(line) and line.strip() != "Answer:"
    )
    lengths = [len(c) for c in choices] or [0]
    numbers = _NUMBER.findall(stem)
    largest = max((float(x.replace(",", "")) for x in numbers), default=0.0)
    joined = " ".join(choices)
    numeric_choices = (
        sum(_NUMERIC_CHOICE.fullmatch(c) is not None for c in choices) / len(choices)
        if choices
        else 0.0
    )
    return [
        math.log1p(len(text)) / 8.0,
        avg_word / 10.0,
        min(len(_DIGIT.findall(text)) / n * 10.0, 1.0),
        min(len(_MATH.findall(text)) / n * 20.0, 1.0),
        min(len(_QUESTION.findall(text)) / 4.0, 1.0),
        1.0 if choices else 0.0,
        math.log1p(len(_NUMBER.findall(text))) / 4.0,
        math.log1p(len(_SENTENCE.findall(text))) / 3.0,
        math.log1p(len(stem.split())) / 6.0,
        math.log1p(sum(lengths) / len(lengths)) / 5.0,
        math.log1p(max(lengths)) / 5.0,
        numeric_choices,
        1.0 if _NEGATION.search(stem) else 0.0,
        1.0 if "Statement 1" in stem else 0.0,
        1.0 if _WHICH.search(stem) else 0.0,
        1.0 if _CODE.search(stem) else 0.0,
        math.log1p(len(numbers)) / 4.0,
        math.log1p(len(set(numbers))) / 4.0,
        1.0 if "%" in stem else 0.0,
        1.0 if _FRACTION.search(stem) else 0.0,
        min(math.log1p(largest) / 15.0, 2.0),
        1.0 if _DECIMAL.search(stem) else 0.0,
        1.0 if _EACH.search(stem) else 0.0,
        min(stem.count("?"), 3) / 3.0,
        1.0 if _META_CHOICE.search(joined) else 0.0,
        1.0 if _ROMAN_CHOICE.search(joined) else 0.0,
    ]
