"""The inbox: Telegram's updates kept before Telegram is answered, then applied once, in order.

Several workers may serve one webhook behind a load balancer, so a rider's photo may reach one
worker and their location the next. Each worker keeps what it receives here first; then one
worker at a time holds a chat's claim and applies that chat's waiting updates in `update_id`
order. The transaction that applies an update also sets its `done_at` (see `applying`), so a
crash never applies an update twice, and an update kept is never lost.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from storage.tables import chat_claims, inbox

if TYPE_CHECKING:
    from storage.db import Conn
    from storage.store import Tx


@dataclass(slots=True)
class Applying:
    """The update being applied; the first transaction that commits marks it done."""

    update_id: int
    marked: bool = False


# Set by the inbox around the handling of one update; read by Store.tx().
applying: ContextVar[Applying | None] = ContextVar("applying", default=None)


@dataclass(frozen=True, slots=True)
class Kept:
    update_id: int
    payload: str


async def mark_done(conn: Conn, update_id: int, now: datetime) -> None:
    await conn.execute(
        sa.update(inbox)
        .where(inbox.c.update_id == update_id, inbox.c.done_at.is_(None))
        .values(done_at=now)
    )


async def keep(tx: Tx, update_id: int, chat_id: int, payload: str, now: datetime) -> bool:
    """Keep an update; False if it was kept before (Telegram sent it again)."""
    added = await tx.conn.execute(
        tx.insert(inbox)
        .values(update_id=update_id, chat_id=chat_id, payload=payload, received_at=now)
        .on_conflict_do_nothing(index_elements=["update_id"])
    )
    return bool(added.rowcount)


async def claim(tx: Tx, chat_id: int, holder: str, now: datetime, until: datetime) -> bool:
    """Take the chat for `holder` unless another live holder has it."""
    statement = tx.insert(chat_claims).values(chat_id=chat_id, holder=holder, until=until)
    taken = await tx.conn.execute(
        statement.on_conflict_do_update(
            index_elements=["chat_id"],
            set_={"holder": statement.excluded.holder, "until": statement.excluded.until},
            where=sa.or_(chat_claims.c.until < now, chat_claims.c.holder == holder),
        ).returning(chat_claims.c.holder)
    )
    return taken.first() is not None


async def release(tx: Tx, chat_id: int, holder: str) -> None:
    await tx.conn.execute(
        sa.delete(chat_claims).where(
            chat_claims.c.chat_id == chat_id, chat_claims.c.holder == holder
        )
    )


async def extend(tx: Tx, chats: Collection[int], holder: str, until: datetime) -> None:
    if chats:
        await tx.conn.execute(
            sa.update(chat_claims)
            .where(chat_claims.c.chat_id.in_(list(chats)), chat_claims.c.holder == holder)
            .values(until=until)
        )


async def pending(tx: Tx, chat_id: int, limit: int) -> Sequence[Kept]:
    """The chat's updates not applied yet, oldest first."""
    rows = await tx.conn.execute(
        sa.select(inbox.c.update_id, inbox.c.payload)
        .where(inbox.c.chat_id == chat_id, inbox.c.done_at.is_(None))
        .order_by(inbox.c.update_id)
        .limit(limit)
    )
    return [Kept(row.update_id, row.payload) for row in rows]


async def waiting_chats(tx: Tx, received_before: datetime, limit: int = 1000) -> list[int]:
    """Chats with updates nobody is applying (their worker stopped, or lost a race)."""
    rows = await tx.conn.execute(
        sa.select(inbox.c.chat_id)
        .where(inbox.c.done_at.is_(None), inbox.c.received_at <= received_before)
        .group_by(inbox.c.chat_id)
        .limit(limit)
    )
    return [row.chat_id for row in rows]


async def prune(tx: Tx, done_before: datetime) -> int:
    """Forget applied updates once Telegram can no longer send them again."""
    gone = await tx.conn.execute(
        sa.delete(inbox).where(inbox.c.done_at.is_not(None), inbox.c.received_at < done_before)
    )
    return int(gone.rowcount)
