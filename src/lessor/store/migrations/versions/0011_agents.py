"""Agents: when each `lessor agent` last sent a heartbeat, and whether it is down.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column(
            "provider_uuid", sa.String(36), sa.ForeignKey("providers.uuid"), primary_key=True
        ),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("down", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agents")
