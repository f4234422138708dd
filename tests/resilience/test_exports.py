"""The package's public names are all importable and documented in __all__."""

from __future__ import annotations

import lockgate.resilience as resilience


def test_all_names_resolve() -> None:
    """Every name in __all__ exists on the package."""
    missing = [name for name in resilience.__all__ if not hasattr(resilience, name)]
    assert missing == []


def test_all_is_unique() -> None:
    """__all__ has no duplicates (so a rename cannot leave a stale alias)."""
    assert len(set(resilience.__all__)) == len(resilience.__all__)
