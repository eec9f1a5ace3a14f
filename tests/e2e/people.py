"""A rider's phone: what they tap, and what they see, through the local Telegram."""

from __future__ import annotations

import re
from typing import Any

from bot.app import Suishoubao
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


async def drained(town: Town, timeout: float = 10, bot: Suishoubao | None = None) -> None:
    """Wait until the bot's outbox (the town's, or the restarted `bot`'s) has nothing to send."""

    async def empty() -> bool:
        async with (bot or town.bot).store.tx() as tx:
            counts = await tx.outbox_counts()
        return counts.get("pending", 0) == 0

    try:
        await town.tg.until(empty, timeout=timeout)
    except AssertionError:
        async with (bot or town.bot).store.tx() as tx:
            rows = await tx.conn.exec_driver_sql(
                "SELECT key, state, attempts, next_attempt_at, lease_until, last_error FROM outbox"
                " WHERE state = 'pending'"
            )
            raise AssertionError(f"the outbox still holds {rows.all()}") from None


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

    async def tap_message(self, message: Message, label: str) -> dict[str, Any]:
        """Press a button on a given message, as it was shown (perhaps long ago)."""
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if label in button["text"]:
                    query = await self.tg.press(
                        self.id, self.id, message["message_id"], button["callback_data"]
                    )
                    return await self.tg.callback_answer(query)
        raise AssertionError(f"no button {label!r} on {text_of(message)!r}")

    async def file(
        self,
        point: tuple[float, float],
        category: str,
        note: str | None = None,
        *,
        location_first: bool = False,
    ) -> int:
        """Photo and location in either order, a category, a note or Skip; the report's number."""
        confirmed = len(await self._confirmations())
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
        found: list[Message] = []

        async def confirmed_now() -> bool:
            found[:] = await self._confirmations()
            return len(found) > confirmed

        await self.tg.until(confirmed_now)
        return number_in(text_of(found[-1]))

    async def _confirmations(self) -> list[Message]:
        return [m for m in await self.seen() if re.match(r"✅ (已上报 #|Report #)", text_of(m))]


class Desk:
    """A staff member in their community's group."""

    def __init__(self, tg: Fakegram, user: dict[str, Any], chat_id: int) -> None:
        self.tg = tg
        self.user = user
        self.id = int(user["id"])
        self.chat_id = chat_id

    async def card(self, number: int) -> Message:
        """The card of report #number as the group sees it now."""
        for message in await self.tg.bot_messages(self.chat_id):
            if message.get("photo") and f"#{number}\n" in text_of(message) + "\n":
                return message
        raise AssertionError(f"no card #{number} in chat {self.chat_id}")

    async def press(self, number: int, label: str, *, on: Message | None = None) -> dict[str, Any]:
        """Press a button (by label) on the card, or on another bot message."""
        message = on or await self.card(number)
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if label in button["text"]:
                    query = await self.tg.press(
                        self.id, self.chat_id, message["message_id"], button["callback_data"]
                    )
                    return await self.tg.callback_answer(query)
        raise AssertionError(f"no button {label!r} on {text_of(message)!r}: {buttons_of(message)}")

    async def until_card(self, number: int, contains: str, timeout: float = 10) -> Message:
        """Wait until the card's caption shows the words."""
        found: list[Message] = []

        async def shows() -> bool:
            try:
                card = await self.card(number)
            except AssertionError:
                return False
            if contains in text_of(card):
                found.append(card)
                return True
            return False

        try:
            await self.tg.until(shows, timeout=timeout)
        except AssertionError:
            raise AssertionError(
                f"card #{number} never showed {contains!r}: {text_of(await self.card(number))!r}"
            ) from None
        return found[0]

    async def until_button(self, number: int, label: str, timeout: float = 10) -> Message:
        """Wait until the card offers a button with this label."""
        found: list[Message] = []

        async def offers() -> bool:
            card = await self.card(number)
            if any(label in b for row in buttons_of(card) for b in row):
                found.append(card)
                return True
            return False

        await self.tg.until(offers, timeout=timeout)
        return found[0]

    async def question(self, contains: str, nth: int = 1) -> Message:
        """The bot's nth question in the group containing the words (waiting for it)."""
        asked: list[Message] = []

        async def posted() -> bool:
            asked[:] = [
                m for m in await self.tg.bot_messages(self.chat_id) if contains in text_of(m)
            ]
            return len(asked) >= nth

        try:
            await self.tg.until(posted)
        except AssertionError:
            raise AssertionError(f"the group was never asked {contains!r} ({nth})") from None
        return asked[nth - 1]

    async def reply(self, to: Message, text: str | None = None, photo: bytes | None = None) -> None:
        if photo is not None:
            await self.tg.send_photo(
                self.id, photo, caption=text, chat_id=self.chat_id, reply_to=to["message_id"]
            )
        else:
            assert text is not None
            await self.tg.send_text(self.id, text, chat_id=self.chat_id, reply_to=to["message_id"])
