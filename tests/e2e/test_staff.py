"""Staff close reports in their group and the rider confirms: what riders and groups see."""

from __future__ import annotations

import asyncio

import pytest

from fakegram.client import buttons_of, text_of
from tests.e2e.conftest import CHENGBEI, LONGQUAN, RIVERSIDE, BotFactory, Town, image, link_group
from tests.e2e.people import Desk, Phone, bot_says, drained


def labels(message: dict[str, object]) -> list[str]:
    return [label for row in buttons_of(message) for label in row]


@pytest.mark.parametrize("category", ["环境卫生", "消防安全", "社会治安"])
async def test_claim_resolve_with_an_after_photo_and_the_rider_confirms(
    town: Town, category: str
) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    staff = Desk(tg, town.staff, town.group["id"])
    n = await rider.file(LONGQUAN, category)
    card = await staff.until_card(n, "待处理")
    assert labels(card) == ["✋ 接单", "✅ 办结", "↩️ 退回"]

    answer = await staff.press(n, "接单")
    assert answer["text"] == "已接单"
    card = await staff.until_card(n, "处理中 · 李姐")
    assert labels(card) == ["✅ 办结", "↩️ 退回", "🔓 释放", "🤝 接手"]
    await bot_says(tg, rider.id, f"#{n} 已有社区工作人员接单")
    assert "李姐" not in text_of(await bot_says(tg, rider.id, "接单")), "no staff names to riders"

    await staff.press(n, "办结")
    question = await staff.question("整改后的照片")
    assert question["reply_to_message"]["message_id"] == card["message_id"]
    assert "跳过" in labels(question)
    await staff.reply(question, "已清运完毕", photo=image(color=(0, 200, 0)))

    card = await staff.until_card(n, "已办结")
    assert "有整改后照片" in text_of(card) and "已清运完毕" in text_of(card)
    assert labels(card) == []
    ask = await bot_says(tg, rider.id, "真的解决了吗")
    assert ask.get("photo"), "the rider sees the after photo"
    assert "已清运完毕" in text_of(ask)
    assert labels(ask) == ["✅ 已解决", "❌ 未解决"]

    await rider.tap("已解决")
    await bot_says(tg, rider.id, f"谢谢确认！#{n}")
    await staff.until_card(n, "骑手已确认")
    answer = await rider.tap_message(ask, "未解决")
    assert "已经回答过" in (answer["text"] or "")


async def test_resolve_without_proof_then_not_fixed_reopens_and_tells_the_group(
    town: Town,
) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    staff = Desk(tg, town.staff, town.group["id"])
    n = await rider.file(LONGQUAN, "环境卫生")
    await staff.until_card(n, "待处理")
    await staff.press(n, "办结")
    question = await staff.question("整改后的照片")
    await staff.press(n, "跳过", on=question)
    card = await staff.until_card(n, "无整改后照片")
    assert "等待骑手确认" in text_of(card)

    ask = await bot_says(tg, rider.id, "真的解决了吗")
    assert not ask.get("photo")
    await rider.tap("未解决")
    await bot_says(tg, rider.id, "已重新打开")
    card = await staff.until_card(n, "重新打开")
    assert labels(card) == ["✋ 接单", "✅ 办结", "↩️ 退回"]
    told = await bot_says(tg, town.group["id"], f"#{n} 重新打开")
    assert told["reply_to_message"]["message_id"] == card["message_id"]

    await staff.press(n, "办结")
    await staff.reply(await staff.question("整改后的照片", nth=2), "这次彻底清理了")
    await staff.until_card(n, "这次彻底清理了")
    await rider.tap("已解决")
    await staff.until_card(n, "骑手已确认")
    assert len([m for m in await tg.bot_messages(town.group["id"]) if m.get("photo")]) == 1


async def test_reject_as_duplicate_names_the_original(town: Town) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    staff = Desk(tg, town.staff, town.group["id"])
    first = await rider.file(LONGQUAN, "环境卫生")
    second = await rider.file(LONGQUAN, "环境卫生")
    await staff.until_card(second, "待处理")
    await staff.press(second, "退回")
    card = await staff.until_button(second, "重复上报")
    assert labels(card) == ["重复上报", "不归本社区", "无效", "◀️ 返回"]
    await staff.press(second, "重复上报")
    question = await staff.question("原报的编号")
    await staff.reply(question, "#999")
    await bot_says(tg, town.group["id"], "没有 #999")
    await staff.reply(question, f"#{first}")
    card = await staff.until_card(second, f"与 #{first} 重复")
    assert labels(card) == []
    await bot_says(tg, rider.id, f"#{second} 和 #{first} 是同一个问题")


async def test_reject_as_invalid_with_and_without_a_note(town: Town) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    staff = Desk(tg, town.staff, town.group["id"])
    a = await rider.file(LONGQUAN, "社会治安")
    b = await rider.file(LONGQUAN, "社会治安")
    for n, note in ((a, "照片与问题无关"), (b, None)):
        await staff.until_card(n, "待处理")
        await staff.press(n, "退回")
        await staff.until_button(n, "无效")
        await staff.press(n, "无效")
        question = await staff.question(f"#{n} 为什么无效")
        if note:
            await staff.reply(question, note)
        else:
            await staff.press(n, "跳过", on=question)
        card = await staff.until_card(n, "无效上报")
        assert (note or "原因") in text_of(card) if note else "原因" not in text_of(card)
    told = await bot_says(tg, rider.id, f"#{a} 被社区退回")
    assert "照片与问题无关" in text_of(told)
    await bot_says(tg, rider.id, f"#{b} 被社区退回")


async def test_not_ours_hands_the_report_to_another_group_in_its_language(town: Town) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    staff = Desk(tg, town.staff, town.group["id"])
    kate = await tg.user("Kate", language_code="en")
    riverside = await tg.group("Riverside staff", members=[(kate["id"], "administrator")])
    await link_group(tg, kate["id"], riverside["id"], "riverside")
    n = await rider.file(LONGQUAN, "消防安全")
    await staff.until_card(n, "待处理")
    await staff.press(n, "退回")
    await staff.until_button(n, "不归本社区")
    await staff.press(n, "不归本社区")
    menu = await staff.until_button(n, "Riverside")
    assert "Riverside Community" in labels(menu) and "龙泉社区" not in labels(menu)
    answer = await staff.press(n, "Riverside Community")
    assert "Riverside Community" in (answer["text"] or "")

    old = await staff.until_card(n, "已转给Riverside Community")
    assert labels(old) == []
    other = Desk(tg, kate, riverside["id"])
    new = await other.until_card(n, "Status: open")
    assert "🔥 Fire safety" in text_of(new) and "Riverside Community" in text_of(new)
    assert labels(new) == ["✋ Claim", "✅ Resolve", "↩️ Reject"]
    told = await bot_says(tg, rider.id, f"#{n} 已转给Riverside Community")
    assert "退回" not in text_of(told), "a transfer is not a rejection"

    stale = await staff.press(n, "接单", on=await _first_version(tg, town.group["id"], n))
    assert "Riverside" in (stale["text"] or "")
    await other.press(n, "Claim")
    await other.until_card(n, "in hand · Kate")
    await staff.until_card(n, "已转给Riverside Community")


async def _first_version(tg: object, chat_id: int, n: int) -> dict[str, object]:
    """The card as it was first posted, buttons and all (a stale screen)."""
    messages = await tg.messages(chat_id)  # type: ignore[attr-defined]
    card = next(m for m in messages if m.get("photo") and f"#{n}" in text_of(m))
    first = dict(card)
    first["reply_markup"] = card["history"][0].get("reply_markup") if card.get("history") else None
    return first


async def test_two_staff_pressing_claim_at_once_make_one_claim(town: Town) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    wang = await tg.user("王哥", language_code="zh")
    await tg.set_member(town.group["id"], wang["id"], "member")
    li, other = Desk(tg, town.staff, town.group["id"]), Desk(tg, wang, town.group["id"])
    n = await rider.file(LONGQUAN, "环境卫生")
    card = await li.until_card(n, "待处理")
    answers = await asyncio.gather(li.press(n, "接单", on=card), other.press(n, "接单", on=card))
    texts = sorted(a["text"] for a in answers)
    winner = await li.until_card(n, "处理中")
    holder = "李姐" if "李姐" in text_of(winner) else "王哥"
    assert texts == sorted(["已接单", f"{holder} 已经接单了"])
    await drained(town)
    events = await tg.stats()
    assert events["calls"].get("sendPhoto") == 1
    claimed = [m for m in await tg.bot_messages(rider.id) if "接单处理" in text_of(m)]
    assert len(claimed) == 1


async def test_release_and_take_over(town: Town) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    wang = await tg.user("王哥", language_code="zh")
    await tg.set_member(town.group["id"], wang["id"], "member")
    li, other = Desk(tg, town.staff, town.group["id"]), Desk(tg, wang, town.group["id"])
    n = await rider.file(LONGQUAN, "环境卫生")
    await li.until_card(n, "待处理")
    await li.press(n, "接单")
    await li.until_card(n, "处理中 · 李姐")
    refused = await other.press(n, "释放")
    assert refused["text"] == "只有接单人可以释放"
    assert (await other.press(n, "接手"))["text"] == "已接手"
    await li.until_card(n, "处理中 · 王哥")
    assert (await other.press(n, "接手"))["text"] == "你已经接单了"
    assert (await other.press(n, "释放"))["text"] == "已释放"
    await li.until_card(n, "待处理")


async def test_a_non_member_and_a_forged_press_from_another_chat_change_nothing(
    town: Town,
) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    public = await tg.group(
        "龙泉社区公开群", members=[(town.staff["id"], "creator")], username="longquan_staff"
    )
    await link_group(tg, town.staff["id"], public["id"], "longquan")
    staff = Desk(tg, town.staff, public["id"])
    n = await rider.file(LONGQUAN, "环境卫生")
    card = await staff.until_card(n, "待处理")
    outsider = await tg.user("路人甲", language_code="zh")
    refused = await Desk(tg, outsider, public["id"]).press(n, "接单", on=card)
    assert refused["text"] == "只有本社区工作群的成员可以操作"

    chengbei = await tg.group("城北工作群", members=[(outsider["id"], "creator")])
    await link_group(tg, outsider["id"], chengbei["id"], "chengbei")
    m = await rider.file(CHENGBEI, "环境卫生")
    own = await Desk(tg, outsider, chengbei["id"]).until_card(m, "待处理")
    forged = await tg.press(outsider["id"], chengbei["id"], own["message_id"], f"v1:k:claim:{n}")
    answer = await tg.callback_answer(forged)
    assert answer["text"] == "这条上报不归本群处理"
    other_card = await tg.press(
        town.staff["id"], public["id"], card["message_id"], f"v1:k:claim:{m}"
    )
    assert (await tg.callback_answer(other_card))["text"] == "这条上报不归本群处理"
    card = await staff.card(n)
    assert "待处理" in text_of(card)


async def test_a_card_posted_before_a_restart_still_works(
    town: Town, start_bot: BotFactory
) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    staff = Desk(tg, town.staff, town.group["id"])
    n = await rider.file(LONGQUAN, "环境卫生")
    card = await staff.until_card(n, "待处理")
    await town.bot.stop()
    await start_bot(SUPERVISOR_CHAT_IDS=str(town.supervisors["id"]))
    assert (await staff.press(n, "接单", on=card))["text"] == "已接单"
    await staff.until_card(n, "处理中")


async def test_a_group_in_english_and_a_rider_in_chinese(town: Town) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    kate = await tg.user("Kate", language_code="en")
    riverside = await tg.group("Riverside staff", members=[(kate["id"], "administrator")])
    await link_group(tg, kate["id"], riverside["id"], "riverside")
    staff = Desk(tg, kate, riverside["id"])
    n = await rider.file(RIVERSIDE, "社会治安")
    await staff.until_card(n, "Status: open")
    await staff.press(n, "Claim")
    await bot_says(tg, rider.id, "接单处理")
    await staff.press(n, "Resolve")
    question = await staff.question("photo or a note of the fix")
    await staff.reply(question, "Police dispersed the crowd")
    card = await staff.until_card(n, "Status: resolved · Kate")
    assert "Fix: Police dispersed the crowd" in text_of(card)
    ask = await bot_says(tg, rider.id, "真的解决了吗")
    assert labels(ask) == ["✅ 已解决", "❌ 未解决"]
    await rider.tap("未解决")
    await staff.until_card(n, "Reopened: the rider says it is not fixed")
    await bot_says(tg, riverside["id"], f"#{n} reopened")


async def test_queue_lists_open_reports_by_category_oldest_first(town: Town) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    staff = Desk(tg, town.staff, town.group["id"])
    a = await rider.file(LONGQUAN, "环境卫生")
    b = await rider.file(LONGQUAN, "社会治安")
    c = await rider.file(LONGQUAN, "环境卫生")
    await staff.until_card(c, "待处理")
    await staff.press(a, "接单")
    await staff.until_card(a, "处理中")
    await tg.send_text(staff.id, "/queue", chat_id=staff.chat_id)
    queue = text_of(await bot_says(tg, staff.chat_id, "待处理的上报"))
    assert "（3 条" in queue
    assert (
        queue.index("环境卫生")
        < queue.index(f"#{a}")
        < queue.index(f"#{c}")
        < queue.index("社会治安")
        < queue.index(f"#{b}")
    )
    assert "李姐 处理中" in queue
    await tg.send_text(staff.id, f"/report {a}", chat_id=staff.chat_id)
    history = text_of(await bot_says(tg, staff.chat_id, "· 接单 · 李姐"))
    assert "上报 · 骑手 R-" in history


async def test_my_lists_the_riders_reports_newest_first(town: Town) -> None:
    tg, rider = town.tg, Phone(town.tg, town.rider)
    assert "没有上报" in text_of(await rider.text("/my"))
    numbers = [await rider.file(LONGQUAN, "环境卫生") for _ in range(2)]
    await tg.send_text(rider.id, "/my")
    listing = text_of(await bot_says(tg, rider.id, "共 2 条"))
    assert listing.index(f"#{numbers[1]}") < listing.index(f"#{numbers[0]}")
    assert "待处理" in listing and "龙泉社区" in listing
