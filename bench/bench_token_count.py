"""Cost of a context budget's per-message tiktoken count on growing chats.

    nice -n 10 .venv/bin/python bench/bench_token_count.py --n 50

Replays ShareGPT conversations (>= 20 messages) request by request, as a chat client
resends its history, through ``TiktokenCounter.per_message`` with and without the
counter's memory of recent messages; prints the mean time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from chat_data import load_chats

from lockgate.token_count import TiktokenCounter


async def _run(n: int) -> None:
    chats = load_chats(n, min_messages=20)
    for name, counter in (
        ("no memory", TiktokenCounter(remembered=0)),
        ("remembered", TiktokenCounter()),
    ):
        await counter.per_message({"messages": [{"role": "user", "content": "warm up"}]})
        started, requests = time.perf_counter(), 0
        for chat in chats:
            for end in range(1, len(chat) + 1, 2):
                await counter.per_message({"messages": chat[:end]})
                requests += 1
        ms = (time.perf_counter() - started) * 1000 / requests
        print(f"{name:10s} {requests} requests, {ms:.3f} ms per request")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    asyncio.run(_run(ap.parse_args().n))


if __name__ == "__main__":
    main()
