"""A flood into one community: every report on its group's screen soon, within the limits.

Time runs K times faster: the local Telegram and the bot's FloodLimiter both apply every one of
Telegram's limits K times faster (a group's 20 messages per 60/K seconds, 30*K messages a second
overall, K a second in a private chat), and the 300 reports of five minutes are filed in 300/K
seconds. The 300 are filed through the bot's desk (photo, location, category: what a rider's
taps call), because driving 300 riders' chats through the local Telegram at this pace would
measure the test's CPU, not the bot; everything the staff group and the riders receive goes
through the real bot, its outbox and its rate limiter, to the local Telegram. One rider in
another community files through their chat during the flood.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import callbacks
from bot.app import Suishoubao, assemble
from bot.desk import Person
from bot.domain import Photo
from bot.settings import Settings
from fakegram.client import Fakegram, text_of
from fakegram.images import jpeg
from handlers.ratelimit import FloodLimiter
from storage.tables import outbox
from tests.e2e.conftest import RIVERSIDE, TOKEN, link_group
from tests.e2e.people import Phone, bot_says

pytestmark = pytest.mark.slow

K = 20  # how much faster than Telegram's time the run goes
WINDOW_S = 60 / K  # a group's budget: 20 messages in any window this long
SLOT_S = WINDOW_S / 20  # one group message, when the budget is in use
REPORTS = 300
RIDERS = 50  # each files 6, within REPORTS_PER_HOUR
CATEGORIES = ("sanitation", "public_order")


@dataclass
class Screen:
    """When each report number first showed in the group, in a list or on a card."""

    chat_id: int
    shown: dict[int, float] = field(default_factory=dict)
    lists: list[list[int]] = field(default_factory=list)
    cards: list[int] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)

    async def watch(self, tg: Fakegram, cursor: int) -> None:
        while True:
            batch = await tg.events(since=cursor, timeout=1)
            cursor = int(batch["last"])
            now = time.monotonic()
            for event in batch["events"]:
                if event["kind"] != "sent" or event["chat_id"] != self.chat_id:
                    continue
                message = event["message"]
                shown = [int(n) for n in re.findall(r"#(\d+)", text_of(message))]
                if message.get("photo"):
                    self.cards.append(shown[0])
                elif text_of(message).startswith("⏳"):
                    self.lists.append(shown)
                self.sent_at.append(now)
                for number in shown:
                    self.shown.setdefault(number, now)


@pytest.fixture
async def fast_bot(tg: Fakegram, fakegram_url: str, tmp_path: Path) -> AsyncIterator[Suishoubao]:
    """The real bot, its flood limiter set to Telegram's limits run K times faster."""
    await tg.rate_limits(
        True,
        overall_per_s=30 * K,
        private_per_s=1 * K,
        private_burst=3,
        group_per_min=20,
        group_window_s=WINDOW_S,
    )
    settings = Settings.from_mapping(
        {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": fakegram_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        }
    )
    limiter = FloodLimiter(
        overall_per_s=30 * K, group_window_s=WINDOW_S, private_interval_s=1.1 / K
    )
    bot = assemble(settings, limiter=limiter)
    await bot.start_polling(poll_timeout=1)
    yield bot
    await bot.stop()
    # A reset of the local Telegram turns its limits off but keeps their values: put back
    # Telegram's own for the next test that turns them on.
    await tg.rate_limits(
        False,
        overall_per_s=30,
        private_per_s=1,
        private_burst=3,
        group_per_min=20,
        group_window_s=60,
    )


async def test_a_flood_of_300_reports_is_on_the_groups_screen_within_1_2x_the_minimum(
    tg: Fakegram, fast_bot: Suishoubao
) -> None:
    """Minimum time: report #1 can show the moment it is filed; the last can show no sooner
    than it is filed, and then, the group's budget being in use since the first minute of the
    flood, only in the group's next message slot (60/20 s). So the minimum, from the first
    report filed, is (last filed - first filed) + one slot; every number must be on screen
    (in a list or on its card) within 1.2 times that. Cards are not awaited to the end: the
    last of 300 needs 15 minutes (scaled) whatever the bot does; instead they must go out at
    the group's full paced rate, once each, with no 429 from the local Telegram at all.
    """
    staff = await tg.user("李姐", language_code="zh-hans")
    longquan = await tg.group("龙泉社区工作群", members=[(staff["id"], "administrator")])
    riverside = await tg.group("Riverside staff", members=[(staff["id"], "administrator")])
    await link_group(tg, staff["id"], longquan["id"], "longquan")
    await link_group(tg, staff["id"], riverside["id"], "riverside")
    riders = [
        await tg.user(f"骑手{i}", language_code="zh-hans", started=True) for i in range(RIDERS)
    ]
    photo = (await tg.upload_file(jpeg(), kind="photo"))["file_id"]
    sam = Phone(tg, await tg.user("Sam", language_code="en"))

    screen = Screen(longquan["id"])
    watcher = asyncio.create_task(screen.watch(tg, int((await tg.events(since=-1))["last"])))
    filed_at: list[float] = []

    async def file(i: int) -> None:
        who = Person(int(riders[i % RIDERS]["id"]), "zh-hans")
        lat, lon = 36.111 + (i % 9) * 0.001, 113.201 + (i % 12) * 0.001
        await fast_bot.desk.photo(who, Photo(file_id=photo), f"第{i + 1}条")
        await fast_bot.desk.location(who, lat, lon)
        category = callbacks.PickCategory(CATEGORIES[i % len(CATEGORIES)])
        await fast_bot.desk.press(who, callbacks.encode(category))
        filed_at.append(time.monotonic())

    async def half_filed() -> bool:
        return len(filed_at) >= REPORTS // 2

    async def sam_files_in_riverside() -> tuple[int, float, float]:
        await tg.until(half_filed, timeout=REPORTS / K)  # in the thick of it
        started = time.monotonic()
        number = await sam.file(RIVERSIDE, "Sanitation")
        confirmed = time.monotonic()
        await bot_says(tg, riverside["id"], f"#{number}", timeout=5)
        return number, confirmed - started, time.monotonic() - confirmed

    start = time.monotonic()
    sam_task = asyncio.create_task(sam_files_in_riverside())
    filing: list[asyncio.Task[None]] = []
    for i in range(REPORTS):
        await asyncio.sleep(max(0.0, start + i / K - time.monotonic()))
        filing.append(asyncio.create_task(file(i)))
    await asyncio.gather(*filing)
    first, last = min(filed_at), max(filed_at)
    minimum = last - first + SLOT_S

    async with fast_bot.store.tx() as tx:
        rows = await tx.conn.exec_driver_sql(
            "SELECT id FROM reports WHERE community_id = 'longquan' ORDER BY id"
        )
        numbers = [int(n) for (n,) in rows.all()]
    assert len(numbers) == REPORTS

    async def all_on_screen() -> bool:
        return set(numbers) <= set(screen.shown)

    await tg.until(all_on_screen, timeout=1.2 * minimum - (time.monotonic() - first) + 5)
    on_screen = max(screen.shown[n] for n in numbers) - first
    more = len(screen.sent_at) + 40

    async def two_more_windows_of_cards() -> bool:
        return len(screen.sent_at) >= more

    await tg.until(two_more_windows_of_cards, timeout=4 * WINDOW_S)
    watcher.cancel()
    sam_number, sam_confirmed_s, sam_card_s = await sam_task

    stats = await tg.stats()
    async with fast_bot.store.tx() as tx:
        confirmations = await tx.conn.execute(
            sa.select(outbox.c.created_at, outbox.c.sent_at).where(
                outbox.c.key.like("filed:%"), outbox.c.sent_at.is_not(None)
            )
        )
        waits = sorted((sent - made).total_seconds() for made, sent in confirmations.all())
    listed = [n for numbers_listed in screen.lists for n in numbers_listed]
    paced_span = screen.sent_at[-1] - screen.sent_at[0]
    print(
        f"\nK={K}: minimum {minimum:.2f}s, all {REPORTS} on screen after {on_screen:.2f}s"
        f" ({on_screen / minimum:.3f}x); {len(screen.lists)} list messages naming"
        f" {len(listed)} reports; {len(screen.cards)} cards; {len(screen.sent_at)} group"
        f" messages over {paced_span:.2f}s (budget {20 * paced_span / WINDOW_S + 20:.0f});"
        f" 429s {stats['errors'].get('429', 0)}; rider confirmations: median"
        f" {waits[len(waits) // 2]:.3f}s, p95 {waits[int(0.95 * len(waits))]:.3f}s, max"
        f" {waits[-1]:.3f}s of {len(waits)}; Sam (#{sam_number}) filed in"
        f" {sam_confirmed_s:.2f}s, card {sam_card_s:.2f}s later"
    )

    assert on_screen <= 1.2 * minimum, f"{on_screen:.2f}s > 1.2 × {minimum:.2f}s"
    assert stats["rate_limited"] == 0 and stats["errors"].get("429", 0) == 0
    assert len(set(listed)) == len(listed), "no report listed twice"
    assert len(set(screen.cards)) == len(screen.cards), "no card posted twice"
    assert screen.cards == sorted(screen.cards), "cards in filing order"
    # Paced, not idle: the group's budget used, but for the bot's own time per message (at this
    # speed a slot is 150 ms, and a busy machine takes a good part of that).
    assert len(screen.sent_at) >= 0.85 * paced_span / SLOT_S
    assert len(screen.lists) <= len(screen.sent_at) // 8, "lists take a small share of budget"
    # Riders, here and elsewhere, are not held up behind the flooded group's queue, where a card
    # queued when Sam files is some 90 slots (13 s) away: Sam's four taps are answered and his
    # card is in his group within a second or so; the flood's riders have their confirmations
    # as quickly (a few meet a busy moment of a busy machine, hence the percentiles).
    assert sam_confirmed_s < 2 and sam_card_s < 1
    assert len(waits) == REPORTS + 1
    assert waits[len(waits) // 2] < 0.25 and waits[int(0.95 * len(waits))] < 1
