"""A town without Telegram: the desks and supervision over a real database, time injected."""

from __future__ import annotations

from pathlib import Path

from bot import callbacks
from bot.callbacks import CardAction, OnCard
from bot.categories import load_categories
from bot.core import Core
from bot.desk import Person, ReportDesk
from bot.domain import Language, Photo, Staff
from bot.geo import Router, load_communities
from bot.i18n import Texts
from bot.settings import Settings
from bot.staffdesk import StaffDesk
from bot.supervision import Supervision
from bot.workflow import Workflow
from storage.db import make_engine, migrate
from storage.store import Card, Store
from tests.conftest import FakeClock

RIDER = Person(9001, "zh-hans")
STAFF = [Staff(501, "李姐"), Staff(502, "王哥")]
GROUPS = {"longquan": -1001, "chengbei": -1002}


class World:
    """The desks over a fresh SQLite database, every staff member in every linked group."""

    def __init__(
        self,
        folder: Path,
        clock: FakeClock,
        *,
        env: dict[str, str] | None = None,
        database_url: str | None = None,
    ) -> None:
        self.settings = Settings.from_mapping({"SUPERVISOR_CHAT_IDS": "-5000", **(env or {})})
        areas = load_communities(self.settings.communities_file)
        categories = load_categories(self.settings.categories_file)
        router = Router(areas)
        texts = Texts.load()
        self.store = Store(make_engine(database_url or f"sqlite+aiosqlite:///{folder}/w.db"))
        self.clock = clock
        core = Core(self.store, router, categories, texts, self.settings, clock)
        workflow = Workflow(core)

        async def everyone_is_a_member(chat_id: int, user_id: int) -> bool:
            return True

        self.rider = ReportDesk(core, workflow)
        self.staff = StaffDesk(core, workflow, is_member=everyone_is_a_member)
        self.supervision = Supervision(core, workflow)

    async def open(self) -> None:
        await migrate(self.store.engine)
        for community, chat in GROUPS.items():
            async with self.store.tx() as tx:
                await tx.link(community, chat, None, self.clock())

    async def file(
        self,
        category: str = "sanitation",
        point: tuple[float, float] = (36.115, 113.207),
        rider: Person | None = None,
    ) -> int:
        rider = rider or RIDER
        await self.rider.photo(rider, Photo(file_id="AgADphoto"), "垃圾满了")
        await self.rider.location(rider, *point)
        await self.rider.press(rider, callbacks.encode(callbacks.PickCategory(category)))
        async with self.store.tx() as tx:
            enrolled = await tx.rider(rider.telegram_id, Language.ZH, self.clock())
            mine, _ = await tx.reports_of_rider(enrolled.id, self.clock().replace(year=2000), 0, 1)
        return mine[0].number

    async def card_message(self, number: int) -> tuple[int, int]:
        """Where the report's current card is; cards are recorded as if Telegram had sent them."""
        async with self.store.tx() as tx:
            report = await tx.report(number)
            assert report is not None and report.community_id is not None
            chat = GROUPS[report.community_id]
            cards = [c for c in await tx.cards_of(number) if c.community_id == report.community_id]
            if not cards:
                card = Card(number, report.community_id, chat, 10_000 + number * 10 + len(GROUPS))
                await tx.add_card(card, self.clock())
                return chat, card.message_id
        return chat, cards[0].message_id

    async def press(self, who: Staff, number: int, data: str) -> str | None:
        chat, message = await self.card_message(number)
        answer = await self.staff.press(chat, who, message, data)
        if answer.prompt is None:
            return answer.toast
        return answer.toast

    async def act(self, who: Staff, number: int, action: CardAction) -> str | None:
        chat, message = await self.card_message(number)
        answer = await self.staff.press(
            chat, who, message, callbacks.encode(OnCard(action, number))
        )
        return answer.toast

    async def resolve(self, who: Staff, number: int, note: str | None = None) -> None:
        chat, message = await self.card_message(number)
        await self.act(who, number, CardAction.RESOLVE)
        if note is None:
            await self.act(who, number, CardAction.SKIP)
        else:
            await self.staff.reply(chat, who, message, [], text=note, photo_file_id=None)

    async def outbox_keys(self) -> list[str]:
        async with self.store.tx() as tx:
            rows = await tx.conn.exec_driver_sql("SELECT key FROM outbox ORDER BY id")
            return [str(r[0]) for r in rows.all()]

    async def close(self) -> None:
        await self.store.close()
