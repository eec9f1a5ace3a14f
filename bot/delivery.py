"""The delivery worker: sends what the outbox holds, once, in order per chat, within limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain import Button, Category, Language, OutMessage, Photo, pseudonym
from bot.geo import Router
from bot.i18n import Texts
from bot.render import CardContext, card_buttons, card_caption, waiting_list
from bot.settings import Settings
from storage.store import Card, OutboxItem, Store, Tx

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: int
    photo_file_id: str | None = None


class RetryLater(Exception):
    """Telegram asked us to slow down (429)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class ChatGone(Exception):
    """The bot can no longer write to the chat (removed, blocked, chat deleted)."""


class ChatMoved(Exception):
    """The group became a supergroup with a new id."""

    def __init__(self, new_chat_id: int) -> None:
        super().__init__(f"moved to {new_chat_id}")
        self.new_chat_id = new_chat_id


class Undeliverable(Exception):
    """Telegram refused the message itself; sending it again would fail the same way."""


class Transient(Exception):
    """A network fault or a server error: worth another try later."""


class Kind:
    """What an outbox message is; cards are rendered when sent, so they show the latest state."""

    TEXT = "text"
    CARD = "card"
    CARD_EDIT = "card_edit"
    SUPERVISOR_CARD = "supervisor_card"
    # A flooded group's list of reports whose cards are still queued; it goes ahead of them.
    WAITING_LIST = "waiting_list"


class Transport(Protocol):
    async def send(self, message: OutMessage, upload: bytes | None) -> Sent:
        """Send a new message, or edit the one message.edit_message_id names."""
        ...


class Delivery:
    def __init__(
        self,
        *,
        store: Store,
        transport: Transport,
        router: Router,
        categories: Sequence[Category],
        texts: Texts,
        settings: Settings,
        clock: Clock,
        on_chat_gone: Callable[[int], object] | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 100,
        parallel_chats: int = 128,
        group_budget: int = 20,
        holder: str | None = None,
    ) -> None:
        """group_budget: the messages Telegram lets a group have per window (20 a minute)."""
        self.store = store
        self.transport = transport
        self.router = router
        self.categories = {c.id: c for c in categories}
        self.texts = texts
        self.settings = settings
        self.clock = clock
        self.on_chat_gone = on_chat_gone
        self.lease = lease
        self.batch = batch
        # This worker's name on its leases; a worker restarted under it takes them back at once.
        self.holder = holder
        self.parallel = asyncio.Semaphore(parallel_chats)
        self._wake = asyncio.Event()
        self._stopping = False
        # Chats with a task sending right now, and the messages that task still holds.
        self._busy: dict[int, list[OutboxItem]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # A flooded group is shown the cards queued behind its next window of budget as a list,
        # at most once every half window of messages (see the README, "Floods").
        self.list_beyond = group_budget
        self.list_every = group_budget // 2
        self._since_list: dict[int, int] = {}

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Hand due messages to one task per chat until stopped; sleep until the next is due.

        A chat's task sends its messages in order; chats run side by side, so a group waiting
        out its flood limit never holds up riders' confirmations in other chats.
        """
        if self.holder is not None:
            async with self.store.tx() as tx:
                freed = await tx.release_leases_of(self.holder)
            if freed:
                log.info("took back %d messages leased before a restart", freed)
        heartbeat = asyncio.create_task(self._heartbeat(), name="delivery-lease-heartbeat")
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    due = await self._dispatch()
                except Exception:
                    log.exception("delivery round failed; trying again shortly")
                    due = None
                wait = 5.0
                if due is not None:
                    wait = min(wait, max(0.0, (due - self.clock()).total_seconds()))
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=wait)
        finally:
            heartbeat.cancel()
            await self._shutdown()

    async def dispatch(self) -> int:
        """Lease what is due in chats that are not busy and start a task for each such chat."""
        async with self.store.tx() as tx:
            items = await self._claim(tx)
        self._start(items)
        return len(items)

    async def _dispatch(self) -> datetime | None:
        """Dispatch, and say when the next message not in hand falls due (unless woken again
        meanwhile: the loop then goes round at once anyway)."""
        async with self.store.tx() as tx:
            items = await self._claim(tx)
            due = None
            if not self._wake.is_set():
                busy = set(self._busy) | {i.chat_id for i in items if i.chat_id is not None}
                due = await tx.next_due(self.clock(), skip_chats=busy)
        self._start(items)
        return due

    async def _claim(self, tx: Tx) -> list[OutboxItem]:
        return await tx.claim_due(
            self.clock(), self.lease, self.batch, skip_chats=set(self._busy), holder=self.holder
        )

    def _start(self, items: list[OutboxItem]) -> None:
        """One task per chat, sending its leased messages in order (after the lease commits)."""
        by_chat: dict[int, list[OutboxItem]] = defaultdict(list)
        for item in items:
            assert item.chat_id is not None
            by_chat[item.chat_id].append(item)
        for chat_id, queue in by_chat.items():
            # A list held up (by a retry, a restart) still goes before the cards it lists.
            queue.sort(key=lambda item: item.kind != Kind.WAITING_LIST)
            self._busy[chat_id] = queue
            task = asyncio.create_task(self._deliver_chat(chat_id, queue), name=f"chat-{chat_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no chat task is running (for tests and orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _heartbeat(self) -> None:
        """Keep the leases of messages still queued in chat tasks from running out."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            held = [item.id for queue in self._busy.values() for item in queue]
            try:
                async with self.store.tx() as tx:
                    await tx.extend_lease(held, self.clock() + self.lease)
            except Exception:
                log.exception("could not extend delivery leases")

    async def _shutdown(self, grace_s: float = 10.0) -> None:
        """Let each chat finish the message in hand (so a message that went out is recorded as
        sent, not sent again), then stop; what is still queued is released for the next run."""
        if self._tasks:
            _, late = await asyncio.wait(list(self._tasks), timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _deliver_chat(self, chat_id: int, queue: list[OutboxItem]) -> None:
        try:
            async with self.parallel:
                while queue and not self._stopping:
                    if chat_id < 0:
                        # Staff see their presses on the card now, not after a flood's cards:
                        # edits of posted cards go first, and Telegram does not count them.
                        queue[:0] = await self._list_backlog(chat_id) + await self._edits(chat_id)
                    item = queue[0]
                    if _superseded(item, queue[1:]):
                        # A later edit of the same card follows; it shows the latest state anyway.
                        async with self.store.tx() as tx:
                            await tx.mark_sent(item.id, None, self.clock())
                        queue.pop(0)
                        continue
                    try:
                        await self._deliver(item)
                    except RetryLater as exc:
                        await self._postpone(queue, exc.seconds, str(exc), count=False)
                        queue.clear()
                    except ChatMoved as exc:
                        async with self.store.tx() as tx:
                            await tx.move_chat(chat_id, exc.new_chat_id)
                        await self._postpone(queue, 0, str(exc), count=False)
                        queue.clear()
                    except ChatGone as exc:
                        log.warning("chat %s is gone: %s", chat_id, exc)
                        await self._chat_gone(chat_id, list(queue), str(exc))
                        queue.clear()
                    except Undeliverable as exc:
                        log.error("message %s refused for good: %s", item.key, exc)
                        async with self.store.tx() as tx:
                            await tx.mark_failed(item.id, str(exc))
                        queue.pop(0)
                    except Transient as exc:
                        backoff = min(300.0, 2.0 ** min(item.attempts, 9))
                        log.warning("message %s failed (%s); retry in %ss", item.key, exc, backoff)
                        await self._postpone([item], backoff, str(exc), count=True)
                        await self._postpone(queue[1:], backoff, "behind a retry", count=False)
                        queue.clear()
                    else:
                        queue.pop(0)
                        if chat_id < 0:
                            self._since_list[chat_id] = self._since_list.get(chat_id, 0) + 1
        except Exception:
            log.exception("delivery to chat %s failed", chat_id)
            await self._postpone(queue, 5, "unexpected error", count=True)
            queue.clear()
        finally:
            if queue:  # stopped (or cancelled) with messages in hand: free them for the next run
                with contextlib.suppress(Exception):
                    async with self.store.tx() as tx:
                        await tx.release_lease([item.id for item in queue])
            if self._busy.get(chat_id) is queue:
                del self._busy[chat_id]
            self.wake()

    async def _edits(self, chat_id: int) -> list[OutboxItem]:
        """Card edits queued for this chat since its messages were leased, leased now."""
        now = self.clock()
        async with self.store.tx() as tx:
            return await tx.claim_edits(chat_id, Kind.CARD_EDIT, now, now + self.lease, self.holder)

    async def _list_backlog(self, chat_id: int) -> list[OutboxItem]:
        """When more cards wait for a group than its next window of budget sends, queue a list of
        those no list has shown yet, leased to this task, to go out before everything else."""
        if self._since_list.get(chat_id, self.list_every) < self.list_every:
            return []
        async with self.store.tx() as tx:
            late = await tx.unlisted(chat_id, kind=Kind.CARD, beyond=self.list_beyond)
            if not late:
                return []
            reports = await tx.reports_numbered([card.report_id for card in late if card.report_id])
            lang = self._language(late[0].community_id)
            texts = waiting_list(self.texts, lang, reports, self.categories, self.settings.timezone)
            now = self.clock()
            lists = await tx.queue_lists(
                chat_id=chat_id,
                kind=Kind.WAITING_LIST,
                texts=texts,
                cards=late,
                now=now,
                lease_until=now + self.lease,
                holder=self.holder,
            )
        self._since_list[chat_id] = 0
        log.info(
            "group %s: %d queued cards listed in %d message(s)", chat_id, len(late), len(lists)
        )
        return lists

    async def _deliver(self, item: OutboxItem) -> None:
        message, upload, media_id = await self._compose(item)
        if message is None:
            async with self.store.tx() as tx:
                await tx.mark_failed(item.id, "nothing to send any more")
            return
        sent = await self.transport.send(message, upload)
        now = self.clock()
        async with self.store.tx() as tx:
            await tx.mark_sent(item.id, sent.message_id, now)
            if media_id is not None and sent.photo_file_id is not None:
                await tx.remember_file_id(media_id, sent.photo_file_id)
            if item.kind == Kind.CARD and item.report_id is not None and item.community_id:
                card = Card(item.report_id, item.community_id, message.chat_id, sent.message_id)
                await tx.add_card(card, now)
        log.info("sent %s to %s", item.key, message.chat_id, extra={"report": item.report_id})

    async def _compose(
        self, item: OutboxItem
    ) -> tuple[OutMessage | None, bytes | None, int | None]:
        """Build the message; cards are rendered now, from the report as it is now."""
        assert item.chat_id is not None
        if item.kind in (Kind.CARD, Kind.SUPERVISOR_CARD, Kind.CARD_EDIT):
            return await self._compose_card(item)
        payload = item.payload
        buttons = tuple(
            tuple(Button(b["text"], b.get("data"), b.get("url")) for b in row)
            for row in payload.get("buttons", ())
        )
        reply_to = payload.get("reply_to")
        if payload.get("reply_to_card") and item.report_id is not None:
            async with self.store.tx() as tx:
                cards = await tx.cards_of(item.report_id)
            reply_to = next(
                (c.message_id for c in cards if c.community_id == payload["reply_to_card"]), None
            )
        photo = Photo(file_id=payload["photo"]) if payload.get("photo") else None
        upload: bytes | None = None
        media_id = payload.get("media_id")
        if media_id is not None:  # a picture we made (the digest's chart), uploaded once
            async with self.store.tx() as tx:
                upload, file_id = await tx.media(int(media_id))
            photo = Photo(file_id=file_id, media_id=int(media_id))
            upload = None if file_id else upload
        message = OutMessage(
            chat_id=item.chat_id,
            text=str(payload["text"]),
            photo=photo,
            buttons=buttons,
            reply_to_message_id=reply_to,
            remove_reply_keyboard=bool(payload.get("remove_keyboard", False)),
        )
        return message, upload, photo.media_id if photo else None

    async def _compose_card(
        self, item: OutboxItem
    ) -> tuple[OutMessage | None, bytes | None, int | None]:
        assert item.chat_id is not None and item.report_id is not None
        card_community = item.community_id if item.kind != Kind.SUPERVISOR_CARD else None
        async with self.store.tx() as tx:
            report = await tx.report(item.report_id)
            if report is None:
                return None, None, None
            holder = await tx.staff_name(report.holder_id) if report.holder_id else None
            edit_id = None
            if item.kind == Kind.CARD_EDIT:
                cards = await tx.cards_of(report.number)
                edit_id = next(
                    (c.message_id for c in cards if c.community_id == card_community), None
                )
                if edit_id is None:
                    return None, None, None
            upload = None
            photo = report.photo
            if photo.media_id is not None:
                data, file_id = await tx.media(photo.media_id)
                photo = Photo(file_id=file_id, media_id=photo.media_id)
                upload = None if file_id else data
        lang = self._language(card_community)
        category = self.categories[report.category]
        late = self.clock() - report.filed_at > timedelta(hours=category.sla_hours)
        ctx = CardContext(
            category=category,
            overdue=late and report.is_active,
            community_name=self._name(card_community or report.community_id),
            rider_pseudonym=pseudonym(report.rider_id),
            zone=self.settings.timezone,
            card_community=card_community,
            holder_name=holder,
            now_community_name=self._name(report.community_id),
        )
        message = OutMessage(
            chat_id=item.chat_id,
            text=card_caption(self.texts, lang, report, ctx),
            photo=photo,
            buttons=card_buttons(self.texts, lang, report, card_community),
            edit_message_id=edit_id,
        )
        if edit_id is not None:
            return message, None, None
        return message, upload, photo.media_id

    def _name(self, community_id: str | None) -> str | None:
        return self.router.area(community_id).name if community_id else None

    def _language(self, community_id: str | None) -> Language:
        if community_id is None:
            return self.settings.default_language
        return Language(self.router.area(community_id).language)

    async def _postpone(
        self, items: Sequence[OutboxItem], seconds: float, error: str, *, count: bool
    ) -> None:
        at = self.clock() + timedelta(seconds=seconds)
        async with self.store.tx() as tx:
            for item in items:
                await tx.mark_retry(item.id, at, error, count=count)

    async def _chat_gone(self, chat_id: int, items: Sequence[OutboxItem], error: str) -> None:
        community_items = [i for i in items if i.community_id is not None]
        others = [i for i in items if i.community_id is None]
        async with self.store.tx() as tx:
            for item in others:
                await tx.mark_failed(item.id, error)
        if community_items and self.on_chat_gone is not None:
            # The desk unlinks the group, parks its messages until a new link, tells supervisors.
            await _maybe_await(self.on_chat_gone(chat_id))
        elif community_items:
            await self._postpone(community_items, 60, error, count=True)


def _superseded(item: OutboxItem, later: Sequence[OutboxItem]) -> bool:
    return item.kind == Kind.CARD_EDIT and any(
        other.kind == Kind.CARD_EDIT
        and other.report_id == item.report_id
        and other.community_id == item.community_id
        for other in later
    )


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value):
        await value
