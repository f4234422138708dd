"""SQLAlchemy Core views of the model tables (migration 0015)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata", "model_changes", "model_entries"]

metadata = sa.MetaData()

#: deployments added through the admin API, beside the config file's model_list
model_entries = sa.Table(
    "model_entries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("model_name", sa.String(200), nullable=False),
    #: the entry as posted (``os.environ/NAME`` references kept, resolved by each replica)
    sa.Column("entry", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

#: one row; ``version`` moves in the transaction of every change to model_entries
model_changes = sa.Table(
    "model_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("changed_at", sa.Float, nullable=False),
)
