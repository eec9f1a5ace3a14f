"""Several delivery workers on one database: every message once, each chat in order."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

from bot.categories import load_categories
from bot.delivery import Delivery, Sent
from bot.domain import Language, OutMessage, Photo, RouteKind, Status
from bot.geo import Router, load_communities
from bot.i18n import Texts
from bot.settings import Settings
from storage.db import make_engine
from storage.store import Card, Store
from tests.conftest import FakeClock


class Recorder:
    """A transport that remembers what each worker sent, and lets other tasks run mid-send."""

    def __init__(self, log: list[tuple[str, int, str]], name: str) -> None:
        self.log = log
        self.name = name
        self.next_id = 0

    async def send(self, message: OutMessage, upload: bytes | None) -> Sent:
        await asyncio.sleep(0)  # yield, so the other worker's claims interleave with ours
        self.log.append((self.name, message.chat_id, message.text))
        self.next_id += 1
        return Sent(self.next_id)


async def test_two_workers_send_every_message_once_and_each_chat_in_order(
    store: Store, database_url: str, clock: FakeClock
) -> None:
    chats = [1001, 1002, 1003, -1004, -1005]
    async with store.tx() as tx:
        for i in range(60):
            chat = chats[i % len(chats)]
            await tx.enqueue(
                key=f"m{i}", kind="text", chat_id=chat, payload={"text": f"{i:03d}"}, now=clock()
            )
    settings = Settings.from_mapping({})
    areas = load_communities(settings.communities_file)
    common = {
        "router": Router(areas),
        "categories": load_categories(settings.categories_file),
        "texts": Texts.load(),
        "settings": settings,
        "clock": clock,
        "lease": timedelta(seconds=60),
        "batch": 7,
    }
    log: list[tuple[str, int, str]] = []
    second_store = Store(make_engine(database_url))
    workers = [
        Delivery(store=store, transport=Recorder(log, "a"), **common),  # type: ignore[arg-type]
        Delivery(store=second_store, transport=Recorder(log, "b"), **common),  # type: ignore[arg-type]
    ]
    try:
        for _ in range(200):
            await asyncio.gather(*(w.dispatch() for w in workers))
            await asyncio.gather(*(w.idle() for w in workers))
            async with store.tx() as tx:
                if (await tx.outbox_counts()).get("pending", 0) == 0:
                    break
        texts = [text for _, _, text in log]
        assert sorted(texts) == [f"{i:03d}" for i in range(60)], "each message exactly once"
        per_chat: dict[int, list[str]] = defaultdict(list)
        for _, chat, text in log:
            per_chat[chat].append(text)
        for chat, sent in per_chat.items():
            assert sent == sorted(sent), f"chat {chat} out of order: {sent}"
        assert {name for name, _, _ in log} == {"a", "b"}, "both workers took part"
    finally:
        await second_store.close()


async def test_queued_edits_of_one_card_are_sent_once(
    store: Store, database_url: str, clock: FakeClock
) -> None:
    """Three state changes in a row: the card is edited once, to the latest state."""
    settings = Settings.from_mapping({})
    async with store.tx() as tx:
        rider = await tx.rider(1, Language.ZH, clock())
        report = await tx.add_report(
            rider_id=rider.id,
            category="sanitation",
            lat=36.115,
            lon=113.207,
            photo=Photo(file_id="AgAD"),
            note=None,
            status=Status.OPEN,
            community_id="longquan",
            route_kind=RouteKind.INSIDE,
            route_distance_m=0.0,
            now=clock(),
        )
        await tx.add_card(Card(report.number, "longquan", -100, 7), clock())
        for step in range(3):
            await tx.enqueue(
                key=f"edit:{step}",
                kind="card_edit",
                chat_id=-100,
                community_id="longquan",
                report_id=report.number,
                now=clock(),
            )
    log: list[tuple[str, int, str]] = []
    areas = load_communities(settings.communities_file)
    worker = Delivery(
        store=store,
        transport=Recorder(log, "a"),
        router=Router(areas),
        categories=load_categories(settings.categories_file),
        texts=Texts.load(),
        settings=settings,
        clock=clock,
    )
    await worker.dispatch()
    await worker.idle()
    assert len(log) == 1
    async with store.tx() as tx:
        assert await tx.outbox_counts() == {"sent": 3}
