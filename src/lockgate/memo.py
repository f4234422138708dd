"""A memo bounded by entries and by the characters of its keys (oldest out first).

For pure functions of a text (a guard's verdict): the keys are the texts, so the
characters they hold are what the memo costs; ``max_chars`` bounds that, ``max_entries``
bounds the number of values.  Eviction drops the oldest entry (dicts keep insertion
order), one at a time, O(1) each.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["TextMemo"]

V = TypeVar("V")


class TextMemo(Generic[V]):
    """``text -> value`` holding at most ``max_entries`` and ``max_chars`` of keys."""

    __slots__ = ("_chars", "_data", "max_chars", "max_entries")

    def __init__(self, *, max_entries: int, max_chars: int) -> None:
        if max_entries <= 0 or max_chars <= 0:
            raise ValueError("max_entries and max_chars must be positive")
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._data: dict[str, V] = {}
        self._chars = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def chars(self) -> int:
        """Characters held in keys."""
        return self._chars

    def get(self, text: str) -> V | None:
        return self._data.get(text)

    def put(self, text: str, value: V) -> None:
        """Remember ``value`` for ``text`` (a text longer than ``max_chars`` is not kept)."""
        size = len(text)
        if size > self.max_chars:
            return
        data = self._data
        if text in data:
            data[text] = value
            return
        while data and (len(data) >= self.max_entries or self._chars + size > self.max_chars):
            oldest = next(iter(data))
            del data[oldest]
            self._chars -= len(oldest)
        data[text] = value
        self._chars += size

    def clear(self) -> None:
        self._data.clear()
        self._chars = 0
