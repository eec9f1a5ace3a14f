"""events name their action

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("action", sa.String(16), nullable=False, server_default="filed"))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("action")
