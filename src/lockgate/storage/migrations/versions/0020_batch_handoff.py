"""batch hand-off to the provider's own batch API

Revision ID: 0020
Revises: 0019

A batch handed to OpenAI's Batches API or Anthropic's Message Batches API (for their
batch discount) keeps its progress on its row: ``handoff`` (the provider), the alias and
deployment it went to, the remote input file and batch ids and status,
``handoff_marked_at`` (committed before the remote batch is created, so a replica that
died in between finds it again instead of creating a second one), and a lease
(``handoff_owner``, ``handoff_until``) so one replica at a time drives it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("handoff", sa.String(16)),
    ("handoff_model", sa.String(255)),
    ("handoff_deployment", sa.String(128)),
    ("remote_file_id", sa.String(128)),
    ("remote_batch_id", sa.String(128)),
    ("remote_status", sa.String(32)),
    ("handoff_marked_at", sa.Float),
    ("handoff_owner", sa.String(64)),
    ("handoff_until", sa.Float),
)


def upgrade() -> None:
    with op.batch_alter_table("batches") as t:
        for name, kind in _COLUMNS:
            t.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as t:
        for name, _ in reversed(_COLUMNS):
            t.drop_column(name)
