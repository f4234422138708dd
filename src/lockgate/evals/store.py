"""Answers and verdicts kept by content hash, so running a suite again costs nothing.

The key is a SHA-256 of everything that decides the result (target model, rendered
messages, parameters, repeat index; for a verdict the judge, its prompt and the answer).
Entries live in one append-only JSONL file; a failed call is never stored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["ResultCache", "content_key"]


def content_key(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


class ResultCache:
    """In memory, loaded from and appended to ``directory/cache.jsonl`` (None: memory only)."""

    def __init__(self, directory: str | Path | None) -> None:
        self._path = Path(directory) / "cache.jsonl" if directory is not None else None
        self._data: dict[str, Any] = {}
        self._new: dict[str, Any] = {}
        self.hits = 0
        if self._path is not None and self._path.is_file():
            for line in self._path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._data[row["k"]] = row["v"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn last line from an interrupted run

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def get(self, key: str) -> Any | None:
        value = self._data.get(key)
        if value is not None:
            self.hits += 1
        return value

    def put(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._new[key] = value

    def save(self) -> None:
        if self._path is None or not self._new:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as f:
            for k, v in self._new.items():
                f.write(json.dumps({"k": k, "v": v}, ensure_ascii=False) + "\n")
        self._new.clear()
