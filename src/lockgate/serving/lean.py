"""Import a package as if one of its optional extras were not installed (idle memory).

Some dependencies import an extra whenever it is installed, for a feature lockgate never
uses (structlog's console tracebacks import rich; uvicorn's ``--reload`` supervisor imports
watchfiles).  ``lockgate serve`` imports them through ``import_hiding`` first: the extra
raises ImportError while the package loads, and the package takes its own fallback.
"""

from __future__ import annotations

import sys

__all__ = ["import_hiding"]


def import_hiding(target: str, *hidden: str) -> None:
    """Import ``target`` with ``import h`` failing meanwhile for each ``h`` of ``hidden``
    not imported yet; a no-op once ``target`` or every ``h`` is imported (the extras stay
    importable afterwards)."""
    absent = [name for name in hidden if name not in sys.modules]
    if target in sys.modules or not absent:
        return
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` -> ImportError
    try:
        __import__(target)
    finally:
        for name in absent:
            del sys.modules[name]
