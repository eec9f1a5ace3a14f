"""Bad input never crashes and never loses data: it gets one clear sentence."""

from __future__ import annotations

import pytest

from fakegram.client import Fakegram, text_of
from tests.e2e.conftest import LONGQUAN, BotFactory, Town, image
from tests.e2e.people import Phone, bot_count, bot_says, drained


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        ("sticker", "处理不了"),
        ("voice", "处理不了"),
        ("contact", "处理不了"),
        ("text", "发一张现场照片"),
        ("unknown_command", "处理不了"),
    ],
)
async def test_anything_but_a_report_gets_a_short_hint(
    town: Town, send: str, expected: str
) -> None:
    tg, rider = town.tg, town.rider["id"]
    actions = {
        "sticker": lambda: tg.send_sticker(rider),
        "voice": lambda: tg.send_voice(rider),
        "contact": lambda: tg.send_contact(rider, "+8613800000000", "张三"),
        "text": lambda: tg.send_text(rider, "你好"),
        "unknown_command": lambda: tg.send_text(rider, "/frobnicate"),
    }
    await actions[send]()
    (hint,) = await bot_count(tg, rider, 1)
    assert expected in text_of(hint)


async def test_a_sticker_in_the_middle_of_a_report_says_what_is_still_missing(
    town: Town,
) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await phone.photo()
    await tg.send_sticker(phone.id)
    assert "还差位置" in text_of(await phone.after(1))
    await phone.location(LONGQUAN)
    await phone.tap("环境卫生")
    await phone.tap("跳过")
    await bot_says(tg, phone.id, "已上报")


async def test_a_note_over_the_limit_is_refused_and_the_report_waits(town: Town) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await phone.photo()
    await phone.location(LONGQUAN)
    await phone.tap("环境卫生")
    await bot_says(tg, phone.id, "补充")
    refusal = await phone.text("很" * 501)
    assert "太长" in text_of(refusal) and "500" in text_of(refusal)
    await phone.text("垃圾满了")
    await bot_says(tg, phone.id, "已上报")


async def test_a_caption_over_the_limit_is_refused(town: Town) -> None:
    phone = Phone(town.tg, town.rider)
    refusal = await phone.photo(caption="x" * 600)
    assert "太长" in text_of(refusal)


async def test_a_file_that_is_too_big_or_not_an_image_is_refused(town: Town) -> None:
    tg, rider = town.tg, town.rider["id"]
    await tg.send_document(rider, b"%PDF-1.4", "notice.pdf", "application/pdf")
    assert "不是图片" in text_of((await bot_count(tg, rider, 1))[0])
    await tg.send_document(rider, image(), "huge.jpg", "image/jpeg", size=25 * 1024 * 1024)
    refusal = (await bot_count(tg, rider, 2))[1]
    assert "25 MB" in text_of(refusal) and "20 MB" in text_of(refusal)
    await tg.send_document(rider, b"\xff\xd8 not really a jpeg", "broken.jpg", "image/jpeg")
    assert "打不开" in text_of((await bot_count(tg, rider, 3))[2])


async def test_a_new_photo_while_a_draft_waits_replaces_it_and_says_so(town: Town) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await phone.photo(color=(255, 0, 0))
    await tg.send_photo(phone.id, image(color=(0, 0, 255)))
    replaced = await bot_count(tg, phone.id, 3)
    assert "换成" in text_of(replaced[1])
    await phone.location(LONGQUAN)
    await phone.tap("环境卫生")
    await phone.tap("跳过")
    await bot_says(tg, phone.id, "已上报")
    card = (await bot_count(tg, town.group["id"], 2))[-1]
    sent_last = await tg.messages(phone.id)
    blue = [m for m in sent_last if not m["from_bot"] and m.get("photo")][-1]
    assert card["photo"][-1]["file_unique_id"] == blue["photo"][-1]["file_unique_id"]


async def test_cancel_drops_the_draft(town: Town) -> None:
    phone = Phone(town.tg, town.rider)
    await phone.photo()
    assert "已取消" in text_of(await phone.text("/cancel"))
    assert "没有正在填写" in text_of(await phone.text("/cancel"))
    assert "发一张现场照片" in text_of(await phone.text("还在吗"))


async def test_a_category_press_on_an_already_filed_report_changes_nothing(town: Town) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await phone.file(LONGQUAN, "环境卫生")
    question = next(m for m in await phone.seen() if "类别" in text_of(m))
    assert question.get("reply_markup") is None, "the answered question lost its buttons"
    query = await tg.press(phone.id, phone.id, question["message_id"], "v1:cat:public_order")
    assert "失效" in ((await tg.callback_answer(query))["text"] or "")
    await drained(town)
    assert len(await tg.bot_messages(town.group["id"])) == 2


async def test_a_forged_press_is_answered_and_changes_nothing(town: Town) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    question = await phone.photo()
    for data in ("v1:cat:nonsense", "garbage", "v9:skip"):
        query = await tg.press(phone.id, phone.id, question["message_id"], data)
        answer = await tg.callback_answer(query)
        assert answer["answered"] and "失效" in (answer["text"] or "")
    assert "还差位置" in text_of(await phone.text("?"))


async def test_more_reports_than_the_hourly_limit_are_refused(
    tg: Fakegram, start_bot: BotFactory
) -> None:
    await start_bot(REPORTS_PER_HOUR="1")
    phone = Phone(tg, await tg.user("小赵", language_code="zh"))
    await phone.file((36.3, 113.5), "环境卫生")
    refusal = await phone.photo()
    assert "一小时内已经上报了 1 条" in text_of(refusal)
