"""flood: the queued cards each "waiting reports" list has shown a flooded group

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backlog_listed",
        sa.Column(
            "card_id",
            sa.Integer(),
            sa.ForeignKey("outbox.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("list_id", sa.Integer(), sa.ForeignKey("outbox.id"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("backlog_listed")
