"""Shared helpers of the batch tests: a batch of n chat lines in a store."""

from __future__ import annotations

from lockgate.batches.lines import BatchLine
from lockgate.batches.store import BatchStore

NOW = 1_800_000_000.0


async def new_batch(store: BatchStore, n: int) -> str:
    lines = [BatchLine(i + 1, f"c{i}", {"model": "m", "messages": []}) for i in range(n)]
    row = await store.create_batch(
        key_id="k1",
        endpoint="/v1/chat/completions",
        input_file_id="file_x",
        completion_window="24h",
        metadata=None,
        lines=lines,
        errors=[],
        now=NOW,
        expires_at=NOW + 86400,
    )
    return str(row["id"])
