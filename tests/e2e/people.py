"""A rider's phone: what they tap, and what they see, through the local Telegram."""

from __future__ import annotations

import re
from typing import Any

from fakegram.client import Fakegram, buttons_of, text_of
from tests.e2e.conftest import Town, image

Message = dict[str, Any]


async def bot_says(tg: Fakegram, chat_id: int, contains: str, timeout: float = 10) -> Message:
    """The newest bot message in the chat whose text or caption contains the words."""
    found: list[Message] = []

    async def seen() -> bool:
        found[:] = [m for m in await tg.bot_messages(chat_id) if contains in text_of(m)]
        return bool(found)

    try:
        await tg.until(seen, timeout=timeout)
    except AssertionError:
        shown = [text_of(m) for m in await tg.bot_messages(chat_id)]
        raise AssertionError(
            f"chat {chat_id} never showed {contains!r}; it shows {shown}"
        ) from None
    return found[-1]


async def bot_count(tg: Fakegram, chat_id: int, count: int, timeout: float = 10) -> list[Message]:
    return await tg.wait_for_bot_messages(chat_id, count, timeout=timeout)


async def drained(town: Town, timeout: float = 10) -> None:
    """Wait until the bot's outbox holds nothing more to send."""

    async def empty() -> bool:
        async with town.bot.store.tx() as tx:
            counts = await tx.outbox_counts()
        return counts.get("pending", 0) == 0

    await town.tg.until(empty, timeout=timeout)


def number_in(text: str) -> int:
    match = re.search(r"#(\d+)", text)
    assert match, text
    return int(match[1])


class Phone:
    """One rider's private chat with the bot."""

    def __init__(self, tg: Fakegram, user: dict[str, Any]) -> None:
        self.tg = tg
        self.user = user
        self.id = int(user["id"])

    async def seen(self) -> list[Message]:
        return await self.tg.bot_messages(self.id)

    async def last(self) -> Message:
        return (await self.seen())[-1]

    async def after(self, count: int) -> Message:
        """Wait for the bot's next message after the first `count` it sent here."""
        return (await bot_count(self.tg, self.id, count + 1))[count]

    async def photo(self, caption: str | None = None, **kw: Any) -> Message:
        before = len(await self.seen())
        await self.tg.send_photo(self.id, image(**kw), caption=caption)
        return await self.after(before)

    async def location(self, point: tuple[float, float], **kw: Any) -> Message:
        before = len(await self.seen())
        await self.tg.send_location(self.id, point[0], point[1], **kw)
        return await self.after(before)

    async def text(self, text: str) -> Message:
        before = len(await self.seen())
        await self.tg.send_text(self.id, text)
        return await self.after(before)

    async def tap(self, label: str) -> dict[str, Any]:
        """Press the newest button whose label contains `label` (waiting for it to be shown)."""
        found: list[tuple[int, str]] = []

        async def shown() -> bool:
            for message in reversed(await self.seen()):
                for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                    for button in row:
                        if label in button["text"]:
                            found.append((message["message_id"], button["callback_data"]))
                            return True
            return False

        try:
            await self.tg.until(shown, timeout=10)
        except AssertionError:
            labels = [buttons_of(m) for m in await self.seen()]
            raise AssertionError(f"no button {label!r}; the rider sees {labels}") from None
        message_id, data = found[0]
        query = await self.tg.press(self.id, self.id, message_id, data)
        return await self.tg.callback_answer(query)

    async def file(
        self,
        point: tuple[float, float],
        category: str,
        note: str | None = None,
        *,
        location_first: bool = False,
    ) -> int:
        """Photo and location in either order, a category, a note or Skip; the report's number."""
        if location_first:
            await self.location(point)
            await self.photo()
        else:
            await self.photo()
            await self.location(point)
        await self.tap(category)
        if note is None:
            await self.tap(
                "跳过" if self.user.get("language_code", "").startswith("zh") else "Skip"
            )
        else:
            await self.text(note)
        confirmation = await bot_says(self.tg, self.id, "#")
        return number_in(text_of(confirmation))
