"""console narrow rollups

Revision ID: 0017
Revises: 0016

Replaces the wide ``usage_rollups`` (hour, key, team, user, model) with two narrow ones
(lockgate.console.rollups): ``usage_hourly`` per (hour, model) and ``usage_daily`` per
(day, key|team|user, value, model), and latency/TTFT histograms ``usage_latency`` per
(hour, model), all folded from usage_records once here.  Replaces
the model, key_id and user indexes of usage_records with (model|key_id|user, started_at),
which serve the console's logs list and every earlier lookup.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_SUMS = """COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),
    SUM(CASE WHEN cache IN ('hit', 'semantic-hit') THEN 1 ELSE 0 END),
    SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), SUM(cost_usd),
    SUM(latency_ms), COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)"""
_COLUMNS = """requests, errors, cache_hits, prompt_tokens, completion_tokens, cached_tokens,
    cost_usd, latency_ms_sum, ttft_ms_sum, ttft_count"""


def _sums() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
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
    ]


def upgrade() -> None:
    op.drop_index("ix_usage_rollups_model_hour", table_name="usage_rollups")
    op.drop_table("usage_rollups")
    op.create_table(
        "usage_hourly",
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        *_sums(),
    )
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.BigInteger, primary_key=True),
        sa.Column("dim", sa.String(8), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        *_sums(),
    )
    # the composites serve every lookup the single-column ones did: drop those (cheaper writes)
    op.create_table(
        "usage_latency",
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("metric", sa.String(8), primary_key=True),
        sa.Column("bucket", sa.SmallInteger, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_usage_records_model_started", "usage_records", ["model", "started_at"])
    op.create_index("ix_usage_records_key_started", "usage_records", ["key_id", "started_at"])
    op.create_index("ix_usage_records_user_started", "usage_records", ["user", "started_at"])
    op.drop_index("ix_usage_records_model", table_name="usage_records")
    op.drop_index("ix_usage_records_key_id", table_name="usage_records")
    op.drop_index("ix_usage_records_user", table_name="usage_records")
    pg = op.get_bind().dialect.name == "postgresql"

    def bucket(seconds: int) -> str:
        if pg:
            return f"CAST(FLOOR(started_at / {seconds}) AS BIGINT) * {seconds}"
        return f"CAST(started_at / {seconds} AS INTEGER) * {seconds}"

    op.execute(
        f"INSERT INTO usage_hourly (hour, model, {_COLUMNS}) "
        f"SELECT {bucket(3600)} AS h, model, {_SUMS} FROM usage_records GROUP BY h, model"
    )
    for dim, column in (("key", "key_id"), ("team", "team"), ("user", '"user"')):
        op.execute(
            f"INSERT INTO usage_daily (day, dim, value, model, {_COLUMNS}) "
            f"SELECT {bucket(86400)} AS d, '{dim}', {column}, model, {_SUMS} "
            f"FROM usage_records WHERE {column} IS NOT NULL AND {column} != '' "
            f"GROUP BY d, {column}, model"
        )

    for metric, column in (("latency", "latency_ms"), ("ttft", "ttft_ms")):
        # lockgate.console.histogram's buckets: [1.5**i, 1.5**(i+1)) ms, 32 of them
        whens = " ".join(f"WHEN {column} < {1.5 ** (i + 1)!r} THEN {i}" for i in range(31))
        case = f"CASE {whens} ELSE 31 END"
        op.execute(
            f"INSERT INTO usage_latency (hour, model, metric, bucket, count) "
            f"SELECT {bucket(3600)} AS h, model, '{metric}', {case} AS b, COUNT(*) "
            f"FROM usage_records WHERE {column} IS NOT NULL GROUP BY h, model, b"
        )


def downgrade() -> None:
    op.create_index("ix_usage_records_key_id", "usage_records", ["key_id"])
    op.create_index("ix_usage_records_model", "usage_records", ["model"])
    op.create_index("ix_usage_records_user", "usage_records", ["user"])
    op.drop_index("ix_usage_records_user_started", table_name="usage_records")
    op.drop_index("ix_usage_records_key_started", table_name="usage_records")
    op.drop_index("ix_usage_records_model_started", table_name="usage_records")
    op.drop_table("usage_latency")
    op.drop_table("usage_daily")
    op.drop_table("usage_hourly")
    op.create_table(
        "usage_rollups",
        sa.Column("hour", sa.Integer, primary_key=True),
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("team", sa.String(200), primary_key=True),
        sa.Column("user", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        *_sums(),
    )
    op.create_index("ix_usage_rollups_model_hour", "usage_rollups", ["model", "hour"])
