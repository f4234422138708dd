"""usage rows record the routing decision

Revision ID: 0022
Revises: 0021

``usage_records.route`` (strong | weak | error), ``route_score`` and ``route_threshold``:
what a routing alias (lockgate.routing) decided for the request, beside the deployment
that answered, so the realised strong share and the scores behind it can be read back
from usage. Rows of requests that were not routed (and rows written before this
migration) leave them empty.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("route", sa.String(8)))
        batch.add_column(sa.Column("route_score", sa.Float))
        batch.add_column(sa.Column("route_threshold", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("route_threshold")
        batch.drop_column("route_score")
        batch.drop_column("route")
