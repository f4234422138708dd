"""SQLAlchemy Core views of the usage tables (migrations 0002 and 0010 shape them)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["feedback", "metadata", "usage_records"]

metadata = sa.MetaData()

usage_records = sa.Table(
    "usage_records",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("api", sa.String(16), nullable=False),
    sa.Column("key_id", sa.String(32)),
    sa.Column("key_name", sa.String(200)),
    sa.Column("team", sa.String(200)),
    sa.Column("user", sa.String(200)),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("provider", sa.String(32)),
    sa.Column("deployment", sa.String(200)),
    sa.Column("upstream_model", sa.String(200)),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error_type", sa.String(64)),
    sa.Column("error_code", sa.String(64)),
    sa.Column("stream", sa.Boolean, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("cached_tokens", sa.Integer, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("overhead_ms", sa.Float, nullable=False),
    sa.Column("ttft_ms", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("cache", sa.String(32)),
    sa.Column("prompt_version", sa.String(64)),
    sa.Column("client_request_id", sa.String(128)),
    sa.Column("experiment", sa.String(200)),
    sa.Column("variant", sa.String(64)),
    sa.Column("unit", sa.String(16)),
    #: what a cache hit saved (migration 0018)
    sa.Column("saved_usd", sa.Float, nullable=False, server_default="0"),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("key_id", sa.String(32)),
    sa.Column("score", sa.Float),
    sa.Column("thumbs", sa.String(8)),
    sa.Column("task_completed", sa.Boolean),
    sa.Column("comment", sa.Text),
    sa.Column("model", sa.String(200)),
    sa.Column("prompt_version", sa.String(64)),
    sa.Column("judge_score", sa.Float),
)
