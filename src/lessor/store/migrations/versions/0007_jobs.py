"""Jobs: tickets that are parts of a job, granted together (planner/jobs.py).

- `tickets.job_id`: the job a ticket is a part of (the id of the job's first part);
  `tickets.part`: the part's name in it. A partial index finds a job's parts.

Revision ID: 0007
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None

JOB_PART = sa.text("job_id IS NOT NULL")
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("job_id", ID))
        batch.add_column(sa.Column("part", sa.String(255)))
    op.create_index(
        "ix_tickets_job_id",
        "tickets",
        ["job_id"],
        sqlite_where=JOB_PART,
        postgresql_where=JOB_PART,
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_job_id", "tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in ("part", "job_id"):
            batch.drop_column(column)
