"""staff workflow: holders, resolutions, questions awaiting replies

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("holder_id", sa.BigInteger()))
        batch.add_column(sa.Column("held_since", sa.DateTime()))
        batch.add_column(sa.Column("resolved_at", sa.DateTime()))
        batch.add_column(sa.Column("resolution_note", sa.Text()))
        batch.add_column(sa.Column("after_photo_file_id", sa.String(256)))
        batch.add_column(
            sa.Column("reopened", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("duplicate_of", sa.Integer()))
        batch.add_column(
            sa.Column("rider_answered", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "staff",
        sa.Column("telegram_id", sa.BigInteger(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "pending_inputs",
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id"), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_cards_message", "cards", ["chat_id", "message_id"])


def downgrade() -> None:
    op.drop_index("ix_cards_message", "cards")
    op.drop_table("pending_inputs")
    op.drop_table("staff")
    with op.batch_alter_table("reports") as batch:
        for column in (
            "rider_answered",
            "duplicate_of",
            "reopened",
            "after_photo_file_id",
            "resolution_note",
            "resolved_at",
            "held_since",
            "holder_id",
        ):
            batch.drop_column(column)
