"""SQLAlchemy Core view of the stored-responses table (migration 0021)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata", "stored_responses"]

metadata = sa.MetaData()

stored_responses = sa.Table(
    "stored_responses",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    #: {"response": ..., "history": [...]} as JSON text
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
