"""deadlines and digests: SLA reminders sent once, a day's digest claimed once per chat

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("reminded_at", sa.DateTime()))
        batch.add_column(sa.Column("overdue_at", sa.DateTime()))
    op.create_index("ix_reports_status_filed", "reports", ["status", "filed_at"])
    op.create_table(
        "digests",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("digests")
    op.drop_index("ix_reports_status_filed", "reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("overdue_at")
        batch.drop_column("reminded_at")
