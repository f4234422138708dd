"""Tables of uploaded files, batches and batch lines (migration 0009, grown by 0016, 0020)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["batch_lines", "batches", "files", "metadata"]

metadata = sa.MetaData()

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("key_id", sa.String(32), nullable=True, index=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("bytes", sa.Integer, nullable=False),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("key_id", sa.String(32), nullable=True, index=True),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("input_file_id", sa.String(40), nullable=False),
    sa.Column("completion_window", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("in_progress_at", sa.Float, nullable=True),
    sa.Column("finalizing_at", sa.Float, nullable=True),
    sa.Column("completed_at", sa.Float, nullable=True),
    sa.Column("failed_at", sa.Float, nullable=True),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("cancelling_at", sa.Float, nullable=True),
    sa.Column("cancelled_at", sa.Float, nullable=True),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("output_file_id", sa.String(40), nullable=True),
    sa.Column("error_file_id", sa.String(40), nullable=True),
    sa.Column("errors", sa.JSON, nullable=True),
    sa.Column("metadata", sa.JSON, nullable=True),
    sa.Column("finalize_owner", sa.String(64), nullable=True),
    sa.Column("finalize_until", sa.Float, nullable=True),
    # set when the completion window ended first (migration 0016)
    sa.Column("expired_at", sa.Float, nullable=True),
    # handed to the provider's own batch API (migration 0020; see batches/handoff.py)
    sa.Column("handoff", sa.String(16), nullable=True),
    sa.Column("handoff_model", sa.String(255), nullable=True),
    sa.Column("handoff_deployment", sa.String(128), nullable=True),
    sa.Column("remote_file_id", sa.String(128), nullable=True),
    sa.Column("remote_batch_id", sa.String(128), nullable=True),
    sa.Column("remote_status", sa.String(32), nullable=True),
    sa.Column("handoff_marked_at", sa.Float, nullable=True),
    sa.Column("handoff_owner", sa.String(64), nullable=True),
    sa.Column("handoff_until", sa.Float, nullable=True),
)

batch_lines = sa.Table(
    "batch_lines",
    metadata,
    sa.Column("batch_id", sa.String(40), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("custom_id", sa.String(512), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    # pending -> running (leased) -> done | failed; pending again if a lease lapses;
    # cancelled or expired if the batch ended first
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response", sa.JSON, nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    # sent again after its replica died or stopped unanswered (migration 0016)
    sa.Column("resent", sa.Integer, nullable=False, default=0, server_default="0"),
    # the attempt in which the line was last handed to the upstream path (migration 0016)
    sa.Column("sent_attempt", sa.Integer, nullable=True),
    sa.Index("ix_batch_lines_claim", "batch_id", "status", "lease_until"),
)
