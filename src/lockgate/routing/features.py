"""Cheap text features of a prompt, beside its embedding, for the strong/weak router."""

from __future__ import annotations

import math
import re

__all__ = ["N_TEXT_FEATURES", "text_features"]

_DIGIT = re.compile(r"\d")
_MATH = re.compile(r"[=+\-*/^<>∑∫√%]|\\frac|\\sqrt|\bsqrt\b|\blog\b|\bsin\b|\bcos\b")
_QUESTION = re.compile(r"\?")
_CHOICES = re.compile(r"(?m)^[A-D]\.\s")
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SENTENCE = re.compile(r"[.!?](?:\s|$)")

N_TEXT_FEATURES = 8


def text_features(text: str) -> list[float]:
    """Length, word length, digit and maths-symbol density, questions, multiple choice,
    how many numbers and sentences (steps in a word problem)."""
    n = max(len(text), 1)
    words = _WORD.findall(text)
    avg_word = sum(len(w) for w in words) / len(words) if words else 0.0
    return [
        math.log1p(len(text)) / 8.0,
        avg_word / 10.0,
        min(len(_DIGIT.findall(text)) / n * 10.0, 1.0),
        min(len(_MATH.findall(text)) / n * 20.0, 1.0),
        min(len(_QUESTION.findall(text)) / 4.0, 1.0),
        1.0 if _CHOICES.search(text) else 0.0,
        math.log1p(len(_NUMBER.findall(text))) / 4.0,
        math.log1p(len(_SENTENCE.findall(text))) / 3.0,
    ]
