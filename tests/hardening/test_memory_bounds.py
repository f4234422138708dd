"""Every in-process cache, memo and queue is bounded, and /metrics shows its size.

Counted by entries and characters, never by time: a flood of distinct texts, users or
keys cannot grow the process without limit.
"""

from __future__ import annotations

import gc

import pytest
from tests.audit.conftest import settings_for
from tests.observability.scrape import samples, value
from tests.support import MASTER

from lockgate.app import GC_YOUNG_THRESHOLD
from lockgate.guards.injection import InjectionDetector
from lockgate.memo import TextMemo


def test_memo_keeps_at_most_max_entries_newest_first():
    memo: TextMemo[int] = TextMemo(max_entries=100, max_chars=1_000_000)
    for i in range(10_000):
        memo.put(f"text {i}", i)
    assert len(memo) == 100
    assert memo.get("text 9999") == 9999 and memo.get("text 9900") == 9900
    assert memo.get("text 9899") is None and memo.get("text 0") is None
    assert memo.chars == sum(len(f"text {i}") for i in range(9900, 10_000))


def test_memo_keeps_at_most_max_chars_of_text():
    memo: TextMemo[int] = TextMemo(max_entries=10_000, max_chars=50_000)
    for i in range(1_000):
        memo.put(f"{i:04d}" + "x" * 996, i)
    assert memo.chars <= 50_000 and len(memo) == 50
    memo.put("y" * 50_001, 1)  # longer than the whole memo: not kept, nothing evicted
    assert memo.get("y" * 50_001) is None and len(memo) == 50
    memo.put(f"{999:04d}" + "x" * 996, 7)  # an existing key: replaced, not counted twice
    assert memo.get(f"{999:04d}" + "x" * 996) == 7 and memo.chars == 50_000
    memo.clear()
    assert len(memo) == 0 and memo.chars == 0


def test_injection_memos_are_bounded_by_characters():
    """Distinct 4 KB texts: the memo stops at its character bound, not at 4096 x 8 KB."""
    det = InjectionDetector()
    text = "Please summarise this paragraph about the weather in the mountains. " * 60
    for i in range(700):
        det.score(f"{i} {text}")
    sizes = {name: (n, chars) for name, n, chars in det.memory_sizes()}
    n, chars = sizes["injection_memo"]
    assert chars <= 2_000_000 and n == 2_000_000 // len(f"{0} {text}")
    assert sizes["injection_data_memo"] == (0, 0)


@pytest.mark.parametrize("distinct", [40])
async def test_metrics_show_each_cache_size(tmp_path, open_gateway, distinct):
    """After N distinct prompts /metrics shows N remembered verdicts, and the queues."""
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path}/m.db",
        usage={"dead_letter_file": f"{tmp_path}/u.jsonl", "flush_interval_seconds": 3600},
        audit={"dead_letter_file": f"{tmp_path}/a.jsonl", "flush_interval_seconds": 3600},
    )
    headers = {"Authorization": f"Bearer {MASTER}"}
    async with open_gateway(settings) as client:
        for i in range(distinct):
            body = {"model": "mock", "messages": [{"role": "user", "content": f"hello {i}"}]}
            r = await client.post("/v1/chat/completions", json=body, headers=headers)
            assert r.status_code == 200, r.text
        page = samples((await client.get("/metrics", headers=headers)).text)
    assert value(page, "lockgate_memory_entries", cache="injection_memo") == distinct
    assert value(page, "lockgate_memory_bytes", cache="injection_memo") == sum(
        len(f"hello {i}") for i in range(distinct)
    )
    assert value(page, "lockgate_memory_entries", cache="usage_queue") == distinct
    assert value(page, "lockgate_memory_entries", cache="audit_queue") == distinct
    for name in (
        "key_lookups",
        "guard_key_overrides",
        "response_cache",
        "metric_children",
        "metric_rows",
        "limit_state",
        "token_counts",
    ):
        assert ("lockgate_memory_entries", frozenset({("cache", name)})) in page, name


async def test_young_generation_threshold_while_serving_and_restored_after(tmp_path, open_gateway):
    """The gateway collects its young generation every 20,000 objects while it serves
    (not every 700); closing it gives the process back its previous thresholds."""
    before = gc.get_threshold()
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path}/g.db")
    async with open_gateway(settings) as client:
        r = await client.get("/health")
        assert r.status_code == 200
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
    assert GC_YOUNG_THRESHOLD == 20_000 and gc.get_threshold() == before
