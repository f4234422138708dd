"""console cache savings

Revision ID: 0018
Revises: 0017

``usage_records.saved_usd``: what a cache hit saved (the answer's price at the alias's
first deployment), and its sums in the console's rollups ``usage_hourly`` and
``usage_daily`` (lockgate.console.rollups), so the overview charts savings over time.
Rows written before this migration saved nothing on record: 0.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_TABLES = ("usage_records", "usage_hourly", "usage_daily")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("saved_usd", sa.Float, nullable=False, server_default="0"))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("saved_usd")
