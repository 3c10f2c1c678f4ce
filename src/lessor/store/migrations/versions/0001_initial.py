"""Initial schema: tickets, resources, their events, and pool states (drain, last definition).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RESOURCE_STATES = ("STARTING", "UP", "TAKEN", "RELEASING", "DELETE_REQUESTED", "DELETING", "ENDED")
TICKET_STATES = ("OPEN", "ASSIGNED", "CLOSED", "FAILED")


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("sandbox", sa.String(255)),
        sa.Column(
            "state",
            sa.Enum(*TICKET_STATES, name="ticket_state", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("resource_id", sa.Integer),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("assigned_at", sa.Float),
        sa.Column("closed_at", sa.Float),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("ttl", sa.Float),
        sa.Column("expires_at", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
    )
    op.create_index(
        "ix_tickets_active",
        "tickets",
        ["state"],
        sqlite_where=sa.text("state IN ('OPEN', 'ASSIGNED')"),
        postgresql_where=sa.text("state IN ('OPEN', 'ASSIGNED')"),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pool", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column(
            "state",
            sa.Enum(*RESOURCE_STATES, name="resource_state", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("data", sa.LargeBinary),
        sa.Column("ticket_id", sa.Integer),
        sa.Column("sandbox", sa.String(255)),
        sa.Column("id_in_pool", sa.Integer, nullable=False),
        sa.Column("releases", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("state_since", sa.Float, nullable=False),
        sa.Column("last_livecheck", sa.Float),
        sa.Column("livecheck_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("delete_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float, nullable=False, server_default="0"),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("counters", sa.JSON, nullable=False, server_default="{}"),
        sa.Column("hold_reason", sa.Text),
        sa.Column("reserved_for", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_resources"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_resources_ticket_id"),
    )
    op.create_index(
        "ix_resources_live",
        "resources",
        ["pool", "state"],
        sqlite_where=sa.text("state != 'ENDED'"),
        postgresql_where=sa.text("state != 'ENDED'"),
    )
    op.create_index(
        "uq_resources_live_id_in_pool",
        "resources",
        ["pool", "id_in_pool"],
        unique=True,
        sqlite_where=sa.text("state != 'ENDED'"),
        postgresql_where=sa.text("state != 'ENDED'"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.Integer),
        sa.Column("resource_id", sa.Integer),
        sa.Column("pool", sa.String(255)),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("details", sa.JSON, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_ticket_id", "events", ["ticket_id"])
    op.create_index("ix_events_resource_id", "events", ["resource_id"])
    op.create_index("ix_events_at", "events", ["at"])
    op.create_table(
        "pool_states",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("drained", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("drain_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("definition", sa.JSON),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_pool_states"),
    )


def downgrade() -> None:
    op.drop_table("pool_states")
    op.drop_table("events")
    op.drop_table("resources")
    op.drop_table("tickets")
