"""console rollups

Revision ID: 0014
Revises: 0013

``usage_rollups``: hourly sums per key, team, user and model, kept by the usage writer
in the transaction of each batch (lockgate.console.rollups), so the console's aggregates
never scan ``usage_records``.  Existing rows are folded in once here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
        sa.Column("hour", sa.Integer, primary_key=True),
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("team", sa.String(200), primary_key=True),
        sa.Column("user", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("cache_hits", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("latency_ms_sum", sa.Float, nullable=False),
        sa.Column("ttft_ms_sum", sa.Float, nullable=False),
        sa.Column("ttft_count", sa.Integer, nullable=False),
    )
    op.create_index("ix_usage_rollups_model_hour", "usage_rollups", ["model", "hour"])
    pg = op.get_bind().dialect.name == "postgresql"
    hour = "FLOOR(started_at / 3600)" if pg else "started_at / 3600"
    op.execute(
        f"""
        INSERT INTO usage_rollups (hour, key_id, team, "user", model, requests, errors,
            cache_hits, prompt_tokens, completion_tokens, cached_tokens, cost_usd,
            latency_ms_sum, ttft_ms_sum, ttft_count)
        SELECT CAST({hour} AS INTEGER) * 3600 AS h, COALESCE(key_id, ''),
            COALESCE(team, ''), COALESCE("user", ''), model, COUNT(*),
            SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),
            SUM(CASE WHEN cache IN ('hit', 'semantic-hit') THEN 1 ELSE 0 END),
            SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), SUM(cost_usd),
            SUM(latency_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
        FROM usage_records
        GROUP BY h, COALESCE(key_id, ''), COALESCE(team, ''), COALESCE("user", ''), model
        """
    )


def downgrade() -> None:
    op.drop_index("ix_usage_rollups_model_hour", table_name="usage_rollups")
    op.drop_table("usage_rollups")
