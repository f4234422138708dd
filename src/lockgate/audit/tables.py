"""The audit tables as SQLAlchemy Core objects (migrations 0003 and 0010 create them)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["audit_checkpoints", "audit_head", "audit_log", "audit_metadata"]

audit_metadata = sa.MetaData()

_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")

audit_log = sa.Table(
    "audit_log",
    audit_metadata,
    sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("body_key_id", sa.String(16), nullable=True),
    sa.Column("request_body", sa.Text, nullable=True),
    sa.Column("response_body", sa.Text, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    audit_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("seq", _SEQ, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("pruned_at", sa.Float, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
)

#: the newest row's (seq, hash), updated in each append's transaction: kept apart from
#: the chain so that verification notices rows cut off its end
audit_head = sa.Table(
    "audit_head",
    audit_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", _SEQ, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
