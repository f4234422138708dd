"""Building request records for tests."""

from __future__ import annotations

from typing import Any

from lockgate.records import RequestRecord

DAY1 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0


def record(n: int, **fields: Any) -> RequestRecord:
    """A plausible finished request; ``fields`` override."""
    base: dict[str, Any] = {
        "request_id": f"req_{n:06d}",
        "started_at": DAY1 + n,
        "api": "openai",
        "key_id": "key_a",
        "key_name": "alpha",
        "team": "red",
        "user": None,
        "model": "gpt-4o-mini",
        "provider": "openai",
        "deployment": "gpt-4o-mini#0",
        "upstream_model": "gpt-4o-mini",
        "status": 200,
        "error_type": None,
        "error_code": None,
        "stream": False,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cached_tokens": 0,
        "cost_usd": 0.001,
        "latency_ms": 100.0,
        "overhead_ms": 0.2,
        "ttft_ms": None,
        "attempts": 1,
        "cache": "miss",
    }
    base.update(fields)
    return RequestRecord(**base)
