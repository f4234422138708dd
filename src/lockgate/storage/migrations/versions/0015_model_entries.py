"""model entries

Revision ID: 0015
Revises: 0014

``model_entries``: deployments added through ``/admin/models`` (served beside the config
file's model_list), and ``model_changes``, a counter moved with every change to them that
each gateway process polls to rebuild its router (lockgate.modelconfig).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_entries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("entry", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    table = op.create_table(
        "model_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0, "changed_at": 0.0}])


def downgrade() -> None:
    op.drop_table("model_changes")
    op.drop_table("model_entries")
