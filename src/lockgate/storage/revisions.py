"""The newest schema revision the shipped migration files define, read without Alembic
(or SQLAlchemy): a gateway whose database is already at it starts without either."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

__all__ = ["MIGRATIONS", "shipped_head"]

MIGRATIONS = Path(__file__).parent / "migrations"

_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


@cache
def shipped_head() -> str | None:
    """The newest revision among the shipped migration files, read without Alembic.

    ``None`` when the files do not form one chain with one head (Alembic then decides).
    A test checks it against Alembic's own ``get_current_head``.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found: dict[str, str] = {m[1]: m[2] for m in _REVISION.finditer(text)}
        rev, down = found.get("revision"), found.get("down_revision")
        if rev is None or down is None:
            return None
        revisions.add(rev.strip("\"'"))
        if down != "None":
            if not re.fullmatch(r"[\"'][^\"']+[\"']", down):  # tuples: merge points
                return None
            parents.add(down.strip("\"'"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None
