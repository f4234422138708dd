"""Which turns to cut from a prompt over its budget (pure).

The prompt is ``head + middle + last turn``.  The head is never cut: the leading
system messages, for ``truncate_middle`` the first exchange too (and further opening
turns while they fit in ``head_tokens``, never the last two), and everything up
to the last ``cache_control`` mark the client set outside its last two turns (a
prefix it asked the provider to cache).  The last turn is never cut.  What goes is
a run of whole turns from the start of the middle, so tool calls stay with their
results and the prompt still starts with a user turn after the head.

Cut points sit on a grid: the turn boundaries where the middle's running token
count first passes each multiple of ``step``.  Those boundaries depend only on the
turns before them, so as the chat grows the same cut is chosen request after
request, and each request shares the previous one's whole prefix (the provider's
cache keeps hitting) until the prompt outgrows the budget again and the cut moves
one step on.  ``step = 0`` is the naive middle-out: cut exactly what is needed,
which moves the cut, and so breaks the cached prefix, on every turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lockgate.contextbudget.config import Strategy
from lockgate.errors import ContextBudgetError

__all__ = ["Cut", "PromptShape", "plan_cut"]


@dataclass(frozen=True, slots=True)
class PromptShape:
    #: tokens of each message
    tokens: Sequence[int]
    #: whether each message is a system/developer message
    system: Sequence[bool]
    #: indices where a user turn starts (a user message that is not only tool results)
    turn_starts: Sequence[int]
    #: index of the last message the client marked with cache_control (-1: none)
    last_mark: int = -1
    #: tokens outside the messages (tools, framing)
    fixed: int = 0


@dataclass(frozen=True, slots=True)
class Cut:
    """Drop messages ``start:stop`` (system ones among them stay when ``keep_system``)."""

    start: int
    stop: int
    dropped_tokens: int
    total_before: int


def _head_end(shape: PromptShape, strategy: Strategy, keep_system: bool, head_tokens: int) -> int:
    n = len(shape.tokens)
    starts = sorted(shape.turn_starts)
    head = 0
    if keep_system:
        while head < n and shape.system[head]:
            head += 1
    rolling = starts[-2] if len(starts) >= 2 else 0
    if strategy == "truncate_middle":
        first = next((t for t in starts if t >= head), n)
        head = next((t for t in starts if t > first), n)
        # More of the opening turns, while they fit in head_tokens (never the last two).
        size = sum(shape.tokens[:head])
        for t in starts:
            if t <= head:
                continue
            if t > rolling or size + sum(shape.tokens[head:t]) > head_tokens:
                break
            size += sum(shape.tokens[head:t])
            head = t
    if 0 <= shape.last_mark < rolling:
        # A prefix the client asked to be cached: the cut begins after it.
        head = max(head, next((t for t in starts if t > shape.last_mark), n))
    return head


def plan_cut(
    shape: PromptShape,
    budget: int,
    *,
    strategy: Strategy,
    keep_system: bool,
    step: int,
    head_tokens: int = 0,
) -> Cut | None:
    """The run of messages to drop so the prompt fits ``budget`` (None: it fits).

    Raises ``ContextBudgetError`` when it does not fit and may not be cut.
    """
    total = shape.fixed + sum(shape.tokens)
    need = total - budget
    if need <= 0:
        return None
    if strategy == "error":
        raise ContextBudgetError(
            f"The prompt is about {total} tokens, over this model's budget of {budget}"
            " (context.strategy: error). Shorten the conversation.",
            param="messages",
        )
    head = _head_end(shape, strategy, keep_system, head_tokens)
    cut = _cut_after(shape, head, need, keep_system, step)
    if cut is None and head_tokens > 0:
        # The longer kept start leaves too little to cut: fall back to the plain head
        # rather than refuse a prompt that can fit.
        cut = _cut_after(shape, _head_end(shape, strategy, keep_system, 0), need, keep_system, step)
    if cut is None:
        raise ContextBudgetError(
            f"The prompt is about {total} tokens, over this model's budget of {budget}, and"
            " what may be cut (turns between the kept prefix and the last turn) is not"
            " enough. Shorten the system prompt or the last message.",
            param="messages",
        )
    return cut


def _cut_after(
    shape: PromptShape, head: int, need: int, keep_system: bool, step: int
) -> Cut | None:
    """The first grid cut after ``head`` that frees ``need`` tokens (None: none does)."""
    total = shape.fixed + sum(shape.tokens)
    starts = sorted(shape.turn_starts)
    last = starts[-1] if starts else len(shape.tokens)
    # Candidate cut ends: turn starts after the head, up to the last turn.
    ends = [t for t in starts if head < t <= last]
    dropped = 0
    level = 0  # multiples of step passed so far
    i = head
    for end in ends:
        while i < end:
            if not (keep_system and shape.system[i]):
                dropped += shape.tokens[i]
            i += 1
        on_grid = step <= 0 or dropped // step > level
        if step > 0:
            level = max(level, dropped // step)
        if dropped >= need and (on_grid or end == last):
            return Cut(head, end, dropped, total)
    return None
