"""Ticket keys and idempotency keys, resalloc's reuse columns, a pool's start state, meta.

- `tickets.key_hash`: the SHA-256 of the key a ticket's holder proves itself with
  (the key is given out once and never stored); `tickets.idempotency_key`: a
  retried open answers the ticket the first attempt made.
- `resources.sandboxed_since`, `released_at`: resalloc's columns; reuse_max_time
  counts from the first assignment, as there.
- `pool_states.last_start`, `start_failures`, `last_failure`, `failed_at`: start_delay counts from
  the last start even after its resource ended or the server restarted, and failed
  starts in a row back off.
- `meta`: the database's identity, which its log directory is marked with.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NAMED = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("key_hash", sa.String(64)))
        batch.add_column(sa.Column("idempotency_key", sa.String(128)))
    op.create_index(
        "uq_tickets_idempotency_key",
        "tickets",
        ["idempotency_key"],
        unique=True,
        sqlite_where=NAMED,
        postgresql_where=NAMED,
    )
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("sandboxed_since", sa.Float))
        batch.add_column(sa.Column("released_at", sa.Float))
    with op.batch_alter_table("pool_states") as batch:
        batch.add_column(sa.Column("last_start", sa.Float, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("start_failures", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_failure", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("failed_at", sa.Float))
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    op.bulk_insert(meta, [{"key": "database_id", "value": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("meta")
    with op.batch_alter_table("pool_states") as batch:
        for column in ("failed_at", "last_failure", "start_failures", "last_start"):
            batch.drop_column(column)
    with op.batch_alter_table("resources") as batch:
        for column in ("released_at", "sandboxed_since"):
            batch.drop_column(column)
    op.drop_index("uq_tickets_idempotency_key", "tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in ("idempotency_key", "key_hash"):
            batch.drop_column(column)
