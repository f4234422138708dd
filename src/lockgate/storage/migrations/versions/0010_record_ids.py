"""usage rows keyed by the gateway's own request id; the client's id kept beside it

Revision ID: 0010
Revises: 0009

``usage_records.request_id`` used to be the client's ``x-request-id`` when one was
sent, so one reused id failed every batch it was in.  From now on ``request_id`` is
always the gateway's own (unique) id and the client's goes to ``client_request_id``,
indexed for correlation.

``audit_head`` keeps the audit chain's newest (seq, hash), written in the same
transaction as each append, so ``lockgate audit verify`` notices a cut-off tail.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.add_column("usage_records", sa.Column("client_request_id", sa.String(128), nullable=True))
    op.create_index("ix_usage_records_client_request_id", "usage_records", ["client_request_id"])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_usage_records_client_request_id", table_name="usage_records")
    op.drop_column("usage_records", "client_request_id")
