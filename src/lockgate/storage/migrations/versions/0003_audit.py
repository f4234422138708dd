"""audit log

Revision ID: 0003
Revises: 0002

``audit_log`` holds one hash-chained row per request (see lockgate.audit.chain);
``seq`` is assigned by the writer, never by the database, and being the primary key
it is what keeps the chain linear when several replicas append at once.
``audit_checkpoints`` remembers the last row each retention prune deleted, so the
rows that remain still verify from a known (seq, hash).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("request_id", sa.String(128), nullable=False, index=True),
        sa.Column("created_at", sa.Float, nullable=False, index=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("body_key_id", sa.String(16), nullable=True),
        sa.Column("request_body", sa.Text, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("pruned_at", sa.Float, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_log")
