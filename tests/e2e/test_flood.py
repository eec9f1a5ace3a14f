"""Telegram's flood limits are respected, and one slow chat never holds up the others."""

from __future__ import annotations

import asyncio

import pytest

from fakegram.client import text_of
from tests.e2e.conftest import LONGQUAN, RIVERSIDE, Town, link_group
from tests.e2e.people import Phone, bot_count, bot_says, drained


@pytest.mark.telegram_pacing
async def test_riders_filing_together_never_hit_a_flood_limit(town: Town) -> None:
    tg = town.tg
    await tg.rate_limits(True)  # Telegram's own: 30/s overall, 1/s a private chat, 20/min a group
    phones = [Phone(tg, town.rider)] + [
        Phone(tg, await tg.user(f"骑手{i}", language_code="zh")) for i in range(5)
    ]
    numbers = await asyncio.gather(
        *(p.file(LONGQUAN, "环境卫生", note=f"第{i}条") for i, p in enumerate(phones))
    )
    cards = await bot_count(tg, town.group["id"], 1 + len(phones), timeout=30)
    await drained(town)
    assert sorted(int(text_of(c).split("#")[1].split()[0]) for c in cards[1:]) == sorted(numbers)
    stats = await tg.stats()
    assert stats["rate_limited"] == 0
    assert stats["errors"].get("429", 0) == 0


async def test_a_slow_group_does_not_hold_up_other_chats(town: Town) -> None:
    tg = town.tg
    riverside = await tg.group("Riverside staff", members=[(town.staff["id"], "administrator")])
    await link_group(tg, town.staff["id"], riverside["id"], "riverside")
    await tg.fault("sendPhoto", "slow", count=1, chat_id=town.group["id"], delay=4)
    slow = await Phone(tg, town.rider).file(LONGQUAN, "环境卫生")
    sam = Phone(tg, await tg.user("Sam", language_code="en"))
    fast = await sam.file(RIVERSIDE, "Sanitation")
    await bot_says(tg, riverside["id"], f"#{fast}")
    assert len(await tg.bot_messages(town.group["id"])) == 1, "the slow card is still on its way"
    await bot_says(tg, town.group["id"], f"#{slow}")
