"""inbox: updates kept before Telegram is answered, applied once and in order per chat;
the outbox names the worker that leased a message

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("leased_by", sa.String(64)))
    op.create_table(
        "inbox",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime()),
    )
    pending = sa.text("done_at IS NULL")
    op.create_index(
        "ix_inbox_pending",
        "inbox",
        ["chat_id", "update_id"],
        sqlite_where=pending,
        postgresql_where=pending,
    )
    op.create_index("ix_inbox_received", "inbox", ["received_at"])
    op.create_table(
        "chat_claims",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_claims")
    op.drop_index("ix_inbox_received", "inbox")
    op.drop_index("ix_inbox_pending", "inbox")
    op.drop_table("inbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("leased_by")
