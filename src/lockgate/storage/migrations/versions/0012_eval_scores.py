"""online evaluation scores

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_scores",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False, index=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("day", sa.String(10), nullable=False, index=True),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("prompt_version", sa.String(64), nullable=True),
        sa.Column("judge", sa.String(200), nullable=False),
        sa.Column("rubric", sa.String(64), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("cost_usd", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("eval_scores")
