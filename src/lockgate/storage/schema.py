"""Table definitions (SQLAlchemy Core). Alembic migrations create them."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["api_keys", "key_changes", "metadata"]

metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("allowed_models", sa.JSON, nullable=True),
    sa.Column("team", sa.String(200), nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False, default=dict),
    sa.Column("limits", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

#: one row (id 1) whose version moves with every key change (see migration 0011)
key_changes = sa.Table(
    "key_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("changed_at", sa.Float, nullable=False),
)
