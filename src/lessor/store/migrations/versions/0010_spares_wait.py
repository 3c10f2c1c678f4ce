"""The p95 wait forecast with a pool's sized spares, which /metrics and the API show.

- `pool_states.spares_wait`: seconds (NULL: not sized by target_wait).

Revision ID: 0010
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pool_states") as batch:
        batch.add_column(sa.Column("spares_wait", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("pool_states") as batch:
        batch.drop_column("spares_wait")
