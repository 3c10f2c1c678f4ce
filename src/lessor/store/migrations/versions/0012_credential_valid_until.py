"""A credential's own end, so that cmd_extend runs when its ticket's lease outgrows it.

- `resources.valid_until`: the LESSOR_EXPIRES_AT its cmd_new or last cmd_extend was told
  (NULL: none, as for every resource that is not a credential).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("valid_until", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("valid_until")
