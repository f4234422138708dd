"""The injection detector: normalise, window, score with patterns plus the linear model."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._features import extract_features, tokenize, windows
from ._heuristics import PatternMatcher
from ._model import LinearModel, load_model
from ._normalize import normalize

__all__ = ["DEFAULT_THRESHOLD", "InjectionDetector", "InjectionVerdict"]

# Chosen from 5-fold out-of-fold scores on the dev file (bench/train_injection.py, two
# shuffles): false-positive rate 0.4-0.7% at recall 0.82-0.85. 0.4 has the same F1
# with twice the false positives; the margin is kept for texts unlike the dev file.
DEFAULT_THRESHOLD = 0.45

# Runs of base64 alphabet long enough to hide an instruction; decoded and scored
# like any other window so "decode this and obey: aWdub3Jl..." is judged by content.
_MIN_BLOB = 24
_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_MAX_DECODED_BLOBS = 4
_MAX_BLOB_CHARS = 4096
_OBFUSCATION_LOGIT = 1.0
# Messages whose text the user or a tool controls; system and assistant turns are the app's own.
_SCANNED_ROLES = frozenset({"user", "tool", "function"})


@dataclass(frozen=True, slots=True)
class InjectionVerdict:
    """How likely a text is a prompt injection or jailbreak, and why."""

    score: float
    flagged: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _WindowScore:
    logit: float
    model_logit: float
    families: tuple[str, ...]


def _window_logit(model: LinearModel, matcher: PatternMatcher, text: str) -> _WindowScore:
    """Score one normalised window: pattern families plus the linear model."""
    tokens = tokenize(text)
    hits = matcher.match(text, tokens)
    model_logit = model.logit(extract_features(tokens))
    return _WindowScore(hits.logit + model_logit, model_logit, hits.names)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _decoded_blobs(raw: str) -> Iterator[str]:
    # Cheap pre-check: a blob needs a long run without whitespace.
    if len(raw) < _MIN_BLOB or max(map(len, raw.split())) < _MIN_BLOB:
        return
    for count, match in enumerate(_BASE64.finditer(raw)):
        if count >= _MAX_DECODED_BLOBS:
            return
        blob = match.group(0)[:_MAX_BLOB_CHARS]
        blob = blob[: len(blob) - len(blob) % 4]
        try:
            decoded = base64.b64decode(blob, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if decoded.isprintable() or all(c.isprintable() or c.isspace() for c in decoded):
            yield decoded


#: Texts longer than this are scored every time (a memo of them would hold too much).
_MEMO_MAX_CHARS = 8192
_MEMO_ENTRIES = 4096


class InjectionDetector:
    """Prompt-injection and jailbreak detector; pure and safe to share between requests.

    The weights file is read once, here; ``score`` does no I/O.
    """

    __slots__ = ("_matcher", "_memo", "_model", "_threshold")

    def __init__(
        self, threshold: float = DEFAULT_THRESHOLD, *, model: LinearModel | None = None
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        self._model = model if model is not None else load_model()
        self._matcher = PatternMatcher()
        self._threshold = threshold
        self._memo: dict[str, InjectionVerdict] = {}

    @property
    def threshold(self) -> float:
        """Score at or above which a text is flagged."""
        return self._threshold

    def score(self, text: str) -> InjectionVerdict:
        """Score one text; long texts are scored in overlapping windows and the worst one wins.

        Verdicts of short texts are remembered: a conversation re-sends its whole history
        (and its system prompt) every turn, and scoring is pure, so each message is
        scored once rather than once per turn.
        """
        if len(text) > _MEMO_MAX_CHARS:
            return self._score(text)
        verdict = self._memo.get(text)
        if verdict is None:
            verdict = self._score(text)
            if len(self._memo) >= _MEMO_ENTRIES:
                self._memo.clear()
            self._memo[text] = verdict
        return verdict

    def _score(self, text: str) -> InjectionVerdict:
        if not text or text.isspace():
            return InjectionVerdict(0.0, False, ())
        norm = normalize(text)
        model = self._model
        best: _WindowScore | None = None
        for window in windows(norm.text, model.window, model.stride):
            scored = _window_logit(model, self._matcher, window)
            if best is None or scored.logit > best.logit:
                best = scored
        extra: list[str] = []
        for decoded in _decoded_blobs(text):
            scored = _window_logit(model, self._matcher, normalize(decoded).text)
            if best is None or scored.logit > best.logit:
                best = scored
                extra = ["encoded_payload"]
        assert best is not None  # windows() always yields at least one window
        logit = best.logit
        obfuscated = norm.invisible_chars or norm.mixed_script or norm.leet_tokens
        # Obfuscation alone is common in benign text (emoji joiners, l33t handles);
        # it only counts when the window already looks like an instruction.
        if obfuscated and best.families:
            logit += _OBFUSCATION_LOGIT
            extra.append("obfuscation")
        return self._verdict(logit, best, extra)

    def _verdict(self, logit: float, best: _WindowScore, extra: list[str]) -> InjectionVerdict:
        score = _sigmoid(logit)
        reasons = (*best.families, *extra, f"model:{_sigmoid(best.model_logit):.2f}")
        return InjectionVerdict(score, score >= self._threshold, reasons)

    def scan_messages(self, messages: list[dict[str, Any]]) -> InjectionVerdict:
        """Score user- and tool-controlled text of OpenAI chat messages; the worst one wins."""
        worst = InjectionVerdict(0.0, False, ())
        for message in messages:
            if message.get("role") not in _SCANNED_ROLES:
                continue
            for text in _message_texts(message.get("content")):
                verdict = self.score(text)
                if verdict.score > worst.score:
                    worst = verdict
        return worst


def _message_texts(content: object) -> Iterator[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text"):
                text = part.get("text")
                if isinstance(text, str):
                    yield text
            elif isinstance(part, str):
                yield part
