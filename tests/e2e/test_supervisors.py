"""Supervisors get the digest with its chart, figures on demand, exports, and dispatch."""

from __future__ import annotations

import io
from datetime import timedelta

import openpyxl

from fakegram.client import Fakegram, buttons_of, text_of
from tests.e2e.conftest import LONGQUAN, NOWHERE, BotFactory, ShiftedClock, link_group
from tests.e2e.people import Desk, Phone, bot_says


async def test_a_supervisors_chat_gets_the_digest_stats_export_and_dispatches(
    tg: Fakegram, start_bot: BotFactory
) -> None:
    boss = await tg.user("张主任", language_code="zh")
    li = await tg.user("李姐", language_code="zh")
    supervisors = await tg.group("街道督办", members=[(boss["id"], "creator")])
    group = await tg.group("龙泉社区工作群", members=[(li["id"], "administrator")])
    clock = ShiftedClock(timedelta(days=-1))
    bot = await start_bot(
        clock=clock, SUPERVISOR_CHAT_IDS=str(supervisors["id"]), DIGEST_TIME="00:00"
    )
    await link_group(tg, li["id"], group["id"], "longquan")
    rider = Phone(tg, await tg.user("小王", language_code="zh"))
    staff = Desk(tg, li, group["id"])

    fixed = await rider.file(LONGQUAN, "环境卫生")
    await staff.until_card(fixed, "待处理")
    await staff.press(fixed, "办结")
    await staff.reply(await staff.question("整改后的照片"), "清理完毕")
    await staff.until_card(fixed, "已办结")
    lost = await rider.file(NOWHERE, "社会治安")
    await bot_says(tg, supervisors["id"], f"#{lost}")  # the unrouted card, at once

    clock.offset = timedelta()  # the next morning
    await bot.supervision.tick()
    digest = await bot_says(tg, supervisors["id"], "随手报日报")
    text = text_of(digest)
    assert "上报 2 · 办结 1" in text and "办结率 50%" in text
    assert "龙泉社区" in text and "未分配社区" in text
    assert "最久未办结的 5 条" in text and f"#{lost}" in text
    chart = await bot_says(tg, supervisors["id"], "📈")
    png = await tg.download(chart["photo"][-1]["file_id"])
    assert png.startswith(b"\xff\xd8") or png.startswith(b"\x89PNG")
    await bot.supervision.tick()
    assert (
        len([m for m in await tg.bot_messages(supervisors["id"]) if "随手报日报" in text_of(m)])
        == 1
    )

    await tg.send_text(boss["id"], "/stats week", chat_id=supervisors["id"])
    stats = text_of(await bot_says(tg, supervisors["id"], "的统计"))
    assert "上报 2 · 办结 1" in stats

    await tg.send_text(boss["id"], "/export week", chat_id=supervisors["id"])
    sheet = await bot_says(tg, supervisors["id"], "上报明细")
    workbook = openpyxl.load_workbook(io.BytesIO(await tg.download(sheet["document"]["file_id"])))
    reports, history = workbook.worksheets
    numbers = sorted(row[0] for row in reports.iter_rows(min_row=2, values_only=True))
    assert numbers == sorted([fixed, lost])
    assert history.max_row == 1 + 3  # the header, then: filed and resolved; filed
    csv_sent = [m for m in await tg.bot_messages(supervisors["id"]) if m.get("document")]
    assert any(m["document"]["file_name"].endswith(".csv") for m in csv_sent)

    await tg.send_text(boss["id"], "/unrouted", chat_id=supervisors["id"])
    items: list[dict[str, object]] = []

    async def listed() -> bool:
        items[:] = [
            m
            for m in await tg.bot_messages(supervisors["id"])
            if text_of(m).startswith(f"#{lost} ") and buttons_of(m)
        ]
        return bool(items)

    await tg.until(listed)
    item = items[0]
    assert "龙泉社区" in [label for row in buttons_of(item) for label in row]
    query = await tg.press_button(boss["id"], item, "龙泉社区")
    assert "已派给龙泉社区" in ((await tg.callback_answer(query))["text"] or "")
    card = await staff.until_card(lost, "待处理")
    assert "社会治安" in text_of(card)
    await bot_says(tg, rider.id, f"#{lost} 已派给龙泉社区")


async def test_supervisor_commands_elsewhere_say_who_may_use_them(
    tg: Fakegram, start_bot: BotFactory
) -> None:
    await start_bot(SUPERVISOR_CHAT_IDS="-1009999")
    someone = await tg.user("某人", language_code="zh")
    group = await tg.group("闲聊群", members=[(someone["id"], "creator")])
    for command in ("/stats", "/export", "/digest", "/unrouted"):
        await tg.send_text(someone["id"], command, chat_id=group["id"])
    await tg.wait_for_bot_messages(group["id"], 4)
    assert all("督办群" in text_of(m) for m in await tg.bot_messages(group["id"]))
