"""Uploaded and produced files: bytes on disk under the batch root, a row each in the
database (purpose, owner key, size). ``BatchStore`` builds on it."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lockgate.batches.paging import Page, page_of
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa

    from lockgate.batches import tables
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    tables = lazy_module("lockgate.batches.tables")

__all__ = ["FileStore", "new_id"]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class FileStore:
    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = root

    async def create_file(
        self, key_id: str | None, purpose: str, filename: str, data: bytes, now: float
    ) -> dict[str, Any]:
        file_id = new_id("file")
        path = self.root / file_id
        # written off the event loop: a file of 200 MB held it for a second
        await asyncio.to_thread(_write, path, data)
        return await self._row(file_id, key_id, purpose, filename, len(data), path, now)

    async def copy_file(
        self,
        key_id: str | None,
        purpose: str,
        filename: str,
        source: BinaryIO,
        now: float,
        most: int,
    ) -> dict[str, Any] | None:
        """A file made from ``source`` (an upload's spooled file), copied in pieces off the
        event loop, never whole in memory; ``None`` (nothing kept) past ``most`` bytes."""
        file_id = new_id("file")
        path = self.root / file_id
        size = await asyncio.to_thread(_copy, source, path, most)
        if size is None:
            return None
        return await self._row(file_id, key_id, purpose, filename, size, path, now)

    async def _row(
        self,
        file_id: str,
        key_id: str | None,
        purpose: str,
        filename: str,
        size: int,
        path: Path,
        now: float,
    ) -> dict[str, Any]:
        row = {
            "id": file_id,
            "key_id": key_id,
            "purpose": purpose,
            "filename": filename[:255],
            "bytes": size,
            "path": str(path),
            "created_at": now,
            "deleted": False,
        }
        async with self.db.engine.begin() as conn:
            await conn.execute(tables.files.insert().values(**row))
        return row

    async def get_file(self, file_id: str) -> dict[str, Any] | None:
        async with self.db.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(tables.files).where(
                            tables.files.c.id == file_id, tables.files.c.deleted.is_(False)
                        )
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def stored(self, key_id: str | None) -> tuple[int, int]:
        """Bytes and number of the files ``key_id`` keeps (deleted ones not counted)."""
        files = tables.files
        q = sa.select(sa.func.coalesce(sa.func.sum(files.c.bytes), 0), sa.func.count()).where(
            files.c.key_id == key_id, files.c.deleted.is_(False)
        )
        async with self.db.engine.connect() as conn:
            held, count = (await conn.execute(q)).one()
        return int(held), int(count)

    async def list_files(
        self, key_id: str | None, admin: bool, page: Page, purpose: str | None = None
    ) -> list[dict[str, Any]]:
        """Up to ``page.limit + 1`` of the caller's files (of ``purpose``) after the cursor
        (a deleted file is still a cursor: a client may delete as it pages)."""
        files = tables.files
        owned = sa.true() if admin else files.c.key_id == key_id
        scope = sa.and_(files.c.deleted.is_(False), owned)
        if purpose is not None:
            scope = sa.and_(scope, files.c.purpose == purpose)
        async with self.db.engine.connect() as conn:
            return await page_of(conn, files, scope, page, "file", owned=owned)

    async def delete_file(self, file_id: str) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                tables.files.update().where(tables.files.c.id == file_id).values(deleted=True)
            )
        row_path = self.root / file_id
        row_path.unlink(missing_ok=True)


_PIECE = 1 << 20


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _copy(source: BinaryIO, path: Path, most: int) -> int | None:
    """Copy ``source`` from its start to ``path`` a MiB at a time; ``None`` past ``most``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    size = 0
    source.seek(0)
    try:
        with tmp.open("wb") as out:
            while size <= most and (piece := source.read(_PIECE)):
                size += len(piece)
                out.write(piece)
        if size > most:
            return None
        os.replace(tmp, path)
        return size
    finally:
        tmp.unlink(missing_ok=True)  # gone already when it was kept
