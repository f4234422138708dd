"""Virtual keys in the database (SQLite or Postgres through SQLAlchemy)."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from lockgate.auth.keys import ApiKey, generate_key, hash_key
from lockgate.errors import NotFoundError
from lockgate.storage.database import Database
from lockgate.storage.lean_import import lazy_module

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncConnection

    from lockgate.storage import schema
else:  # imported on first use (storage/lean_import.py)
    sa = lazy_module("sqlalchemy")
    schema = lazy_module("lockgate.storage.schema")

__all__ = ["KeyRepository"]


async def _bump(conn: AsyncConnection) -> None:
    """Move the change counter in the same transaction as the key change itself."""
    await conn.execute(
        schema.key_changes.update()
        .where(schema.key_changes.c.id == 1)
        .values(version=schema.key_changes.c.version + 1, changed_at=time.time())
    )


def _row_to_key(row: Any) -> ApiKey:
    models = row.allowed_models
    return ApiKey(
        id=row.id,
        name=row.name,
        key_prefix=row.key_prefix,
        allowed_models=tuple(models) if models is not None else None,
        team=row.team,
        metadata=dict(row.metadata or {}),
        limits=dict(row.limits or {}),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


class KeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        name: str,
        *,
        models: list[str] | None = None,
        team: str | None = None,
        metadata: dict[str, Any] | None = None,
        limits: dict[str, Any] | None = None,
        expires_at: float | None = None,
        now: float | None = None,
    ) -> tuple[str, ApiKey]:
        """Store a new key; returns the secret (shown once) and the stored record."""
        secret = generate_key()
        key = ApiKey(
            id="key_" + secrets.token_hex(8),
            name=name,
            key_prefix=secret[:10],
            allowed_models=tuple(models) if models is not None else None,
            team=team,
            metadata=metadata or {},
            limits=limits or {},
            created_at=time.time() if now is None else now,
            expires_at=expires_at,
            revoked_at=None,
        )
        async with self._db.engine.begin() as conn:
            await conn.execute(
                schema.api_keys.insert().values(
                    id=key.id,
                    name=key.name,
                    key_hash=hash_key(secret),
                    key_prefix=key.key_prefix,
                    allowed_models=list(key.allowed_models)
                    if key.allowed_models is not None
                    else None,
                    team=key.team,
                    metadata=key.metadata,
                    limits=key.limits,
                    created_at=key.created_at,
                    expires_at=key.expires_at,
                    revoked_at=None,
                )
            )
            await _bump(conn)
        return secret, key

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        if await self._db.surely_empty("SELECT 1 FROM api_keys WHERE key_hash = ?", key_hash):
            return None  # an unknown key (open mode: any), known without SQLAlchemy
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(schema.api_keys).where(schema.api_keys.c.key_hash == key_hash)
                )
            ).first()
        return _row_to_key(row) if row is not None else None

    async def version(self) -> int:
        """The key change counter: it moves whenever any key is created, revoked or rotated."""
        return await self._db.poll_counter("SELECT version FROM key_changes WHERE id = 1")

    async def get(self, key_id: str) -> ApiKey:
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(schema.api_keys).where(schema.api_keys.c.id == key_id))
            ).first()
        if row is None:
            raise NotFoundError(f"No key with id '{key_id}'.", code="key_not_found")
        return _row_to_key(row)

    async def list(self, include_revoked: bool = False) -> list[ApiKey]:
        query = sa.select(schema.api_keys).order_by(schema.api_keys.c.created_at)
        if not include_revoked:
            query = query.where(schema.api_keys.c.revoked_at.is_(None))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_row_to_key(r) for r in rows]

    async def revoke(self, key_id: str, now: float | None = None) -> ApiKey:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                schema.api_keys.update()
                .where(schema.api_keys.c.id == key_id, schema.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time() if now is None else now)
            )
            await _bump(conn)
        if result.rowcount == 0:
            await self.get(key_id)  # raises NotFoundError for an unknown id
        return await self.get(key_id)

    async def rotate(self, key_id: str) -> tuple[str, ApiKey]:
        """Give the key a new secret; the old one stops working at once."""
        secret = generate_key()
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                schema.api_keys.update()
                .where(schema.api_keys.c.id == key_id, schema.api_keys.c.revoked_at.is_(None))
                .values(key_hash=hash_key(secret), key_prefix=secret[:10])
            )
            await _bump(conn)
        if result.rowcount == 0:
            await self.get(key_id)
            raise NotFoundError(f"Key '{key_id}' is revoked.", code="key_revoked")
        return secret, await self.get(key_id)
