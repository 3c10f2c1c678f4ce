"""Jobs, users: tickets that are parts of a job (planner/jobs.py), users and owners.

- `tickets.job_id`: the job a ticket is a part of (the id of the job's first part);
  `tickets.part`: the part's name in it. A partial index finds a job's parts.
- `users`: a name, its token's SHA-256, admin, privileges, quotas (domain/users.py);
  `tickets.owner`: the user who opened it.

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
        batch.add_column(sa.Column("owner", sa.String(64)))
    op.create_index(
        "ix_tickets_job_id",
        "tickets",
        ["job_id"],
        sqlite_where=JOB_PART,
        postgresql_where=JOB_PART,
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("privileges", sa.JSON, nullable=False),
        sa.Column("quotas", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
        sa.PrimaryKeyConstraint("name", name="pk_users"),
        sa.UniqueConstraint("token_hash", name="uq_users_token_hash"),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_index("ix_tickets_job_id", "tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in ("owner", "part", "job_id"):
            batch.drop_column(column)
