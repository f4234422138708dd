"""Lean imports: SQLAlchemy's asyncio extension without its ORM half, and modules imported on
first use (``lockgate serve``'s memory).

``sqlalchemy.ext.asyncio``'s package ``__init__`` imports ``AsyncSession`` and with it the
whole ORM (``sqlalchemy.orm``: ~6 MiB resident, ~0.2 s of start-up), which lockgate never
uses: it runs Core statements on ``AsyncEngine``/``AsyncConnection``.  ``make_engine``
calls ``import_sqlalchemy_asyncio_lean`` before it imports the extension: the
package module then holds the engine and result names, and the first lookup of any other
name (``AsyncSession``, ``async_sessionmaker``, ...) runs the real ``__init__`` in place,
so every ``from sqlalchemy.ext.asyncio import X`` keeps working (PEP 562).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

__all__ = ["import_sqlalchemy_asyncio_lean", "lazy_module"]

_NAME = "sqlalchemy.ext.asyncio"
_ENGINE_NAMES = (
    "async_engine_from_config",
    "AsyncConnection",
    "AsyncEngine",
    "AsyncTransaction",
    "create_async_engine",
    "create_async_pool_from_url",
)
_RESULT_NAMES = ("AsyncMappingResult", "AsyncResult", "AsyncScalarResult", "AsyncTupleResult")


def import_sqlalchemy_asyncio_lean() -> None:
    """Install ``sqlalchemy.ext.asyncio`` with its ORM names loaded on first use.

    A no-op once the extension is imported (or if SQLAlchemy is not where expected).
    """
    if _NAME in sys.modules:
        return
    spec = importlib.util.find_spec(_NAME)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)  # the package, its __init__ not run
    state = {"full": False}

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(f"module {_NAME!r} has no attribute {name!r}")
        if importlib.util.find_spec(f"{_NAME}.{name}") is not None:
            return importlib.import_module(f"{_NAME}.{name}")  # `from . import exc`
        if state["full"]:
            raise AttributeError(f"module {_NAME!r} has no attribute {name!r}")
        state["full"] = True
        assert spec.loader is not None
        spec.loader.exec_module(module)  # the real __init__, in place: every name
        return getattr(module, name)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[_NAME] = module
    try:
        # import_module, not `from ... import engine`: that would look the name up on the
        # package first (its __getattr__: the whole __init__)
        engine = importlib.import_module(_NAME + ".engine")
        result = importlib.import_module(_NAME + ".result")
        from sqlalchemy.util import concurrency
    except BaseException:
        del sys.modules[_NAME]
        raise
    shim = getattr(concurrency, "_concurrency_shim", None)
    if shim is None:  # another SQLAlchemy than this was written for: the real __init__
        state["full"] = True
        spec.loader.exec_module(module)
        return
    for name in _ENGINE_NAMES:
        setattr(module, name, getattr(engine, name))
    for name in _RESULT_NAMES:
        setattr(module, name, getattr(result, name))
    shim._initialize()  # what the real __init__ ends with: the async engine's greenlet bridge


class _LazyModule:
    """Stands for a module until its first attribute is read: then imports it, puts the
    module itself in place of every binding of this stand-in in the importing module's
    globals (later reads cost nothing), and returns the attribute."""

    __slots__ = ("_globals", "_name")

    def __init__(self, name: str, namespace: dict[str, Any]) -> None:
        self._name = name
        self._globals = namespace

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        namespace = self._globals
        for key, value in list(namespace.items()):
            if value is self:
                namespace[key] = module
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


def lazy_module(name: str) -> Any:
    """``name`` (SQLAlchemy, a table module), imported when the caller's module first reads
    one of its attributes.  Bound at module level, under ``else:`` of ``if
    TYPE_CHECKING:`` (which imports the real module for the type checker)::

        if TYPE_CHECKING:
            import sqlalchemy as sa
        else:
            sa = lazy_module("sqlalchemy")

    A module whose statements only run on use (a repository, an admin query) so costs a
    gateway nothing until then: SQLAlchemy is ~13 MiB of a gateway's idle memory.
    """
    caller = sys._getframe(1).f_globals
    return sys.modules.get(name) or _LazyModule(name, caller)
