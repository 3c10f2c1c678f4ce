"""Index only the events that name a ticket, or a resource.

A ticket's first event (opened) names no resource, a reused resource's
last (released) no ticket. Their NULLs sat at one end of each index, so
every busy commit wrote one more page of each, for entries no query looks
up: every lookup is by a given id.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("ticket_id", "resource_id")


def upgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_events_{column}", "events")
        named = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_events_{column}", "events", [column], sqlite_where=named, postgresql_where=named
        )


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_events_{column}", "events")
        op.create_index(f"ix_events_{column}", "events", [column])
