"""The schema, in SQLAlchemy Core; the migrations in storage/migrations create exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Store naive UTC, hand back aware UTC, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


metadata = sa.MetaData()

riders = sa.Table(
    "riders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("telegram_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("language_chosen", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

media = sa.Table(
    "media",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("mime_type", sa.String(64), nullable=False),
    # Once uploaded, Telegram's own file_id is reused instead of the bytes.
    sa.Column("telegram_file_id", sa.String(256)),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

drafts = sa.Table(
    "drafts",
    metadata,
    sa.Column("rider_id", sa.Integer, sa.ForeignKey("riders.id"), primary_key=True),
    sa.Column("photo_file_id", sa.String(256)),
    sa.Column("media_id", sa.Integer, sa.ForeignKey("media.id")),
    sa.Column("lat", sa.Float),
    sa.Column("lon", sa.Float),
    sa.Column("category", sa.String(32)),
    sa.Column("note", sa.Text),
    sa.Column("step", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

reports = sa.Table(
    "reports",
    metadata,
    # The public number riders and staff see as #123.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rider_id", sa.Integer, sa.ForeignKey("riders.id"), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("photo_file_id", sa.String(256)),
    sa.Column("media_id", sa.Integer, sa.ForeignKey("media.id")),
    sa.Column("note", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("community_id", sa.String(64)),
    sa.Column("route_kind", sa.String(16), nullable=False),
    sa.Column("route_distance_m", sa.Float, nullable=False),
    sa.Column("filed_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Who holds the report now (staff Telegram id), and since when.
    sa.Column("holder_id", sa.BigInteger),
    sa.Column("held_since", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("resolution_note", sa.Text),
    sa.Column("after_photo_file_id", sa.String(256)),
    sa.Column("reopened", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("duplicate_of", sa.Integer),
    sa.Column("rider_answered", sa.Boolean, nullable=False, server_default=sa.false()),
    # When the SLA reminder (75 %) and the overdue notice went out: each is sent once, ever.
    sa.Column("reminded_at", UTCDateTime),
    sa.Column("overdue_at", UTCDateTime),
    sa.Index("ix_reports_rider_filed", "rider_id", "filed_at"),
    sa.Index("ix_reports_status_filed", "status", "filed_at"),
    sa.Index("ix_reports_community_status", "community_id", "status"),
    sa.Index("ix_reports_filed", "filed_at"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("from_status", sa.String(16)),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False, server_default="filed"),
    sa.Column("note", sa.Text),
    sa.Column("community_id", sa.String(64)),
    sa.Index("ix_events_report", "report_id", "id"),
    sa.Index("ix_events_at", "at"),
)

community_links = sa.Table(
    "community_links",
    metadata,
    sa.Column("community_id", sa.String(64), primary_key=True),
    sa.Column("chat_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("linked_by", sa.BigInteger),
    sa.Column("linked_at", UTCDateTime, nullable=False),
)

# One row a message to send: the intent is committed with the change that caused it, and the
# delivery worker sends it later, so a crash or an outage between the two loses nothing.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # What this message is about, unique, so the same intent is never queued twice.
    sa.Column("key", sa.String(128), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("chat_id", sa.BigInteger),
    sa.Column("community_id", sa.String(64)),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id")),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime),
    # Which worker holds the lease: a worker restarted under the same name takes its own back.
    sa.Column("leased_by", sa.String(64)),
    sa.Column("last_error", sa.Text),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Index("ix_outbox_due", "state", "next_attempt_at"),
    sa.Index("ix_outbox_chat", "chat_id", "state"),
)

# Staff are named on cards (riders never are): the name Telegram last gave us for each.
staff = sa.Table(
    "staff",
    metadata,
    sa.Column("telegram_id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# A question the bot asked in a staff group and waits for a reply to: proof of a fix, the
# number of the original of a duplicate, or a note on why a report is invalid.
pending_inputs = sa.Table(
    "pending_inputs",
    metadata,
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("staff_id", sa.BigInteger, nullable=False),
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# One row per supervisors' chat and local day: the digest is claimed here, in the transaction that
# queues it, so two processes or a restart never send a day's digest twice.
digests = sa.Table(
    "digests",
    metadata,
    sa.Column("chat_id", sa.BigInteger, primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

cards = sa.Table(
    "cards",
    metadata,
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), primary_key=True),
    sa.Column("community_id", sa.String(64), primary_key=True),
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.BigInteger, nullable=False),
    sa.Column("posted_at", UTCDateTime, nullable=False),
    sa.Index("ix_cards_message", "chat_id", "message_id"),
)

# Every update Telegram sends to the webhook, kept before Telegram is answered, so none is lost
# in a crash; `done_at` is set in the transaction that applies it, so none is applied twice.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("update_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("done_at", UTCDateTime),
    sa.Index(
        "ix_inbox_pending",
        "chat_id",
        "update_id",
        sqlite_where=sa.text("done_at IS NULL"),
        postgresql_where=sa.text("done_at IS NULL"),
    ),
    sa.Index("ix_inbox_received", "received_at"),
)

# Which worker applies a chat's updates right now: one at a time, so they are applied in order.
chat_claims = sa.Table(
    "chat_claims",
    metadata,
    sa.Column("chat_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("until", UTCDateTime, nullable=False),
)

# Cards a flooded staff group has already seen in a "waiting reports" list, each with the list
# that showed it; written with the list's outbox row, so no report is listed twice.
backlog_listed = sa.Table(
    "backlog_listed",
    metadata,
    sa.Column(
        "card_id", sa.Integer, sa.ForeignKey("outbox.id"), primary_key=True, autoincrement=False
    ),
    sa.Column("list_id", sa.Integer, sa.ForeignKey("outbox.id"), nullable=False),
)
