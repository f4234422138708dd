"""stored responses

Revision ID: 0021
Revises: 0020

``stored_responses``: the Responses API's stored responses (lockgate.responses), so that
``previous_response_id`` and GET/DELETE /v1/responses/{id} work on every replica.  One row
per response: its owner (the API key), the response object and the conversation through
its answer (``body``, JSON text), when it was made and when it expires.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_responses",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_stored_responses_owner", "stored_responses", ["owner", "created_at"])
    op.create_index("ix_stored_responses_expires_at", "stored_responses", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_stored_responses_expires_at", "stored_responses")
    op.drop_index("ix_stored_responses_owner", "stored_responses")
    op.drop_table("stored_responses")
