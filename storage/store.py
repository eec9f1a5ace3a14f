"""Queries, grouped in one transaction object; they take and return domain values."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import (
    Action,
    Draft,
    Event,
    Language,
    PendingInput,
    Photo,
    Report,
    Rider,
    RouteKind,
    Staff,
    Status,
    Step,
)
from storage.db import Conn, InLoop, in_loop_engine
from storage.inbox import applying, mark_done
from storage.tables import (
    backlog_listed,
    cards,
    community_links,
    digests,
    drafts,
    events,
    media,
    outbox,
    pending_inputs,
    reports,
    riders,
    staff,
)

ACTIVE_STATES = (Status.OPEN.value, Status.CLAIMED.value, Status.UNROUTED.value)
_RAW = sa.types.NullType()
# The first key of PostgreSQL advisory locks on chats (the second is the chat id).
_CHAT_LOCK = 0x5353
# Set while this task is inside a SQLite transaction: a second one would wait for ever.
_inside: ContextVar[bool] = ContextVar("inside_transaction", default=False)


def _parser(sample: Any) -> Callable[[Any], datetime]:
    """The fastest way to read times shaped like the sample (a whole column is one shape)."""
    if isinstance(sample, str):
        parse = datetime.fromisoformat
        return lambda text: parse(text).replace(tzinfo=UTC)
    return lambda value: value.replace(tzinfo=UTC)


def _utc(value: Any) -> datetime:
    """A time as the driver gives it (text from SQLite, naive datetime from asyncpg), as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC)


class OutboxState:
    PENDING = "pending"
    # Waiting for a staff group to be linked to the community (or re-linked after removal).
    WAITING = "waiting"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    key: str
    kind: str
    chat_id: int | None
    community_id: str | None
    report_id: int | None
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class Card:
    report_number: int
    community_id: str
    chat_id: int
    message_id: int


# The statements run for every update and every message, built once with their parameters
# left open: building a statement and its cache key costs more than SQLite running it.
# A rider comes with their draft, if any: nearly every update of a rider reads both.
_RIDER_BY_TELEGRAM_ID = (
    sa.select(riders, *(c.label(f"draft_{c.name}") for c in drafts.c))
    .select_from(riders.outerjoin(drafts, drafts.c.rider_id == riders.c.id))
    .where(riders.c.telegram_id == sa.bindparam("telegram"))
)
_RIDER_BY_ID = sa.select(riders).where(riders.c.id == sa.bindparam("rider"))
_DRAFT = sa.select(drafts).where(drafts.c.rider_id == sa.bindparam("rider"))


# Each database's own INSERT, with its ON CONFLICT clauses.
_INSERT: dict[str, Callable[[sa.Table], pg.Insert | sqlite.Insert]] = {
    "postgresql": pg_insert,
    "sqlite": sqlite_insert,
}


def _per_database(
    build: Callable[[Callable[[sa.Table], pg.Insert | sqlite.Insert]], sa.Executable],
) -> dict[str, sa.Executable]:
    """A statement built once for each database, from that database's INSERT."""
    return {name: build(insert) for name, insert in _INSERT.items()}


def _draft_upsert(insert: Callable[[sa.Table], pg.Insert | sqlite.Insert]) -> sa.Executable:
    """A draft's row is written whole at each step; created_at is kept from its first step."""
    stmt = insert(drafts)
    kept = ("rider_id", "created_at")
    return stmt.on_conflict_do_update(
        index_elements=[drafts.c.rider_id],
        set_={c.name: stmt.excluded[c.name] for c in drafts.c if c.name not in kept},
    )


_SAVE_DRAFT = _per_database(_draft_upsert)
_TAKE_DRAFT = sa.delete(drafts).where(
    drafts.c.rider_id == sa.bindparam("rider"), drafts.c.updated_at == sa.bindparam("read_at")
)
_REPORT = sa.select(reports).where(reports.c.id == sa.bindparam("number"))
_ADD_REPORT = sa.insert(reports).returning(*reports.c)
_FILED_SINCE = (
    sa.select(sa.func.count())
    .select_from(reports)
    .where(reports.c.rider_id == sa.bindparam("rider"), reports.c.filed_at >= sa.bindparam("since"))
)
_LINKS = sa.select(community_links)
_ADD_EVENT = sa.insert(events)
_ADD_CARD = sa.insert(cards)
_ENQUEUE = _per_database(  # a message is queued once: a second intent with the same key is ignored
    lambda insert: insert(outbox).on_conflict_do_nothing(index_elements=["key"])
)
_FREE = sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < sa.bindparam("now"))
_OTHER = outbox.alias("other")
_CHAT_BUSY = (
    sa.select(_OTHER.c.id)
    .where(
        _OTHER.c.chat_id == outbox.c.chat_id,
        _OTHER.c.state == OutboxState.PENDING,
        _OTHER.c.lease_until >= sa.bindparam("now"),
    )
    .exists()
)
_NOT_SKIPPED = outbox.c.chat_id.not_in(sa.bindparam("skip", expanding=True))
_DUE_CHATS = (
    sa.select(outbox.c.chat_id)
    .where(
        outbox.c.state == OutboxState.PENDING,
        outbox.c.next_attempt_at <= sa.bindparam("now"),
        _FREE,
        ~_CHAT_BUSY,
        _NOT_SKIPPED,
    )
    .group_by(outbox.c.chat_id)
    .order_by(sa.func.min(outbox.c.id))
    .limit(sa.bindparam("limit"))
)
_CLAIM_CHAT = (
    sa.update(outbox)
    .where(
        outbox.c.chat_id == sa.bindparam("chat"),
        outbox.c.state == OutboxState.PENDING,
        outbox.c.next_attempt_at <= sa.bindparam("now"),
        _FREE,
        ~_CHAT_BUSY,
    )
    .values(lease_until=sa.bindparam("until"), leased_by=sa.bindparam("holder"))
    .returning(*outbox.c)
)
_CLAIM_KIND = (  # more of a chat's messages, for the worker that holds the chat
    sa.update(outbox)
    .where(
        outbox.c.chat_id == sa.bindparam("chat"),
        outbox.c.kind == sa.bindparam("of_kind"),
        outbox.c.state == OutboxState.PENDING,
        outbox.c.next_attempt_at <= sa.bindparam("now"),
        _FREE,
    )
    .values(lease_until=sa.bindparam("until"), leased_by=sa.bindparam("holder"))
    .returning(*outbox.c)
)
_QUEUED = (  # a chat's queue behind its first `beyond`, each with whether a list showed it
    sa.select(
        outbox,
        sa.select(backlog_listed.c.card_id)
        .where(backlog_listed.c.card_id == outbox.c.id)
        .exists()
        .label("listed"),
    )
    .where(outbox.c.chat_id == sa.bindparam("chat"), outbox.c.state == OutboxState.PENDING)
    .order_by(outbox.c.id)
    .offset(sa.bindparam("beyond"))
)
_NEXT_DUE = (
    sa.select(outbox.c.next_attempt_at)
    .where(outbox.c.state == OutboxState.PENDING, _FREE, _NOT_SKIPPED)
    .order_by(outbox.c.next_attempt_at)
    .limit(1)
)
_MARK_SENT = (
    sa.update(outbox)
    .where(outbox.c.id == sa.bindparam("item"))
    .values(
        state=OutboxState.SENT,
        message_id=sa.bindparam("message"),
        sent_at=sa.bindparam("now"),
        lease_until=None,
        attempts=outbox.c.attempts + 1,
    )
)


class Store:
    """The database, opened once; every unit of work is one `async with store.tx()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite: statements run on the loop's thread, one transaction at a time (storage/db.py).
        self._local = in_loop_engine(engine)
        self._turn = asyncio.Lock()
        self._held: Connection | None = None  # SQLite: one connection, kept open

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Tx]:
        # While an update from the inbox is applied, its first transaction also marks it done,
        # so a crash after the commit never applies it a second time.
        turn = applying.get()
        async with self._begin() as conn:
            yield Tx(conn)
            if turn is not None and not turn.marked:
                await mark_done(conn, turn.update_id, datetime.now(UTC))
        if turn is not None:
            turn.marked = True

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[Conn]:
        if self._local is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        if _inside.get():
            raise RuntimeError("a SQLite transaction was opened inside another one")
        async with self._turn:
            if self._held is None or self._held.invalidated:
                self._held = self._local.connect()
            inside = _inside.set(True)
            try:
                with self._held.begin():
                    yield InLoop(self._held)
            finally:
                _inside.reset(inside)

    async def close(self) -> None:
        if self._local is not None:
            async with self._turn:
                if self._held is not None:
                    self._held.close()
                    self._held = None
            self._local.dispose()
        await self.engine.dispose()


class Tx:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        # Drafts read along with their rider in this transaction, until this one changes them.
        self._drafts: dict[int, Draft | None] = {}

    def insert(self, table: sa.Table) -> pg.Insert | sqlite.Insert:
        """An INSERT with this database's own ON CONFLICT clauses (PostgreSQL's or SQLite's)."""
        return _INSERT[self.conn.dialect.name](table)

    async def _add_unless_there(self, table: sa.Table, key: list[str], **values: object) -> bool:
        """Insert a row unless one with the same key exists; True if this call added it.

        ON CONFLICT DO NOTHING rather than a savepoint: the SQLite driver commits the whole
        transaction when a savepoint opens it, so the claim would outlive a crash before the
        rest of the transaction was committed.
        """
        added = await self.conn.execute(
            self.insert(table).values(**values).on_conflict_do_nothing(index_elements=key)
        )
        return bool(added.rowcount)

    # riders ------------------------------------------------------------------------------------

    async def rider(self, telegram_id: int, language: Language, now: datetime) -> Rider:
        """The rider with this Telegram id, enrolled on first contact."""
        row = await self._one(_RIDER_BY_TELEGRAM_ID, telegram=telegram_id)
        if row is None:
            # Another update of the same rider may have enrolled them a moment ago.
            await self._add_unless_there(
                riders,
                ["telegram_id"],
                telegram_id=telegram_id,
                language=language.value,
                language_chosen=False,
                created_at=now,
            )
            row = await self._one(_RIDER_BY_TELEGRAM_ID, telegram=telegram_id)
            assert row is not None
        rider = _rider(row)
        draft = {c.name: row[f"draft_{c.name}"] for c in drafts.c}
        self._drafts[rider.id] = None if draft["rider_id"] is None else _draft(draft)
        return rider

    async def rider_by_id(self, rider_id: int) -> Rider:
        row = await self._one(_RIDER_BY_ID, rider=rider_id)
        assert row is not None, f"no rider {rider_id}"
        return _rider(row)

    async def set_language(self, rider_id: int, language: Language) -> None:
        await self.conn.execute(
            sa.update(riders)
            .where(riders.c.id == rider_id)
            .values(language=language.value, language_chosen=True)
        )

    # drafts ------------------------------------------------------------------------------------

    async def draft(self, rider_id: int) -> Draft | None:
        if rider_id in self._drafts:
            return self._drafts[rider_id]
        row = await self._one(_DRAFT, rider=rider_id)
        return None if row is None else _draft(row)

    async def save_draft(self, draft: Draft, now: datetime) -> Draft:
        values = {
            "photo_file_id": draft.photo.file_id if draft.photo else None,
            "media_id": draft.photo.media_id if draft.photo else None,
            "lat": draft.lat,
            "lon": draft.lon,
            "category": draft.category,
            "note": draft.note,
            "step": draft.step.value,
            "updated_at": now,
        }
        self._drafts.pop(draft.rider_id, None)
        upsert = _SAVE_DRAFT[self.conn.dialect.name]
        await self.conn.execute(upsert, {"rider_id": draft.rider_id, "created_at": now, **values})
        return replace(draft, updated_at=now)

    async def take_draft(self, draft: Draft) -> bool:
        """Remove the draft as it was read; False if another update changed or filed it first."""
        self._drafts.pop(draft.rider_id, None)
        gone = await self.conn.execute(
            _TAKE_DRAFT, {"rider": draft.rider_id, "read_at": draft.updated_at}
        )
        return gone.rowcount == 1

    async def drop_draft(self, rider_id: int) -> bool:
        self._drafts.pop(rider_id, None)
        gone = await self.conn.execute(sa.delete(drafts).where(drafts.c.rider_id == rider_id))
        return gone.rowcount > 0

    # media -------------------------------------------------------------------------------------

    async def add_media(self, data: bytes, mime_type: str, now: datetime) -> int:
        result = await self.conn.execute(
            sa.insert(media)
            .values(data=data, mime_type=mime_type, created_at=now)
            .returning(media.c.id)
        )
        return int(result.scalar_one())

    async def media(self, media_id: int) -> tuple[bytes, str | None]:
        row = await self._one(sa.select(media).where(media.c.id == media_id))
        assert row is not None, f"no media {media_id}"
        return bytes(row["data"]), row["telegram_file_id"]

    async def remember_file_id(self, media_id: int, file_id: str) -> None:
        await self.conn.execute(
            sa.update(media).where(media.c.id == media_id).values(telegram_file_id=file_id)
        )

    # reports -----------------------------------------------------------------------------------

    async def add_report(
        self,
        *,
        rider_id: int,
        category: str,
        lat: float,
        lon: float,
        photo: Photo,
        note: str | None,
        status: Status,
        community_id: str | None,
        route_kind: RouteKind,
        route_distance_m: float,
        now: datetime,
    ) -> Report:
        result = await self.conn.execute(
            _ADD_REPORT,
            {
                "rider_id": rider_id,
                "category": category,
                "lat": lat,
                "lon": lon,
                "photo_file_id": photo.file_id,
                "media_id": photo.media_id,
                "note": note,
                "status": status.value,
                "community_id": community_id,
                "route_kind": route_kind.value,
                "route_distance_m": route_distance_m,
                "filed_at": now,
                "updated_at": now,
            },
        )
        report = _report(result.mappings().one())
        await self.add_event(
            Event(
                report.number,
                now,
                None,
                status,
                actor=f"rider:{rider_id}",
                community_id=community_id,
            )
        )
        return report

    async def report(self, number: int) -> Report | None:
        row = await self._one(_REPORT, number=number)
        return None if row is None else _report(row)

    async def transition(
        self,
        number: int,
        *,
        frm: Collection[Status],
        to: Status,
        action: Action,
        actor: str,
        at: datetime,
        note: str | None = None,
        expect: Mapping[str, Any] | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> Report | None:
        """Move the report from one of `frm` to `to`, only if it is still there; else None.

        The condition is checked by the database in the same UPDATE, so of two staff pressing at
        once exactly one changes the report; `expect` adds column conditions (holder, community).
        """
        query = sa.update(reports).where(
            reports.c.id == number, reports.c.status.in_([s.value for s in frm])
        )
        for column, value in (expect or {}).items():
            query = query.where(
                reports.c[column].is_(None) if value is None else reports.c[column] == value
            )
        changed = await self.conn.execute(
            query.values(status=to.value, updated_at=at, **dict(changes or {})).returning(
                *reports.c
            )
        )
        row = changed.mappings().first()
        if row is None:
            return None
        report = _report(row)
        await self.add_event(
            Event(
                number,
                at,
                Status(next(iter(frm))) if len(frm) == 1 else await self._previous(number),
                to,
                actor=actor,
                action=action,
                note=note,
                community_id=report.community_id,
            )
        )
        return report

    async def _previous(self, number: int) -> Status | None:
        result = await self.conn.execute(
            sa.select(events.c.to_status)
            .where(events.c.report_id == number)
            .order_by(events.c.id.desc())
            .limit(1)
        )
        value = result.scalar_one_or_none()
        return None if value is None else Status(value)

    async def update_report(self, number: int, **changes: Any) -> None:
        """Details that are not a transition (the rider's answer flag, for one)."""
        await self.conn.execute(sa.update(reports).where(reports.c.id == number).values(**changes))

    async def reports_of_rider(
        self, rider_id: int, since: datetime, offset: int, limit: int
    ) -> tuple[list[Report], int]:
        where = (reports.c.rider_id == rider_id, reports.c.filed_at >= since)
        total = await self.conn.execute(
            sa.select(sa.func.count()).select_from(reports).where(*where)
        )
        rows = await self.conn.execute(
            sa.select(reports)
            .where(*where)
            .order_by(reports.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [_report(r) for r in rows.mappings()], int(total.scalar_one())

    async def active_reports(self, community_id: str) -> list[Report]:
        rows = await self.conn.execute(
            sa.select(reports)
            .where(
                reports.c.community_id == community_id,
                reports.c.status.in_([Status.OPEN.value, Status.CLAIMED.value]),
            )
            .order_by(reports.c.filed_at, reports.c.id)
        )
        return [_report(r) for r in rows.mappings()]

    # deadlines, digests, supervisors -----------------------------------------------------------

    async def due_for_reminder(
        self,
        category: str,
        filed_before: datetime,
        *,
        column: str,
        strictly: bool = False,
        limit: int = 500,
    ) -> list[Report]:
        """Active reports of a category filed by the threshold whose notice is not yet out."""
        filed = reports.c.filed_at
        rows = await self.conn.execute(
            sa.select(reports)
            .where(
                reports.c.status.in_(ACTIVE_STATES),
                reports.c.category == category,
                filed < filed_before if strictly else filed <= filed_before,
                reports.c[column].is_(None),
            )
            .order_by(reports.c.filed_at)
            .limit(limit)
        )
        return [_report(r) for r in rows.mappings()]

    async def mark_notice(self, number: int, column: str, now: datetime) -> bool:
        """Record that a deadline notice is out; False if another worker recorded it first."""
        changed = await self.conn.execute(
            sa.update(reports)
            .where(reports.c.id == number, reports.c[column].is_(None))
            .values(**{column: now})
        )
        return changed.rowcount == 1

    async def claim_digest(self, chat_id: int, day: str, now: datetime) -> bool:
        """Take the right to send this chat's digest of this day; only one caller ever gets it."""
        return await self._add_unless_there(
            digests, ["chat_id", "day"], chat_id=chat_id, day=day, created_at=now
        )

    async def digest_claimed(self, chat_id: int, day: str) -> bool:
        found = await self._one(
            sa.select(digests.c.day).where(digests.c.chat_id == chat_id, digests.c.day == day)
        )
        return found is not None

    async def cohort(self, start: datetime, end: datetime) -> tuple[dict[int, str], list[Event]]:
        """Reports filed in [start, end): their categories, and their events before `end`."""
        cohorts = await self.cohorts([(start, end)])
        return cohorts[0]

    async def cohorts(
        self, periods: Sequence[tuple[datetime, datetime]]
    ) -> list[tuple[dict[int, str], list[Event]]]:
        """For each period, the reports filed in it and their events before its end.

        One pass for all periods: report numbers grow with filing time, so each period's reports
        are one range of numbers and its events one range of the events index. Times are read
        raw and parsed here: on a million reports that is twice as fast as the column type.
        """
        first, last = min(p[0] for p in periods), max(p[1] for p in periods)
        filed = await self.conn.execute(
            sa.select(reports.c.id, reports.c.category, sa.type_coerce(reports.c.filed_at, _RAW))
            .where(reports.c.filed_at >= first, reports.c.filed_at < last)
            .order_by(reports.c.id)
        )
        rows = [(int(n), str(c), _utc(f)) for n, c, f in filed.all()]
        if not rows:
            return [({}, []) for _ in periods]
        found = await self.conn.execute(
            sa.select(
                events.c.report_id,
                sa.type_coerce(events.c.at, _RAW),
                events.c.from_status,
                events.c.to_status,
                events.c.action,
                events.c.community_id,
            )
            .where(events.c.report_id.between(rows[0][0], rows[-1][0]), events.c.at < last)
            .order_by(events.c.report_id, events.c.id)
        )
        statuses: dict[str | None, Status | None] = {s.value: s for s in Status}
        statuses[None] = None
        actions = {a.value: a for a in Action}
        raw = found.all()
        parse = _parser(raw[0][1]) if raw else _utc
        all_events = [
            Event(number, parse(at), statuses[frm], statuses[to], "", actions[action], None, place)  # type: ignore[arg-type]
            for number, at, frm, to, action, place in raw
        ]
        by_report: dict[int, list[Event]] = {}
        for event in all_events:
            by_report.setdefault(event.report_number, []).append(event)
        result = []
        for start, end in periods:
            categories = {n: c for n, c, f in rows if start <= f < end}
            mine = [e for n in categories for e in by_report.get(n, ()) if e.at < end]
            result.append((categories, mine))
        return result

    async def backlog(
        self, now: datetime, sla_hours: Mapping[str, float]
    ) -> list[tuple[str | None, int, int]]:
        """Per community: reports staff still have to act on, and how many of them are late."""
        late = sa.case(
            *(
                (reports.c.category == category, reports.c.filed_at < now - timedelta(hours=hours))
                for category, hours in sla_hours.items()
            ),
            else_=False,
        )
        rows = await self.conn.execute(
            sa.select(
                reports.c.community_id,
                sa.func.count(),
                sa.func.sum(sa.case((late, 1), else_=0)),
            )
            .where(reports.c.status.in_(ACTIVE_STATES))
            .group_by(reports.c.community_id)
        )
        return [(c, int(n), int(o or 0)) for c, n, o in rows.all()]

    async def oldest_active(self, limit: int) -> list[Report]:
        """One short walk of the (status, filed_at) index per active state, then merged."""
        found: list[Report] = []
        for state in ACTIVE_STATES:
            rows = await self.conn.execute(
                sa.select(reports)
                .where(reports.c.status == state)
                .order_by(reports.c.filed_at, reports.c.id)
                .limit(limit)
            )
            found += [_report(r) for r in rows.mappings()]
        return sorted(found, key=lambda r: (r.filed_at, r.number))[:limit]

    async def unrouted(self, limit: int = 20) -> list[Report]:
        rows = await self.conn.execute(
            sa.select(reports)
            .where(reports.c.status == Status.UNROUTED.value)
            .order_by(reports.c.filed_at)
            .limit(limit)
        )
        return [_report(r) for r in rows.mappings()]

    async def reports_between(self, start: datetime, end: datetime) -> list[Report]:
        rows = await self.conn.execute(
            sa.select(reports)
            .where(reports.c.filed_at >= start, reports.c.filed_at < end)
            .order_by(reports.c.id)
        )
        return [_report(r) for r in rows.mappings()]

    async def events_between(self, low: int, high: int) -> list[Event]:
        rows = await self.conn.execute(
            sa.select(events).where(events.c.report_id.between(low, high)).order_by(events.c.id)
        )
        return [_event(row) for row in rows.mappings()]

    # staff and questions waiting for a reply ---------------------------------------------------

    async def remember_staff(self, person: Staff, now: datetime) -> None:
        changed = await self.conn.execute(
            sa.update(staff)
            .where(staff.c.telegram_id == person.telegram_id)
            .values(name=person.name, updated_at=now)
        )
        if changed.rowcount == 0:  # (or remembered a moment ago by another update)
            await self._add_unless_there(
                staff,
                ["telegram_id"],
                telegram_id=person.telegram_id,
                name=person.name,
                updated_at=now,
            )

    async def staff_name(self, telegram_id: int) -> str | None:
        result = await self.conn.execute(
            sa.select(staff.c.name).where(staff.c.telegram_id == telegram_id)
        )
        name: str | None = result.scalar_one_or_none()
        return name

    async def ask(self, pending: PendingInput) -> None:
        """Wait for a reply on this report (one question per report; a new one replaces it)."""
        await self.conn.execute(
            sa.delete(pending_inputs).where(pending_inputs.c.report_id == pending.report_number)
        )
        await self.conn.execute(
            sa.insert(pending_inputs).values(
                report_id=pending.report_number,
                kind=pending.kind,
                staff_id=pending.staff_id,
                chat_id=pending.chat_id,
                created_at=pending.created_at,
            )
        )

    async def pending(self, number: int) -> PendingInput | None:
        row = await self._one(sa.select(pending_inputs).where(pending_inputs.c.report_id == number))
        if row is None:
            return None
        return PendingInput(
            row["report_id"],
            row["kind"],
            int(row["staff_id"]),
            int(row["chat_id"]),
            row["created_at"],
        )

    async def answered(self, number: int, kind: str | None = None) -> bool:
        """Forget the question; False if there was none (of that kind) to forget."""
        query = sa.delete(pending_inputs).where(pending_inputs.c.report_id == number)
        if kind is not None:
            query = query.where(pending_inputs.c.kind == kind)
        return (await self.conn.execute(query)).rowcount > 0

    async def reports_filed_since(self, rider_id: int, since: datetime) -> int:
        result = await self.conn.execute(_FILED_SINCE, {"rider": rider_id, "since": since})
        return int(result.scalar_one())

    async def add_event(self, event: Event) -> None:
        await self.conn.execute(
            _ADD_EVENT,
            {
                "report_id": event.report_number,
                "at": event.at,
                "from_status": event.from_status.value if event.from_status else None,
                "to_status": event.to_status.value,
                "actor": event.actor,
                "action": event.action.value,
                "note": event.note,
                "community_id": event.community_id,
            },
        )

    async def events_of(self, number: int) -> list[Event]:
        result = await self.conn.execute(
            sa.select(events).where(events.c.report_id == number).order_by(events.c.id)
        )
        return [_event(row) for row in result.mappings()]

    # staff groups ------------------------------------------------------------------------------

    async def links(self) -> dict[str, int]:
        result = await self.conn.execute(_LINKS)
        return {row["community_id"]: int(row["chat_id"]) for row in result.mappings()}

    async def link(self, community_id: str, chat_id: int, by: int | None, now: datetime) -> None:
        """Make chat_id the staff group of community_id (a chat serves one community)."""
        await self.conn.execute(
            sa.delete(community_links).where(
                sa.or_(
                    community_links.c.community_id == community_id,
                    community_links.c.chat_id == chat_id,
                )
            )
        )
        await self.conn.execute(
            sa.insert(community_links).values(
                community_id=community_id, chat_id=chat_id, linked_by=by, linked_at=now
            )
        )

    async def unlink_chat(self, chat_id: int) -> str | None:
        """Forget the group; returns the community it served, if any."""
        result = await self.conn.execute(
            sa.delete(community_links)
            .where(community_links.c.chat_id == chat_id)
            .returning(community_links.c.community_id)
        )
        community_id: str | None = result.scalar_one_or_none()
        return community_id

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> str | None:
        """A group became a supergroup: its link, cards and queued messages follow it."""
        result = await self.conn.execute(
            sa.update(community_links)
            .where(community_links.c.chat_id == old_chat_id)
            .values(chat_id=new_chat_id)
            .returning(community_links.c.community_id)
        )
        community_id: str | None = result.scalar_one_or_none()
        await self.conn.execute(
            sa.update(outbox)
            .where(outbox.c.chat_id == old_chat_id, outbox.c.state == OutboxState.PENDING)
            .values(chat_id=new_chat_id)
        )
        return community_id

    # outbox ------------------------------------------------------------------------------------

    async def enqueue(
        self,
        *,
        key: str,
        kind: str,
        chat_id: int | None,
        now: datetime,
        payload: Mapping[str, Any] | None = None,
        report_id: int | None = None,
        community_id: str | None = None,
    ) -> bool:
        """Queue a message once: a second intent with the same key is ignored."""
        added = await self.conn.execute(
            _ENQUEUE[self.conn.dialect.name],
            {
                "key": key,
                "kind": kind,
                "chat_id": chat_id,
                "community_id": community_id,
                "report_id": report_id,
                "payload": dict(payload or {}),
                "state": OutboxState.PENDING if chat_id is not None else OutboxState.WAITING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
        return added.rowcount == 1

    async def release_waiting(self, community_id: str, chat_id: int, now: datetime) -> int:
        """A group was linked: what waited for the community goes out to it."""
        result = await self.conn.execute(
            sa.update(outbox)
            .where(outbox.c.community_id == community_id, outbox.c.state == OutboxState.WAITING)
            .values(chat_id=chat_id, state=OutboxState.PENDING, next_attempt_at=now)
        )
        return int(result.rowcount)

    async def hold_chat(self, chat_id: int) -> int:
        """The bot left a group: its queued community messages wait for the next link."""
        result = await self.conn.execute(
            sa.update(outbox)
            .where(
                outbox.c.chat_id == chat_id,
                outbox.c.state == OutboxState.PENDING,
                outbox.c.community_id.is_not(None),
            )
            .values(state=OutboxState.WAITING, chat_id=None, lease_until=None)
        )
        return int(result.rowcount)

    async def claim_due(
        self,
        now: datetime,
        lease: timedelta,
        limit: int,
        skip_chats: Collection[int] = (),
        holder: str | None = None,
    ) -> list[OutboxItem]:
        """Lease due messages to this worker (`holder`), whole chats at a time.

        A chat belongs to one worker while any of its messages is leased, so its messages go
        out in order and its flood limit is paced in one place, however many workers share the
        database. A lease that runs out (a worker that died) makes the chat free again.
        """
        due = await self.conn.execute(
            _DUE_CHATS, {"now": now, "skip": list(skip_chats), "limit": limit}
        )
        chats = [int(c) for c in due.scalars().all()]
        postgres = self.conn.dialect.name == "postgresql"
        claimed: list[OutboxItem] = []
        for chat_id in chats:
            if len(claimed) >= limit:
                break
            # Two workers may both see a chat as free; on PostgreSQL the one that takes this
            # lock first claims it, and the other skips it (SQLite has one writer at a time).
            if postgres:
                locked = await self.conn.execute(
                    sa.select(sa.func.pg_try_advisory_xact_lock(_CHAT_LOCK, chat_id % 2**31))
                )
                if not locked.scalar_one():
                    continue
            taken = await self.conn.execute(
                _CLAIM_CHAT, {"chat": chat_id, "now": now, "until": now + lease, "holder": holder}
            )
            rows = sorted(taken.mappings(), key=lambda row: int(row["id"]))
            claimed += [_outbox(row) for row in rows]
        return claimed

    async def extend_lease(self, item_ids: Collection[int], until: datetime) -> None:
        if item_ids:
            await self.conn.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_(list(item_ids)), outbox.c.state == OutboxState.PENDING)
                .values(lease_until=until)
            )

    async def claim_edits(
        self, chat_id: int, kind: str, now: datetime, until: datetime, holder: str | None
    ) -> list[OutboxItem]:
        """Lease the due messages of this kind in a chat this worker already holds."""
        taken = await self.conn.execute(
            _CLAIM_KIND,
            {"chat": chat_id, "of_kind": kind, "now": now, "until": until, "holder": holder},
        )
        return sorted((_outbox(row) for row in taken.mappings()), key=lambda item: item.id)

    async def release_leases_of(self, holder: str) -> int:
        """Free what a worker of this name had leased before it was killed and started again."""
        freed = await self.conn.execute(
            sa.update(outbox)
            .where(outbox.c.leased_by == holder, outbox.c.state == OutboxState.PENDING)
            .values(lease_until=None, leased_by=None)
        )
        return int(freed.rowcount)

    async def release_lease(self, item_ids: Collection[int]) -> None:
        if item_ids:
            await self.conn.execute(
                sa.update(outbox).where(outbox.c.id.in_(list(item_ids))).values(lease_until=None)
            )

    async def next_due(self, now: datetime, skip_chats: Collection[int] = ()) -> datetime | None:
        """When the next message not already leased falls due."""
        result = await self.conn.execute(_NEXT_DUE, {"now": now, "skip": list(skip_chats)})
        value: datetime | None = result.scalar_one_or_none()
        return value

    async def mark_sent(self, item_id: int, message_id: int | None, now: datetime) -> None:
        await self.conn.execute(_MARK_SENT, {"item": item_id, "message": message_id, "now": now})

    async def mark_retry(self, item_id: int, at: datetime, error: str, *, count: bool) -> None:
        await self.conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == item_id)
            .values(
                next_attempt_at=at,
                last_error=error[:500],
                lease_until=None,
                attempts=outbox.c.attempts + (1 if count else 0),
            )
        )

    async def mark_failed(self, item_id: int, error: str) -> None:
        await self.conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == item_id)
            .values(state=OutboxState.FAILED, last_error=error[:500], lease_until=None)
        )

    async def outbox_counts(self) -> dict[str, int]:
        result = await self.conn.execute(
            sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state)
        )
        return {str(state): int(n) for state, n in result.all()}

    # cards -------------------------------------------------------------------------------------

    async def add_card(self, card: Card, now: datetime) -> None:
        await self.conn.execute(
            _ADD_CARD,
            {
                "report_id": card.report_number,
                "community_id": card.community_id,
                "chat_id": card.chat_id,
                "message_id": card.message_id,
                "posted_at": now,
            },
        )

    async def card_at(self, chat_id: int, message_id: int) -> Card | None:
        row = await self._one(
            sa.select(cards).where(cards.c.chat_id == chat_id, cards.c.message_id == message_id)
        )
        if row is None:
            return None
        return Card(
            row["report_id"], row["community_id"], int(row["chat_id"]), int(row["message_id"])
        )

    async def cards_in(self, community_id: str, numbers: Sequence[int]) -> dict[int, int]:
        """The message id of each report's card in the community's group, in one query."""
        if not numbers:
            return {}
        result = await self.conn.execute(
            sa.select(cards.c.report_id, cards.c.message_id).where(
                cards.c.community_id == community_id, cards.c.report_id.in_(list(numbers))
            )
        )
        return {int(n): int(m) for n, m in result.all()}

    async def cards_of(self, number: int) -> list[Card]:
        result = await self.conn.execute(sa.select(cards).where(cards.c.report_id == number))
        return [
            Card(row["report_id"], row["community_id"], int(row["chat_id"]), int(row["message_id"]))
            for row in result.mappings()
        ]

    # -------------------------------------------------------------------------------------------

    async def _one(self, query: sa.Select[Any], **parameters: object) -> RowMapping | None:
        result = await self.conn.execute(query, parameters or None)
        row: RowMapping | None = result.mappings().first()
        return row

    # flood backlog ---------------------------------------------------------------------------

    async def unlisted(self, chat_id: int, *, kind: str, beyond: int) -> list[OutboxItem]:
        """Queued messages of `kind` for the chat behind its first `beyond` that no list showed."""
        queued = await self.conn.execute(_QUEUED, {"chat": chat_id, "beyond": beyond})
        rows = queued.mappings()
        return [_outbox(row) for row in rows if row["kind"] == kind and not row["listed"]]

    async def queue_lists(
        self,
        *,
        chat_id: int,
        kind: str,
        texts: Sequence[str],
        cards: Sequence[OutboxItem],
        now: datetime,
        lease_until: datetime,
        holder: str | None = None,
    ) -> list[OutboxItem]:
        """Queue the list messages, leased to the caller, and record the cards they show."""
        first = min(card.id for card in cards)
        lists: list[OutboxItem] = []
        for part, text in enumerate(texts):
            added = await self.conn.execute(
                sa.insert(outbox)
                .values(
                    key=f"list:{chat_id}:{first}:{part}",
                    kind=kind,
                    chat_id=chat_id,
                    payload={"text": text},
                    state=OutboxState.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    lease_until=lease_until,
                    leased_by=holder,
                    created_at=now,
                )
                .returning(*outbox.c)
            )
            lists.append(_outbox(added.mappings().one()))
        await self.conn.execute(
            sa.insert(backlog_listed),
            [{"card_id": card.id, "list_id": lists[0].id} for card in cards],
        )
        return lists

    async def reports_numbered(self, numbers: Sequence[int]) -> list[Report]:
        found: list[Report] = []
        for part in chunks(numbers, 500):
            result = await self.conn.execute(sa.select(reports).where(reports.c.id.in_(part)))
            found += [_report(row) for row in result.mappings()]
        return sorted(found, key=lambda report: report.number)


def _rider(row: RowMapping) -> Rider:
    return Rider(
        id=row["id"], telegram_id=int(row["telegram_id"]), language=Language(row["language"])
    )


def _event(row: RowMapping) -> Event:
    return Event(
        report_number=row["report_id"],
        at=row["at"],
        from_status=Status(row["from_status"]) if row["from_status"] else None,
        to_status=Status(row["to_status"]),
        actor=row["actor"],
        action=Action(row["action"]),
        note=row["note"],
        community_id=row["community_id"],
    )


def _draft(row: Mapping[Any, Any]) -> Draft:
    photo = None
    if row["photo_file_id"] is not None or row["media_id"] is not None:
        photo = Photo(file_id=row["photo_file_id"], media_id=row["media_id"])
    return Draft(
        rider_id=row["rider_id"],
        photo=photo,
        lat=row["lat"],
        lon=row["lon"],
        category=row["category"],
        note=row["note"],
        step=Step(row["step"]),
        updated_at=row["updated_at"],
    )


def _report(row: RowMapping) -> Report:
    return Report(
        number=row["id"],
        rider_id=row["rider_id"],
        category=row["category"],
        lat=row["lat"],
        lon=row["lon"],
        photo=Photo(file_id=row["photo_file_id"], media_id=row["media_id"]),
        note=row["note"],
        status=Status(row["status"]),
        community_id=row["community_id"],
        route_kind=RouteKind(row["route_kind"]),
        route_distance_m=row["route_distance_m"],
        filed_at=row["filed_at"],
        updated_at=row["updated_at"],
        holder_id=None if row["holder_id"] is None else int(row["holder_id"]),
        held_since=row["held_since"],
        resolved_at=row["resolved_at"],
        resolution_note=row["resolution_note"],
        after_photo_file_id=row["after_photo_file_id"],
        reopened=bool(row["reopened"]),
        duplicate_of=row["duplicate_of"],
        rider_answered=bool(row["rider_answered"]),
    )


def _outbox(row: RowMapping) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        key=row["key"],
        kind=row["kind"],
        chat_id=None if row["chat_id"] is None else int(row["chat_id"]),
        community_id=row["community_id"],
        report_id=row["report_id"],
        payload=dict(row["payload"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
    )


def chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
