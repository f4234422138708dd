"""Prompt versions, labels and label history in the database (SQLite or Postgres)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lockgate.errors import BadRequestError, NotFoundError
from lockgate.prompts.spec import PromptSpec
from lockgate.prompts.template import PromptVersion
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from lockgate.prompts import tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    sa_exc = lazy_module("sqlalchemy.exc")
    tables = lazy_module("lockgate.prompts.tables")

__all__ = ["PromptRepository", "note_change"]

_PUSH_TRIES = 5


async def note_change(conn: AsyncConnection, kind: str, name: str, now: float) -> None:
    """Bump the change counter replicas poll (in the caller's transaction)."""
    await conn.execute(tables.changes.insert().values(kind=kind, name=name, at=now))


def _version(row: Any) -> PromptVersion:
    m = row._mapping
    return PromptVersion(
        name=m["name"],
        version=int(m["version"]),
        content=dict(m["spec"]),
        author=m["author"],
        message=m["message"],
        created_at=float(m["created_at"]),
        digest=m["digest"],
    )


class PromptRepository:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    @property
    def _engine(self) -> AsyncEngine:
        return self._db.engine

    async def push(self, spec: PromptSpec, actor: str | None = None) -> tuple[PromptVersion, bool]:
        """Store ``spec`` as the next version (or find the same content as the latest);
        then move its labels.  Returns the version and whether it is new."""
        digest = spec.digest()
        for attempt in range(_PUSH_TRIES):
            try:
                async with self._engine.begin() as conn:
                    latest = (
                        await conn.execute(
                            sa.select(tables.prompt_versions)
                            .where(tables.prompt_versions.c.name == spec.name)
                            .order_by(tables.prompt_versions.c.version.desc())
                            .limit(1)
                        )
                    ).first()
                    now = self._clock()
                    if latest is not None and latest._mapping["digest"] == digest:
                        version, created = _version(latest), False
                    else:
                        number = 1 if latest is None else int(latest._mapping["version"]) + 1
                        row: dict[str, Any] = {
                            "name": spec.name,
                            "version": number,
                            "spec": spec.content(),
                            "digest": digest,
                            "author": spec.author or actor,
                            "message": spec.message,
                            "created_at": now,
                        }
                        await conn.execute(tables.prompt_versions.insert().values(**row))
                        created = True
                        version = PromptVersion(
                            name=spec.name,
                            version=number,
                            content=row["spec"],
                            author=row["author"],
                            message=spec.message,
                            created_at=now,
                            digest=digest,
                        )
                        await note_change(conn, "version", spec.name, now)
                    for label in spec.labels:
                        await self._move(
                            conn, spec.name, label, version.version, actor, "push", now
                        )
                    return version, created
            except sa_exc.IntegrityError:
                if attempt == _PUSH_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def get(self, name: str, version: int) -> PromptVersion | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tables.prompt_versions).where(
                        tables.prompt_versions.c.name == name,
                        tables.prompt_versions.c.version == version,
                    )
                )
            ).first()
        return _version(row) if row is not None else None

    async def versions(self, name: str) -> list[PromptVersion]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(tables.prompt_versions)
                .where(tables.prompt_versions.c.name == name)
                .order_by(tables.prompt_versions.c.version)
            )
            return [_version(r) for r in rows]

    async def names(self) -> list[dict[str, Any]]:
        """Every prompt with its latest version and its labels."""
        pv = tables.prompt_versions.c
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(pv.name, sa.func.max(pv.version), sa.func.count())
                    .group_by(pv.name)
                    .order_by(pv.name)
                )
            ).all()
        labels = await self.labels()
        out = []
        for name, latest, count in rows:
            mine = {lb: v for (n, lb), v in labels.items() if n == name}
            out.append(
                {"name": name, "latest": int(latest), "versions": int(count), "labels": mine}
            )
        return out

    async def labels(self, name: str | None = None) -> dict[tuple[str, str], int]:
        if name is None and await self._db.surely_empty("SELECT 1 FROM prompt_labels LIMIT 1"):
            return {}  # no prompt yet: known without SQLAlchemy (the registry's start)
        t = tables.prompt_labels
        stmt = sa.select(t.c.name, t.c.label, t.c.version)
        if name is not None:
            stmt = stmt.where(tables.prompt_labels.c.name == name)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {(n, lb): int(v) for n, lb, v in rows}

    async def move_label(
        self, name: str, label: str, version: int, actor: str | None, reason: str | None = None
    ) -> tuple[int | None, int]:
        """Point ``label`` at ``version`` (which must exist); recorded in the history."""
        async with self._engine.begin() as conn:
            return await self._move(conn, name, label, version, actor, reason, self._clock())

    async def _move(
        self,
        conn: AsyncConnection,
        name: str,
        label: str,
        version: int,
        actor: str | None,
        reason: str | None,
        now: float,
    ) -> tuple[int | None, int]:
        exists = (
            await conn.execute(
                sa.select(tables.prompt_versions.c.version).where(
                    tables.prompt_versions.c.name == name,
                    tables.prompt_versions.c.version == version,
                )
            )
        ).first()
        if exists is None:
            raise NotFoundError(f"Prompt {name!r} has no version {version}.", param="version")
        where = (tables.prompt_labels.c.name == name, tables.prompt_labels.c.label == label)
        current = (
            await conn.execute(sa.select(tables.prompt_labels.c.version).where(*where))
        ).first()
        old = int(current[0]) if current is not None else None
        if old == version:
            return old, version
        values = {"version": version, "updated_at": now, "updated_by": actor}
        if current is None:
            await conn.execute(
                tables.prompt_labels.insert().values(name=name, label=label, **values)
            )
        else:
            await conn.execute(tables.prompt_labels.update().where(*where).values(**values))
        await conn.execute(
            tables.label_history.insert().values(
                name=name,
                label=label,
                from_version=old,
                to_version=version,
                actor=actor,
                reason=reason,
                at=now,
            )
        )
        await note_change(conn, "label", name, now)
        return old, version

    async def history(self, name: str, label: str | None = None) -> list[dict[str, Any]]:
        h = tables.label_history.c
        stmt = sa.select(tables.label_history).where(h.name == name).order_by(h.id)
        if label is not None:
            stmt = stmt.where(h.label == label)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [{str(k): v for k, v in r.items()} for r in rows]

    async def rollback(self, name: str, label: str, actor: str | None) -> tuple[int | None, int]:
        """Move ``label`` back to the version it pointed at before its last move."""
        moves = await self.history(name, label)
        if not moves or moves[-1]["from_version"] is None:
            raise BadRequestError(f"Label {name}@{label} has no earlier version to go back to.")
        return await self.move_label(name, label, int(moves[-1]["from_version"]), actor, "rollback")

    async def head(self) -> int:
        """The change counter: cheap enough to poll every second (off the request loop)."""
        return await self._db.poll_counter("SELECT MAX(id) FROM lockgate_changes")
