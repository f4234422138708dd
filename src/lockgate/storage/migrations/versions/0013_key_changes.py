"""key change counter

Revision ID: 0013
Revises: 0012

``key_changes`` holds one row whose ``version`` goes up in the same transaction as every
key creation, revocation and rotation.  Each gateway process polls it (one indexed read
per interval) and drops its in-process key cache when it moves, so a revocation made by
another replica or by ``lockgate keys revoke`` takes effect within the poll interval,
with or without Redis.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "key_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0, "changed_at": 0.0}])


def downgrade() -> None:
    op.drop_table("key_changes")
