"""usage records and feedback

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("started_at", sa.Float, nullable=False, index=True),
        sa.Column("day", sa.String(10), nullable=False, index=True),
        sa.Column("api", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True, index=True),
        sa.Column("key_name", sa.String(200), nullable=True),
        sa.Column("team", sa.String(200), nullable=True, index=True),
        sa.Column("user", sa.String(200), nullable=True, index=True),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("deployment", sa.String(200), nullable=True),
        sa.Column("upstream_model", sa.String(200), nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_type", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("overhead_ms", sa.Float, nullable=False),
        sa.Column("ttft_ms", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("cache", sa.String(32), nullable=True),
        sa.Column("prompt_version", sa.String(64), nullable=True),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False, index=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("thumbs", sa.String(8), nullable=True),
        sa.Column("task_completed", sa.Boolean, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("prompt_version", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("usage_records")
