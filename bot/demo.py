"""`make demo`: a local Telegram, the bot as its own process, and riders and staff using it.

It prints, chat by chat, what each person sees, so a newcomer can watch the product work without a
token or a phone.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from fakegram.client import Fakegram, FakegramProcess, button_data, buttons_of, text_of
from fakegram.images import jpeg

TOKEN = "700000001:DemoTokenForTheLocalTelegramOnly0000"
COLOUR = sys.stdout.isatty()
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if COLOUR else ("", "", "")


class Screens:
    """Prints each chat's new messages as the person in it would see them."""

    def __init__(self, tg: Fakegram) -> None:
        self.tg = tg
        self.shown: dict[int, int] = {}
        self.edits: dict[tuple[int, int], int] = {}
        self.names: dict[int, str] = {}

    def name(self, chat_id: int, title: str) -> None:
        self.names[chat_id] = title

    async def show(self, chat_id: int) -> None:
        messages = await self.tg.messages(chat_id)
        start = self.shown.get(chat_id, 0)
        self.shown[chat_id] = len(messages)
        changed = [
            m
            for m in messages[:start]
            if m["from_bot"] and m["edits"] > self.edits.get((chat_id, m["message_id"]), 0)
        ]
        for message in changed + messages[start:]:
            self.edits[(chat_id, message["message_id"])] = message["edits"]
            edited = message in changed
            who = "🤖 bot" if message["from_bot"] else "👤 " + message["from"]["first_name"]
            if edited:
                who = "✏️  bot (edited)"
            body = _plain(text_of(message))
            kinds = [
                k for k in ("photo", "document", "location", "venue", "sticker") if k in message
            ]
            media = f"[{', '.join(kinds)}] " if kinds else ""
            print(f"  {BOLD}{who}{RESET} {DIM}{media}{RESET}" + body.replace("\n", "\n      "))
            for row in buttons_of(message):
                print("      " + "  ".join(f"[ {label} ]" for label in row))
        keyboard = await self.tg.keyboard(chat_id) if chat_id > 0 else None
        if keyboard and start < len(messages):
            labels = [b["text"] for row in keyboard["keyboard"] for b in row]
            print(f"      {DIM}keyboard: {labels}{RESET}")

    async def scene(self, title: str, *chat_ids: int) -> None:
        print(f"\n{BOLD}── {title}{RESET}")
        for chat_id in chat_ids:
            print(f" {DIM}{self.names.get(chat_id, chat_id)}{RESET}")
            await self.show(chat_id)


def _plain(html: str) -> str:
    return (
        re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )


async def newest_button(tg: Fakegram, chat_id: int, label: str) -> tuple[int, str]:
    found: list[tuple[int, str]] = []

    async def shown() -> bool:
        for message in reversed(await tg.bot_messages(chat_id)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"]:
                        found.append((message["message_id"], button["callback_data"]))
                        return True
        return False

    await tg.until(shown)
    return found[0]


async def tap(tg: Fakegram, user_id: int, label: str) -> None:
    message_id, data = await newest_button(tg, user_id, label)
    await tg.callback_answer(await tg.press(user_id, user_id, message_id, data))


async def says(tg: Fakegram, chat_id: int, words: str) -> None:
    async def seen() -> bool:
        return any(words in text_of(m) for m in await tg.bot_messages(chat_id))

    await tg.until(seen, timeout=20)


async def play(tg: Fakegram, bot: asyncio.subprocess.Process) -> None:
    screens = Screens(tg)
    wang = await tg.user("小王", language_code="zh-hans")
    sam = await tg.user("Sam", language_code="en")
    li = await tg.user("李姐", language_code="zh-hans")
    kate = await tg.user("Kate", language_code="en")
    longquan = await tg.group("龙泉社区工作群", members=[(li["id"], "administrator")])
    riverside = await tg.group("Riverside staff", members=[(kate["id"], "administrator")])
    for chat, title in (
        (wang["id"], "骑手 小王 (private chat)"),
        (sam["id"], "Rider Sam (private chat)"),
        (longquan["id"], "龙泉社区工作群 (staff group)"),
        (riverside["id"], "Riverside staff (staff group)"),
        (supervisors_id, "街道督办 (supervisors)"),
    ):
        screens.name(chat, title)

    await tg.send_text(li["id"], "/link longquan", chat_id=longquan["id"])
    await tg.send_text(kate["id"], "/link riverside", chat_id=riverside["id"])
    await says(tg, longquan["id"], "龙泉社区")
    await says(tg, riverside["id"], "Riverside")
    await screens.scene(
        "Staff link their groups to their communities", longquan["id"], riverside["id"]
    )

    await tg.send_text(wang["id"], "/start")
    await says(tg, wang["id"], "随手报")
    await tg.send_photo(wang["id"], jpeg(color=(90, 140, 60)))
    await says(tg, wang["id"], "发送位置")
    await tg.send_location(wang["id"], 36.1152, 113.2071)
    await tap(tg, wang["id"], "环境卫生")
    await says(tg, wang["id"], "补充")
    await tg.send_text(wang["id"], "菜市场门口垃圾桶满了，溢到人行道上")
    await says(tg, wang["id"], "已上报")
    await says(tg, longquan["id"], "菜市场")
    await screens.scene(
        "A rider reports an overflowing bin: photo first", wang["id"], longquan["id"]
    )

    await tg.send_location(wang["id"], 36.1138, 113.2102)
    await says(tg, wang["id"], "现场照片")
    await tg.send_photo(wang["id"], jpeg(color=(200, 40, 30)), caption="楼道消防通道被电动车堵死")
    await tap(tg, wang["id"], "消防安全")
    await says(tg, wang["id"], "#2")
    await says(tg, longquan["id"], "#2")
    await screens.scene(
        "Location first, the caption is the note: a fire hazard", wang["id"], longquan["id"]
    )

    await tg.send_photo(sam["id"], jpeg(color=(40, 40, 160)))
    await says(tg, sam["id"], "location")
    await tg.send_location(sam["id"], 36.1001, 113.2203)
    await tap(tg, sam["id"], "Public order")
    await tap(tg, sam["id"], "Skip")
    await says(tg, sam["id"], "#3")
    await says(tg, riverside["id"], "#3")
    await screens.scene(
        "An English-speaking rider, an English-speaking community", sam["id"], riverside["id"]
    )

    await tg.send_photo(wang["id"], jpeg(color=(120, 120, 120)))
    await tg.send_location(wang["id"], 36.2000, 113.4000)
    await tap(tg, wang["id"], "环境卫生")
    await tap(tg, wang["id"], "跳过")
    await says(tg, wang["id"], "#4")
    await says(tg, supervisors_id, "#4")
    await screens.scene(
        "Outside every community: the supervisors dispatch it", wang["id"], supervisors_id
    )

    await staff_loop(tg, screens, wang, li, kate, longquan["id"], riverside["id"])

    await tg.send_sticker(wang["id"])
    await tg.send_text(wang["id"], "你好")
    await says(tg, wang["id"], "发一张现场照片")
    await screens.scene("Anything else gets a short hint", wang["id"])
    if bot.returncode is not None:
        raise RuntimeError("the bot stopped during the demo")


async def press_on_card(
    tg: Fakegram, user: dict[str, Any], chat_id: int, n: int, label: str
) -> None:
    card = next(
        m for m in await tg.bot_messages(chat_id) if m.get("photo") and f"#{n}\n" in text_of(m)
    )
    query = await tg.press(user["id"], chat_id, card["message_id"], button_data(card, label))
    await tg.callback_answer(query)


async def card_shows(tg: Fakegram, chat_id: int, n: int, words: str) -> None:
    async def shown() -> bool:
        return any(
            m.get("photo") and f"#{n}\n" in text_of(m) and words in text_of(m)
            for m in await tg.bot_messages(chat_id)
        )

    await tg.until(shown, timeout=20)


async def staff_loop(
    tg: Fakegram,
    screens: Screens,
    wang: dict[str, Any],
    li: dict[str, Any],
    kate: dict[str, Any],
    longquan: int,
    riverside: int,
) -> None:
    """Claim, resolve with proof, the rider says not fixed, resolved again, confirmed."""
    group = longquan
    await press_on_card(tg, li, group, 1, "接单")
    await card_shows(tg, group, 1, "处理中")
    await press_on_card(tg, li, group, 1, "办结")
    await says(tg, group, "整改后的照片")
    prompt = [m for m in await tg.bot_messages(group) if "整改后的照片" in text_of(m)][-1]
    await tg.send_photo(
        li["id"],
        jpeg(color=(30, 160, 60)),
        caption="已清运",
        chat_id=group,
        reply_to=prompt["message_id"],
    )
    await card_shows(tg, group, 1, "已办结")
    await says(tg, wang["id"], "真的解决了吗")
    await screens.scene("Staff claim #1 and resolve it with an after photo", group, wang["id"])

    await tap(tg, wang["id"], "未解决")
    await says(tg, group, "#1 重新打开")
    await card_shows(tg, group, 1, "重新打开")
    await press_on_card(tg, li, group, 1, "办结")
    await says(tg, group, "整改后的照片")
    prompt = [m for m in await tg.bot_messages(group) if "整改后的照片" in text_of(m)][-1]
    await tg.send_text(
        li["id"], "溢出的垃圾也清理干净了", chat_id=group, reply_to=prompt["message_id"]
    )
    await says(tg, wang["id"], "溢出的垃圾也清理干净了")
    await tap(tg, wang["id"], "已解决")
    await card_shows(tg, group, 1, "骑手已确认")
    await screens.scene(
        "The rider says not fixed; staff fix it properly; confirmed", wang["id"], group
    )

    await press_on_card(tg, li, group, 2, "退回")
    await tg.until(lambda: _offers(tg, group, 2, "不归本社区"))
    await press_on_card(tg, li, group, 2, "不归本社区")
    await tg.until(lambda: _offers(tg, group, 2, "Riverside"))
    await press_on_card(tg, li, group, 2, "Riverside")
    await card_shows(tg, riverside, 2, "Status: open")
    await card_shows(tg, group, 2, "已转给")
    await screens.scene(
        "Not ours: #2 goes to the Riverside group, in English", group, riverside, wang["id"]
    )
    del kate


async def _offers(tg: Fakegram, chat_id: int, n: int, label: str) -> bool:
    for message in await tg.bot_messages(chat_id):
        if message.get("photo") and f"#{n}\n" in text_of(message):
            return any(label in b for row in buttons_of(message) for b in row)
    return False


supervisors_id = 0


async def main() -> int:
    global supervisors_id
    async with FakegramProcess.start() as server:
        tg = Fakegram(server.url, TOKEN)
        try:
            boss = await tg.user("张主任", language_code="zh-hans")
            supervisors = await tg.group("街道督办", members=[(boss["id"], "creator")])
            supervisors_id = int(supervisors["id"])
            with tempfile.TemporaryDirectory() as folder:
                env = {
                    **os.environ,
                    "BOT_TOKEN": TOKEN,
                    "TELEGRAM_API_URL": server.url,
                    "DATABASE_URL": f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}",
                    "SUPERVISOR_CHAT_IDS": str(supervisors_id),
                    "COMMUNITIES_FILE": "",
                }
                log = Path(folder) / "bot.log"
                with log.open("wb") as sink:
                    bot = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "bot", env=env, stdout=sink, stderr=sink
                    )
                    try:
                        print(
                            f"{BOLD}随手报 demo{RESET}: a local Telegram at {server.url}, "
                            f"the bot as its own process (pid {bot.pid})."
                        )
                        await play(tg, bot)
                        print(
                            f"\n{BOLD}Done.{RESET} `make test` runs all this, and more, as tests."
                        )
                    except BaseException:
                        print(log.read_text(encoding="utf-8", errors="replace")[-3000:])
                        raise
                    finally:
                        bot.terminate()
                        await asyncio.wait_for(bot.wait(), timeout=15)
        finally:
            await tg.close()
    return 0


def _run() -> None:
    sys.exit(asyncio.run(main()))


if __name__ == "__main__":
    _run()
