"""Riders file reports and each reaches the right staff group once: what everyone sees."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from fakegram.client import buttons_of, text_of
from tests.e2e.conftest import (
    CHENGBEI,
    LONGQUAN,
    NORTH_OF_CHENGBEI,
    NOWHERE,
    RIVERSIDE,
    BotFactory,
    Town,
    image,
    link_group,
)
from tests.e2e.people import Phone, bot_count, bot_says, drained, number_in


@pytest.mark.parametrize(
    ("label", "name"),
    [("环境卫生", "🧹 环境卫生"), ("消防安全", "🔥 消防安全"), ("社会治安", "🚨 社会治安")],
)
async def test_a_photo_then_a_location_files_a_report_in_each_category(
    town: Town, label: str, name: str
) -> None:
    """Photo, location button, category, Skip: the rider gets #n, the group one card."""
    tg, phone = town.tg, Phone(town.tg, town.rider)
    ask = await phone.photo()
    assert "位置" in text_of(ask)
    keyboard = await tg.keyboard(phone.id)
    assert keyboard is not None
    assert keyboard["keyboard"][0][0].get("request_location") is True

    question = await phone.location(LONGQUAN)
    labels = [row[0] for row in buttons_of(question)]
    assert labels == ["🧹 环境卫生", "🔥 消防安全", "🚨 社会治安"]

    await phone.tap(label)
    ask_note = await bot_says(tg, phone.id, "补充")
    assert buttons_of(ask_note) == [["跳过"]]
    answer = await phone.tap("跳过")
    assert answer["answered"]

    confirmation = await bot_says(tg, phone.id, "已上报")
    number = number_in(text_of(confirmation))
    assert "龙泉社区" in text_of(confirmation)

    cards = await bot_count(tg, town.group["id"], 2)  # the /link reply, then the card
    card = cards[-1]
    assert card["photo"], "the card is a photo message"
    caption = text_of(card)
    assert f"#{number}" in caption and name in caption and "龙泉社区" in caption
    assert "36.11500, 113.20700" in caption
    assert any("amap.com" in (e.get("url") or "") for e in card.get("caption_entities", []))
    assert "小王" not in caption and str(phone.id) not in caption
    assert "R-" in caption
    if label == "消防安全":
        assert "119" in caption


async def test_a_location_first_then_a_photo_with_a_caption_files_without_asking_a_note(
    town: Town,
) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    ask = await phone.location(LONGQUAN)
    assert "照片" in text_of(ask)
    await phone.photo(caption="垃圾桶满了，溢到路上")
    await phone.tap("环境卫生")
    confirmation = await bot_says(tg, phone.id, "已上报")
    card = (await bot_count(tg, town.group["id"], 2))[-1]
    assert f"#{number_in(text_of(confirmation))}" in text_of(card)
    assert "垃圾桶满了，溢到路上" in text_of(card)
    assert not any("跳过" in text_of(m) for m in await phone.seen())


async def test_a_typed_note_is_on_the_card(town: Town) -> None:
    phone = Phone(town.tg, town.rider)
    number = await phone.file(LONGQUAN, "社会治安", note="两人在店门口打架 <b>")
    card = (await bot_count(town.tg, town.group["id"], 2))[-1]
    assert f"#{number}" in text_of(card)
    assert "两人在店门口打架 <b>" in text_of(card)


async def test_a_photo_sent_as_a_file_is_stripped_of_its_metadata(town: Town) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    original = image(exif=True)
    assert b"Exif" in original
    await tg.send_document(phone.id, original, "IMG_0001.jpg", "image/jpeg")
    await bot_says(tg, phone.id, "收到照片")
    await phone.location(LONGQUAN)
    await phone.tap("环境卫生")
    await phone.tap("跳过")
    card = (await bot_count(tg, town.group["id"], 2))[-1]
    forwarded = await tg.download(card["photo"][-1]["file_id"])
    assert b"Exif" not in forwarded
    with Image.open(io.BytesIO(forwarded)) as picture:
        assert picture.getexif() == {}
        assert picture.size == Image.open(io.BytesIO(original)).size


async def test_a_venue_counts_as_a_location(town: Town) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await phone.photo()
    await tg.send_venue(phone.id, CHENGBEI[0], CHENGBEI[1], "城北菜市场", "壶关县城北街")
    await bot_says(tg, phone.id, "哪一类")
    await phone.tap("消防安全")
    await phone.tap("跳过")
    assert "城北社区" in text_of(await bot_says(tg, phone.id, "已上报"))


async def test_a_live_location_files_by_its_first_point_and_its_updates_file_nothing(
    town: Town,
) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await phone.photo()
    sent = await tg.send_location(phone.id, LONGQUAN[0], LONGQUAN[1], live_period=900)
    await bot_says(tg, phone.id, "哪一类")
    await phone.tap("环境卫生")
    await phone.tap("跳过")
    await bot_says(tg, phone.id, "已上报")
    shown = len(await phone.seen())
    for step in range(3):
        await tg.edit_location(phone.id, sent["message_id"], NOWHERE[0] + step, NOWHERE[1])
    # A command after the edits is answered only once the edits have been processed in order.
    await tg.send_text(phone.id, "/help")
    await bot_count(tg, phone.id, shown + 1)
    assert len(await phone.seen()) == shown + 1
    await drained(town)
    assert len(await tg.bot_messages(town.group["id"])) == 2
    assert len(await tg.bot_messages(town.supervisors["id"])) == 0


async def test_a_restart_between_photo_and_location_loses_nothing(
    town: Town, start_bot: BotFactory
) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await phone.photo(caption="消防通道被电动车堵死")
    await town.bot.stop()
    await start_bot(SUPERVISOR_CHAT_IDS=str(town.supervisors["id"]))
    await phone.location(LONGQUAN)
    await phone.tap("消防安全")
    await bot_says(tg, phone.id, "已上报")
    card = (await bot_count(tg, town.group["id"], 2))[-1]
    assert "消防通道被电动车堵死" in text_of(card)


async def test_a_report_outside_every_area_goes_to_the_supervisors(town: Town) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    number = await phone.file(NOWHERE, "环境卫生")
    told = await bot_says(tg, phone.id, "已上报")
    assert "派单" in text_of(told)
    notice = await bot_says(tg, town.supervisors["id"], f"#{number}")
    assert notice["photo"]
    assert "36.30000, 113.50000" in text_of(notice)
    assert "待派单" in text_of(notice)
    await drained(town)
    assert len(await tg.bot_messages(town.group["id"])) == 1  # only the /link reply


async def test_a_report_just_outside_an_area_goes_to_the_nearest_one(town: Town) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    chengbei = await tg.group("城北社区工作群", members=[(town.staff["id"], "administrator")])
    await link_group(tg, town.staff["id"], chengbei["id"], "chengbei")
    number = await phone.file(NORTH_OF_CHENGBEI, "社会治安")
    card = await bot_says(tg, chengbei["id"], f"#{number}")
    assert "城北社区" in text_of(card) and "米" in text_of(card)


async def test_an_english_rider_and_an_english_community_read_english(town: Town) -> None:
    tg = town.tg
    rider = Phone(tg, await tg.user("Sam", language_code="en-GB"))
    group = await tg.group("Riverside staff", members=[(town.staff["id"], "administrator")])
    reply = await link_group(tg, town.staff["id"], group["id"], "riverside")
    assert "Riverside Community" in reply and "staff group" in reply
    ask = await rider.photo()
    assert "location" in text_of(ask)
    await rider.location(RIVERSIDE)
    await rider.tap("Fire safety")
    await rider.tap("Skip")
    confirmation = await bot_says(tg, rider.id, "filed")
    card = await bot_says(tg, group["id"], f"#{number_in(text_of(confirmation))}")
    assert "🔥 Fire safety" in text_of(card) and "Riverside Community" in text_of(card)
    assert "call 119" in text_of(card)
    assert "openstreetmap.org" in str(card.get("caption_entities"))


async def test_lang_switches_a_rider_to_english(town: Town) -> None:
    tg, phone = town.tg, Phone(town.tg, town.rider)
    await phone.text("/lang")
    answer = await phone.tap("English")
    assert "English" in (answer["text"] or "")
    await bot_says(tg, phone.id, "speak English")
    assert "Photo received" in text_of(await phone.photo())


async def test_two_riders_filing_at_once_each_get_their_own_report(town: Town) -> None:
    tg = town.tg
    phones = [Phone(tg, town.rider), Phone(tg, await tg.user("小李", language_code="zh"))]
    numbers = await asyncio.gather(
        phones[0].file(LONGQUAN, "环境卫生", note="一号"),
        phones[1].file(LONGQUAN, "社会治安", note="二号"),
    )
    assert sorted(numbers) == [1, 2]
    cards = await bot_count(tg, town.group["id"], 3)
    captions = sorted(text_of(m) for m in cards[1:])
    assert any("#1" in c for c in captions) and any("#2" in c for c in captions)
    await drained(town)
    assert len(await tg.bot_messages(town.group["id"])) == 3
