"""Indexes shaped after the statements of every ticket's open and close.

- Events are indexed by ticket and by resource only where they name one.
  A ticket's first event (opened) names no resource, a reused resource's
  last (released) no ticket; their NULLs sat at one end of each index, so
  every busy commit wrote one more page of each for entries no query looks
  up (every lookup is by a given id).
- Live resources are indexed by sandbox too, after pool and state: a new
  ticket's spare is then found by a seek, not by reading every ready
  resource of the pool.

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

EVENT_COLUMNS = ("ticket_id", "resource_id")
LIVE = sa.text("state != 'ENDED'")


def upgrade() -> None:
    for column in EVENT_COLUMNS:
        op.drop_index(f"ix_events_{column}", "events")
        named = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_events_{column}", "events", [column], sqlite_where=named, postgresql_where=named
        )
    _live_index(["pool", "state", "sandbox"])


def downgrade() -> None:
    for column in EVENT_COLUMNS:
        op.drop_index(f"ix_events_{column}", "events")
        op.create_index(f"ix_events_{column}", "events", [column])
    _live_index(["pool", "state"])


def _live_index(columns: list[str]) -> None:
    op.drop_index("ix_resources_live", "resources")
    op.create_index(
        "ix_resources_live", "resources", columns, sqlite_where=LIVE, postgresql_where=LIVE
    )
