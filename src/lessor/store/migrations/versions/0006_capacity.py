"""Capacity: providers, inventories, traits, aggregates, consumers, allocations (issue 18).

Revision ID: 0006
Revises: 0009 (applied after jobs and spares targets: the order they landed in)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0009"
branch_labels = None
depends_on = None

UUID = sa.String(36)


def _provider_fk(primary_key: bool = True) -> sa.Column[str]:
    return sa.Column(
        "provider_uuid",
        UUID,
        sa.ForeignKey("providers.uuid", name=None),
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("uuid", UUID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("parent_uuid", UUID, sa.ForeignKey("providers.uuid")),
        sa.Column("root_uuid", UUID, nullable=False),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_providers_parent_uuid", "providers", ["parent_uuid"])
    op.create_table(
        "inventories",
        _provider_fk(),
        sa.Column("resource_class", sa.String(255), primary_key=True),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("min_unit", sa.Integer, nullable=False),
        sa.Column("max_unit", sa.Integer, nullable=False),
        sa.Column("step_size", sa.Integer, nullable=False),
        sa.Column("allocation_ratio", sa.Float, nullable=False),
    )
    op.create_table(
        "provider_traits", _provider_fk(), sa.Column("trait", sa.String(255), primary_key=True)
    )
    op.create_table(
        "provider_aggregates", _provider_fk(), sa.Column("aggregate", UUID, primary_key=True)
    )
    op.create_table(
        "consumers",
        sa.Column("uuid", UUID, primary_key=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
    )
    op.create_table(
        "allocations",
        sa.Column("consumer_uuid", UUID, primary_key=True),
        _provider_fk(),
        sa.Column("resource_class", sa.String(255), primary_key=True),
        sa.Column("used", sa.Integer, nullable=False),
    )
    op.create_index("ix_allocations_provider_uuid", "allocations", ["provider_uuid"])
    op.create_table(
        "custom_names",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
    )


def downgrade() -> None:
    for table in (
        "custom_names",
        "allocations",
        "consumers",
        "provider_aggregates",
        "provider_traits",
        "inventories",
        "providers",
    ):
        op.drop_table(table)
