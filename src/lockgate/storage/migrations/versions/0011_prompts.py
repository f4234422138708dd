"""prompt registry, experiments, rollouts

Revision ID: 0011
Revises: 0010

``prompt_versions`` are immutable (name, version) rows; ``prompt_labels`` point a label
at a version and every move is appended to ``prompt_label_history`` (who, when,
from/to).  ``lockgate_changes`` is an append-only change counter replicas poll
(``SELECT max(id)``) to learn that labels, experiments or rollouts moved.
``leases`` let exactly one replica drive a rollout.  Usage rows gain the experiment
and variant that served them and a hash of the assignment unit (so experiments are
analysed per user/session/key), feedback a judge score (the evaluation issue's column).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_versions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "prompt_labels",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("label", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=True),
    )
    op.create_table(
        "prompt_label_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, index=True),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "lockgate_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("decision", sa.JSON, nullable=True),
    )
    op.create_table(
        "rollouts",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("experiment", sa.String(200), nullable=True))
        batch.add_column(sa.Column("variant", sa.String(64), nullable=True))
        batch.add_column(sa.Column("unit", sa.String(16), nullable=True))
    op.create_index("ix_usage_records_experiment", "usage_records", ["experiment"])
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("judge_score", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("judge_score")
    op.drop_index("ix_usage_records_experiment", "usage_records")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("unit")
        batch.drop_column("variant")
        batch.drop_column("experiment")
    for table in (
        "leases",
        "rollouts",
        "experiments",
        "lockgate_changes",
        "prompt_label_history",
        "prompt_labels",
        "prompt_versions",
    ):
        op.drop_table(table)
