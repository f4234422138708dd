"""batch resume and expiry

Revision ID: 0016
Revises: 0015

``batch_lines.sent_attempt``: the attempt in which the line was marked as sent (committed
before the request leaves).  ``batch_lines.resent``: how many times a line marked sent was
sent again because the replica holding it died or stopped before its answer was stored
(the line is then re-sent with the same Idempotency-Key).  ``batches.expired_at``: set
when a batch outlived its completion window; its unfinished lines are not run and it
ends ``expired``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_lines") as t:
        t.add_column(sa.Column("resent", sa.Integer, nullable=False, server_default="0"))
        t.add_column(sa.Column("sent_attempt", sa.Integer, nullable=True))
    with op.batch_alter_table("batches") as t:
        t.add_column(sa.Column("expired_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as t:
        t.drop_column("expired_at")
    with op.batch_alter_table("batch_lines") as t:
        t.drop_column("sent_attempt")
        t.drop_column("resent")
