"""Hooks in flight are rows, and ids are 64-bit on PostgreSQL too.

- `resources.hook`, `hook_owner`, `hook_until`: the hook running on a
  resource was known only to the process that ran it, so a second server
  on the same database could not see it and planned as if none ran. Now it
  is claimed in the row, guarded like a transition.
- Ids were 32-bit `integer` on PostgreSQL (SQLite's rowids are 64-bit):
  an id a client could send was a server error on one database and a
  plain "not found" on the other.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

IDS = {
    "tickets": ("id", "resource_id"),
    "resources": ("id", "ticket_id", "reserved_for"),
    "events": ("id", "ticket_id", "resource_id"),
}


def upgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("hook", sa.String(32)))
        batch.add_column(sa.Column("hook_owner", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("hook_until", sa.Float))
    if op.get_context().dialect.name == "postgresql":
        _ids(sa.BigInteger())


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        _ids(sa.Integer())
    with op.batch_alter_table("resources") as batch:
        for column in ("hook_until", "hook_owner", "hook"):
            batch.drop_column(column)


def _ids(type_: sa.types.TypeEngine[int]) -> None:
    conn = op.get_bind()
    for table, columns in IDS.items():
        for column in columns:
            op.alter_column(table, column, type_=type_)
        # The sequence behind a serial id has a type of its own.
        sequence = conn.execute(
            sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
        ).scalar()
        if sequence:
            op.execute(f"ALTER SEQUENCE {sequence} AS {type_.compile(dialect=conn.dialect)}")
