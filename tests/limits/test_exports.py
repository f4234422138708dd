"""The package's public names stay in step with what it exports."""

from __future__ import annotations

import lockgate.limits


def test_all_names_exist_and_are_sorted() -> None:
    """Every name in __all__ exists, and __all__ is sorted for review."""
    for name in lockgate.limits.__all__:
        assert hasattr(lockgate.limits, name), name
    assert lockgate.limits.__all__ == sorted(lockgate.limits.__all__)
