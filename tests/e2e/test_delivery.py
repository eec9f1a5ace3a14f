"""Persist first, then send: Telegram's faults delay cards but never lose or repeat them."""

from __future__ import annotations

import pytest

from fakegram.client import Fakegram, text_of
from tests.e2e.conftest import LONGQUAN, BotFactory, Town, link_group
from tests.e2e.people import Phone, bot_count, bot_says, drained


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("429", {"retry_after": 1}), ("500", {}), ("502", {}), ("drop", {})],
)
async def test_every_card_arrives_exactly_once_through_telegram_faults(
    town: Town, kind: str, extra: dict[str, int]
) -> None:
    tg = town.tg
    await tg.fault("sendPhoto", kind, count=2, chat_id=town.group["id"], **extra)
    phones = [Phone(tg, town.rider), Phone(tg, await tg.user("小李", language_code="zh"))]
    numbers = [await p.file(LONGQUAN, "环境卫生", note=f"第{i}条") for i, p in enumerate(phones)]
    cards = await bot_count(tg, town.group["id"], 3, timeout=20)
    await drained(town)
    cards = await tg.bot_messages(town.group["id"])
    assert sorted(text_of(c).count(f"#{n}") for c in cards[1:] for n in numbers) == [0, 0, 1, 1]
    assert len(cards) == 3
    stats = await tg.stats()
    assert stats["calls"]["sendPhoto"] >= 4, "the faults were really hit"


async def test_a_telegram_outage_then_a_restart_still_delivers_once(
    town: Town, start_bot: BotFactory
) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await tg.fault("sendPhoto", "500", count=1000, chat_id=town.group["id"])
    number = await phone.file(LONGQUAN, "消防安全")
    await town.bot.stop()  # the card never went out before the "crash"
    await tg.clear_faults()
    restarted = await start_bot(SUPERVISOR_CHAT_IDS=str(town.supervisors["id"]))
    card = await bot_says(tg, town.group["id"], f"#{number}", timeout=20)
    assert card["photo"]
    await drained(town, bot=restarted)
    assert len(await tg.bot_messages(town.group["id"])) == 2


async def test_a_report_for_a_community_with_no_group_waits_for_its_link(
    town: Town,
) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    number = await phone.file((36.125, 113.207), "环境卫生")  # 城北社区 has no group yet
    group = await tg.group("城北工作群", members=[(town.staff["id"], "creator")])
    reply = await link_group(tg, town.staff["id"], group["id"], "chengbei")
    assert "1" in reply and "城北社区" in reply
    await bot_says(tg, group["id"], f"#{number}")


async def test_only_a_group_admin_can_link_and_only_to_a_known_community(town: Town) -> None:
    tg = town.tg
    member = await tg.user("路人", language_code="zh")
    group = await tg.group("随便一个群", members=[(member["id"], "member")])
    await tg.send_text(member["id"], "/link chengbei", chat_id=group["id"])
    assert "管理员" in text_of((await bot_count(tg, group["id"], 1))[0])
    await tg.set_member(group["id"], member["id"], "administrator")
    await tg.send_text(member["id"], "/link nowhere", chat_id=group["id"])
    refusal = text_of((await bot_count(tg, group["id"], 2))[1])
    assert "nowhere" in refusal and "longquan" in refusal
    await tg.send_text(member["id"], "/link", chat_id=group["id"])
    assert "用法" in text_of((await bot_count(tg, group["id"], 3))[2])
    await tg.send_text(town.rider["id"], "/link longquan")
    assert "工作群" in text_of((await bot_count(tg, town.rider["id"], 1))[0])
    sam = await tg.user("Sam", language_code="en")
    await tg.send_text(sam["id"], "/link longquan")
    assert "staff group" in text_of((await bot_count(tg, sam["id"], 1))[0])


async def test_a_group_that_becomes_a_supergroup_keeps_its_link(
    tg: Fakegram, start_bot: BotFactory
) -> None:
    staff = await tg.user("李姐", language_code="zh")
    group = await tg.group("老群", type="group", members=[(staff["id"], "creator")])
    await start_bot()
    await link_group(tg, staff["id"], group["id"], "longquan")
    moved = await tg.migrate(group["id"])
    phone = Phone(tg, await tg.user("小王", language_code="zh"))
    number = await phone.file(LONGQUAN, "环境卫生")
    await bot_says(tg, moved["id"], f"#{number}")


async def test_a_bot_removed_from_its_group_stops_sending_there_and_tells_supervisors(
    town: Town,
) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await tg.remove_bot(town.group["id"])
    notice = await bot_says(tg, town.supervisors["id"], "移出")
    assert "龙泉社区" in text_of(notice) and "/link longquan" in text_of(notice)
    number = await phone.file(LONGQUAN, "环境卫生")
    new_group = await tg.group("龙泉新群", members=[(town.staff["id"], "creator")])
    await link_group(tg, town.staff["id"], new_group["id"], "longquan")
    await bot_says(tg, new_group["id"], f"#{number}")
    stats = await tg.stats()
    assert stats["errors"].get("403", 0) == 0, "nothing was sent to the group the bot left"
