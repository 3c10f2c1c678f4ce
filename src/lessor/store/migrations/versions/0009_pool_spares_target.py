"""A pool's spares target, sized each hour from its history by target_wait, and why.

- `pool_states.spares_target`: the spares the planner keeps (NULL: max_prealloc), so every
  server sharing the database keeps the same number; `spares_reason`: the words shown with it.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pool_states") as batch:
        batch.add_column(sa.Column("spares_target", sa.Integer))
        batch.add_column(sa.Column("spares_reason", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("pool_states") as batch:
        batch.drop_column("spares_reason")
        batch.drop_column("spares_target")
