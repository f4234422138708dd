"""The injection detector: normalise, window, score with patterns plus the linear model."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lockgate.memo import TextMemo

from ._data_cues import data_cues
from ._decoders import BASE64, decoded_blobs, may_hide_encoding, may_hide_text
from ._features import extract_features, prior_tokens, tokenize, windows
from ._heuristics import PatternMatcher
from ._model import LinearModel, load_model
from ._normalize import normalize

__all__ = [
    "DEFAULT_THRESHOLD",
    "STRIPPED_MARKER",
    "InjectionDetector",
    "InjectionVerdict",
    "data_texts",
    "piece_spans",
    "primary_reason",
    "user_texts",
]

# Chosen from leave-one-source-out scores over 18 sources (bench/injection_loso.py):
# the best pooled F1 with a false-positive rate at most 0.05 sits at 0.60-0.63.
DEFAULT_THRESHOLD = 0.6

_OBFUSCATION_LOGIT = 1.0
# Messages whose text the user controls; system and assistant turns are the app's own,
# tool and function results are data (see ``scan_data``).
_USER_ROLES = frozenset({"user"})
_DATA_ROLES = frozenset({"tool", "function"})
# Data is scored piece by piece (sentences and lines, merged up to this size) so one
# instruction inside a long benign document is not diluted by the rest of it.
_PIECE_MIN = 40
_PIECE_MAX = 512
_PIECE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_MAX_PIECES = 4000
# A document longer than this (in characters of its pieces) is first read cheaply -
# each piece's words looked up in the data table, nothing else - and only its most
# instruction-like pieces, up to this many characters (at least ``_MIN_FULL_PIECES``
# pieces), get the full pass: it costs ~0.4 us per character, the first look ~0.05.
_FULL_CHARS = 1024
_MIN_FULL_PIECES = 4
#: What replaces an instruction stripped out of data.
STRIPPED_MARKER = "[removed by the gateway: a suspected injected instruction]"


@dataclass(frozen=True, slots=True)
class InjectionVerdict:
    """How likely a text is a prompt injection or jailbreak, and why."""

    score: float
    flagged: bool
    reasons: tuple[str, ...]


#: the verdict on no text at all (frozen: one object serves every scan)
_CLEAN = InjectionVerdict(0.0, False, ())


@dataclass(frozen=True, slots=True)
class _WindowScore:
    logit: float
    model_logit: float
    families: tuple[str, ...]


def _window_logit(
    model: LinearModel, matcher: PatternMatcher, text: str, cue_text: str | None = None
) -> _WindowScore:
    """Score one normalised window: pattern families plus the linear model.

    ``cue_text`` (the raw text of a data piece) switches on the data-channel features.
    """
    tokens = tokenize(text)
    hits = matcher.match(text, tokens)
    base = extract_features(tokens)
    if cue_text is None:
        model_logit = model.logit(base)
    else:
        model_logit = model.data_logit(base, data_cues(cue_text))
    return _WindowScore(hits.logit + model_logit, model_logit, hits.names)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def piece_spans(text: str) -> list[tuple[int, int]]:
    """Sentences and lines of a document as ``(start, end)``: short ones merged up to
    ``_PIECE_MIN`` characters, long ones cut at whitespace into ``_PIECE_MAX`` chunks."""
    segments: list[tuple[int, int]] = []
    start = 0
    for m in _PIECE_SPLIT.finditer(text):
        segments.append((start, m.start()))
        start = m.end()
    segments.append((start, len(text)))
    spans: list[tuple[int, int]] = []
    cur: int | None = None
    for a, b in segments:
        if a == b or text[a:b].isspace():
            continue
        if cur is None:
            cur = a
        if b - cur >= _PIECE_MIN:
            spans.extend(_chunks(text, cur, b))
            cur = None
        if len(spans) >= _MAX_PIECES:
            return spans
    if cur is not None:
        spans.append((cur, segments[-1][1] if segments else len(text)))
    return spans


def _chunks(text: str, a: int, b: int) -> list[tuple[int, int]]:
    out = []
    while b - a > _PIECE_MAX:
        cut = text.rfind(" ", a + _PIECE_MAX // 2, a + _PIECE_MAX)
        cut = cut if cut > a else a + _PIECE_MAX
        out.append((a, cut))
        a = cut
    out.append((a, b))
    return out


#: Texts longer than this are scored every time (a memo of them would hold too much).
_MEMO_MAX_CHARS = 8192
_MEMO_ENTRIES = 4096
#: characters of remembered texts per memo (about 2 MB of text at most, not 4096 x 8 KB)
_MEMO_TOTAL_CHARS = 2_000_000


class InjectionDetector:
    """Prompt-injection and jailbreak detector; pure and safe to share between requests.

    The weights file is read once, here; ``score`` does no I/O.
    """

    __slots__ = (
        "_data_memo",
        "_full_chars",
        "_matcher",
        "_memo",
        "_memo_on",
        "_model",
        "_threshold",
    )

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        model: LinearModel | None = None,
        memo: bool = True,
        full_chars: int = _FULL_CHARS,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        self._model = model if model is not None else load_model()
        self._matcher = PatternMatcher()
        self._threshold = threshold
        self._memo: TextMemo[InjectionVerdict] = TextMemo(
            max_entries=_MEMO_ENTRIES, max_chars=_MEMO_TOTAL_CHARS
        )
        self._data_memo: TextMemo[InjectionVerdict] = TextMemo(
            max_entries=_MEMO_ENTRIES, max_chars=_MEMO_TOTAL_CHARS
        )
        #: remember verdicts of short texts (off: every call scores; for benchmarks)
        self._memo_on = memo
        #: characters of a document's pieces scored in full (the rest looked at cheaply)
        self._full_chars = full_chars

    def memory_sizes(self) -> list[tuple[str, int, int]]:
        """(memo, entries, characters held) of the verdict memos, for metrics."""
        return [
            ("injection_memo", len(self._memo), self._memo.chars),
            ("injection_data_memo", len(self._data_memo), self._data_memo.chars),
        ]

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
        if len(text) > _MEMO_MAX_CHARS or not self._memo_on:
            return self._score(text)
        verdict = self._memo.get(text)
        if verdict is None:
            verdict = self._score(text)
            self._memo.put(text, verdict)
        return verdict

    def score_data(self, text: str) -> InjectionVerdict:
        """Score content that arrives as data: a tool result or a retrieved document.

        An instruction inside data is the signal, so each sentence or line is scored
        on its own (long documents cost about linearly: ~40 us per piece) and the
        worst one wins. Compare the score with the data threshold, not the user one.
        """
        if len(text) > _MEMO_MAX_CHARS or not self._memo_on:
            return self._score_data(text)
        verdict = self._data_memo.get(text)
        if verdict is None:
            verdict = self._score_data(text)
            self._data_memo.put(text, verdict)
        return verdict

    def _score_data(self, text: str) -> InjectionVerdict:
        spans = piece_spans(text)
        if len(spans) <= 1:
            return self._score(text, data=True)
        # One look at the whole document decides whether any piece can hide an encoded
        # payload (a piece's runs are never longer than the document's); and only the
        # worst piece's verdict is built.
        decode = may_hide_encoding(text)
        worst_score = 0.0
        worst: tuple[float, _WindowScore, list[str]] | None = None
        for a, b in self._worth_scoring(text, spans):
            found = self._best(text[a:b], data=True, decode=decode)
            if found is None:
                continue
            score = _sigmoid(found[0])
            if score > worst_score:
                worst_score, worst = score, found
        # An encoded (or invisibly spelled) payload spanning pieces is still decoded once,
        # whole; only what it decodes to is scored (the pieces were scored above).
        hidden = may_hide_text(text)
        if hidden or BASE64.search(text) is not None:
            for decoded in decoded_blobs(text):
                scored = _window_logit(self._model, self._matcher, normalize(decoded).text, decoded)
                extra = ["encoded_payload"]
                logit = scored.logit
                if hidden and scored.families:  # as _best: obfuscation counts with a rule hit
                    logit += _OBFUSCATION_LOGIT
                    extra.append("obfuscation")
                if _sigmoid(logit) > worst_score:
                    worst_score, worst = _sigmoid(logit), (logit, scored, extra)
        return InjectionVerdict(0.0, False, ()) if worst is None else self._verdict(*worst)

    def _worth_scoring(self, text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The pieces of a long document worth the full pass: those whose words weigh
        most in the data table, up to ``full_chars`` characters (document order kept).
        Shorter documents are scored whole; what this costs in recall is measured by
        bench/eval_injection_prefilter.py."""
        budget = self._full_chars
        if len(spans) <= _MIN_FULL_PIECES or sum(b - a for a, b in spans) <= budget:
            return spans
        table = self._model.data_weights or self._model.weights
        ranked = []
        for a, b in spans:
            piece = text[a:b]
            # an ASCII piece needs no other normalising than lower-casing
            words = prior_tokens(piece.lower() if piece.isascii() else normalize(piece).text)
            ranked.append((sum([table[w] for w in words & table.keys()]), a, b))
        ranked.sort(reverse=True)
        kept: list[tuple[int, int]] = []
        for _, a, b in ranked:
            if len(kept) >= _MIN_FULL_PIECES and b - a > budget:
                break
            kept.append((a, b))
            budget -= b - a
        return sorted(kept)

    def _score(self, text: str, *, data: bool = False) -> InjectionVerdict:
        """Score a text; ``data`` adds the data-channel features (see ``_data_cues``)."""
        found = self._best(text, data=data, decode=True)
        if found is None:
            return InjectionVerdict(0.0, False, ())
        return self._verdict(*found)

    def _best(
        self, text: str, *, data: bool, decode: bool
    ) -> tuple[float, _WindowScore, list[str]] | None:
        """The logit of a text's worst window (or decoded payload), that window, and the
        extra reasons; None for an empty text. ``decode=False`` skips looking for
        encoded payloads (the caller knows there can be none)."""
        if not text or text.isspace():
            return None
        norm = normalize(text)
        model = self._model
        best: _WindowScore | None = None
        wins = windows(norm.text, model.window, model.stride)
        for window in wins:
            # one window: the cues read the raw text (normalising folds "@" into "a")
            cue = (text if len(wins) == 1 else window) if data else None
            scored = _window_logit(model, self._matcher, window, cue)
            if best is None or scored.logit > best.logit:
                best = scored
        extra: list[str] = []
        for decoded in decoded_blobs(text) if decode else ():
            cue = decoded if data else None
            scored = _window_logit(model, self._matcher, normalize(decoded).text, cue)
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
        return logit, best, extra

    def _verdict(self, logit: float, best: _WindowScore, extra: list[str]) -> InjectionVerdict:
        score = _sigmoid(logit)
        rules = tuple(f"rule:{name}" for name in (*best.families, *extra))
        reasons = (*rules, f"model:{_sigmoid(best.model_logit):.2f}")
        return InjectionVerdict(score, score >= self._threshold, reasons)

    def strip_data(self, text: str, threshold: float) -> tuple[str, int]:
        """``text`` with each sentence or line scoring ``threshold`` or more replaced by a
        marker, and how many were replaced."""
        spans = [
            (a, b)
            for a, b in piece_spans(text)
            if self._score(text[a:b], data=True).score >= threshold
        ]
        for a, b in reversed(spans):
            text = text[:a] + STRIPPED_MARKER + text[b:]
        return text, len(spans)

    def scan_messages(self, messages: list[dict[str, Any]], memo: bool = True) -> InjectionVerdict:
        """Score the user's own text of OpenAI chat messages; the worst one wins.

        Tool results (``role: tool``) and documents are data: see ``scan_data``.
        ``memo=False`` neither reads nor writes the verdict memos (safe off the event
        loop's thread: the memos are not locked).
        """
        score = self.score if memo else self._score
        worst = _CLEAN
        for text in user_texts(messages):
            verdict = score(text)
            if verdict.score > worst.score:
                worst = verdict
        return worst

    def scan_data(self, messages: list[dict[str, Any]], memo: bool = True) -> InjectionVerdict:
        """Score the data in chat messages (tool results, documents) with ``score_data``."""
        score = self.score_data if memo else self._score_data
        worst = _CLEAN
        for text in data_texts(messages):
            verdict = score(text)
            if verdict.score > worst.score:
                worst = verdict
        return worst


def primary_reason(reasons: tuple[str, ...]) -> str:
    """The reason a verdict is named by in metrics: its first rule, else ``model``.

    A bounded set (rule families and "model"), so it is safe as a metric label.
    """
    for reason in reasons:
        if reason.startswith("rule:"):
            return reason
    return "model"


def user_texts(messages: list[dict[str, Any]]) -> Iterator[str]:
    """Text the user typed: ``role: user`` text parts, not the tool results inside them."""
    for message in messages:
        if message.get("role") in _USER_ROLES:
            yield from _message_texts(message.get("content"), data=False)


def data_texts(messages: list[dict[str, Any]]) -> Iterator[str]:
    """Text that arrived as data: tool/function messages, Anthropic ``tool_result`` and
    ``document`` blocks, and OpenAI ``file``/``document`` text parts in any message."""
    for message in messages:
        content = message.get("content")
        if message.get("role") in _DATA_ROLES:
            yield from _message_texts(content, data=False)
        yield from _message_texts(content, data=True)


def _message_texts(content: object, *, data: bool) -> Iterator[str]:
    """Plain text parts (``data=False``) or the data blocks (``data=True``) of a content."""
    if isinstance(content, str):
        if not data:
            yield content
        return
    if not isinstance(content, list):
        return
    for part in content:
        if isinstance(part, str):
            if not data:
                yield part
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "input_text"):
            text = part.get("text")
            if isinstance(text, str) and not data:
                yield text
        elif kind in ("tool_result", "document", "search_result") and data:
            yield from _block_texts(part)


def _block_texts(block: dict[str, Any]) -> Iterator[str]:
    """Text inside an Anthropic tool_result/document/search_result block."""
    for key in ("content", "source", "text", "title", "context"):
        value = block.get(key)
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            inner = value.get("data") if value.get("type") == "text" else None
            if isinstance(inner, str):
                yield inner
            yield from _block_texts(value) if value.get("type") == "content" else ()
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    text = item.get("text")
                    if isinstance(text, str):
                        yield text
                    elif item.get("type") in ("tool_result", "document", "search_result"):
                        yield from _block_texts(item)
