"""Import a package as if one of its optional extras were not installed (idle memory).

Some dependencies import an extra whenever it is installed, for a feature lockgate never
uses (structlog's console tracebacks import rich; uvicorn's ``--reload`` supervisor imports
watchfiles).  ``lockgate serve`` imports them through ``import_hiding`` first: the extra
raises ImportError while the package loads, and the package takes its own fallback.
"""

from __future__ import annotations

import sys

__all__ = ["import_hiding"]


def import_hiding(target: str, hidden: str) -> None:
    """Import ``target`` with ``import hidden`` failing meanwhile; a no-op once either is
    imported (the extra stays importable afterwards)."""
    if target in sys.modules or hidden in sys.modules:
        return
    sys.modules[hidden] = None  # type: ignore[assignment]  # `import hidden` -> ImportError
    try:
        __import__(target)
    finally:
        del sys.modules[hidden]
