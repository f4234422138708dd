"""Import a package without the parts lockgate never uses (idle memory).

Some dependencies import an extra whenever it is installed, for a feature lockgate never
uses (structlog's console tracebacks import rich; uvicorn's ``--reload`` supervisor imports
watchfiles).  ``lockgate serve`` imports them through ``import_hiding`` first: the extra
raises ImportError while the package loads, and the package takes its own fallback.
``import_deferring_init`` goes further for a package whose ``__init__`` loads a part
lockgate does not use (uvicorn's command line): that ``__init__`` runs only if a name
it defines is looked up.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["import_deferring_init", "import_hiding"]


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


def import_deferring_init(package: str, names: Mapping[str, str]) -> None:
    """Install ``package`` with its ``__init__`` not run: each of ``names`` (attribute ->
    submodule) is taken from its submodule, a submodule imports as usual, and the first
    lookup of any other attribute runs the real ``__init__`` in place (PEP 562), so
    ``package.X`` and ``from package import X`` keep working.  For packages whose
    ``__init__`` imports a part lockgate never uses (uvicorn's: its command line, click,
    and the reload and multiprocess supervisors).  A no-op once ``package`` is imported.
    """
    if package in sys.modules:
        return
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    loader = spec.loader
    module = importlib.util.module_from_spec(spec)  # the package, its __init__ not run
    state = {"full": False}

    def __getattr__(name: str) -> Any:
        if not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}"):
            return importlib.import_module(f"{package}.{name}")  # `from package import sub`
        if state["full"]:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        state["full"] = True
        loader.exec_module(module)  # the real __init__, in place: every name
        if name not in module.__dict__:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return module.__dict__[name]

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[package] = module
    try:
        for attribute, submodule in names.items():
            setattr(module, attribute, getattr(importlib.import_module(submodule), attribute))
    except BaseException:
        del sys.modules[package]
        raise
