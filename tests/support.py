"""Constants and small helpers shared by test modules."""

from __future__ import annotations

MASTER = "sk-master-test-0001"


def bearer(key: str = MASTER) -> dict[str, str]:
    """An Authorization header for ``key``."""
    return {"authorization": f"Bearer {key}"}
