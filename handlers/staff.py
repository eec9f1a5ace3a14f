"""Staff groups: the card's buttons, replies to the bot's questions, /queue and /report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from telegram import Bot, ChatMember, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.domain import Staff
from bot.staffdesk import StaffAnswer, StaffDesk
from handlers.keyboards import inline

Context = ContextTypes.DEFAULT_TYPE

MEMBERS = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER}


def staff_of(update: Update) -> Staff:
    user = update.effective_user
    assert user is not None
    return Staff(user.id, user.full_name)


@dataclass
class Membership:
    """Asks Telegram whether someone is in a group; remembered for a minute per person."""

    bot: Bot
    ttl_s: float = 60.0
    _seen: dict[tuple[int, int], tuple[float, bool]] = field(default_factory=dict)

    async def __call__(self, chat_id: int, user_id: int) -> bool:
        key = (chat_id, user_id)
        cached = self._seen.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except TelegramError:
            return False  # unknown is not a yes
        inside = member.status in MEMBERS or (
            member.status == ChatMember.RESTRICTED and bool(getattr(member, "is_member", False))
        )
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (time.monotonic(), inside)
        return inside


@dataclass(frozen=True, slots=True)
class StaffHandlers:
    desk: StaffDesk

    async def press(self, update: Update, context: Context) -> None:
        """A button on a card or on one of the bot's questions in a staff group."""
        query = update.callback_query
        assert query is not None and query.message is not None
        answer = await self.desk.press(
            query.message.chat.id, staff_of(update), query.message.message_id, query.data
        )
        await query.answer(answer.toast)
        if answer.markup is not None:
            try:
                await query.edit_message_reply_markup(inline(answer.markup))
            except BadRequest as exc:
                if "not modified" not in exc.message.lower():
                    raise
        if answer.prompt is not None:
            await context.bot.send_message(
                query.message.chat.id,
                answer.prompt.text,
                parse_mode=ParseMode.HTML,
                reply_markup=inline(answer.prompt.buttons),
                reply_parameters=ReplyParameters(
                    query.message.message_id, allow_sending_without_reply=True
                ),
            )

    async def reply(self, update: Update, context: Context) -> None:
        """A reply to the bot's message: maybe proof of a fix, or the answer to a question."""
        message = update.effective_message
        assert message is not None and message.reply_to_message is not None
        replied: Message = message.reply_to_message
        if replied.from_user is None or replied.from_user.id != context.bot.id:
            return
        markup = replied.reply_markup
        data = [
            b.callback_data
            for row in (markup.inline_keyboard if markup else ())
            for b in row
            if isinstance(b.callback_data, str)
        ]
        photo = (
            max(message.photo, key=lambda p: p.width * p.height).file_id if message.photo else None
        )
        answer: StaffAnswer | None = await self.desk.reply(
            message.chat.id,
            staff_of(update),
            replied.message_id,
            data,
            text=message.text or message.caption,
            photo_file_id=photo,
        )
        if answer is not None and answer.reply:
            await message.reply_text(answer.reply, parse_mode=ParseMode.HTML)

    async def queue(self, update: Update, context: Context) -> None:
        """`/queue`: what is open in this group's community."""
        message = update.effective_message
        assert message is not None
        text = await self.desk.queue(message.chat.id)
        await message.reply_text(text, parse_mode=ParseMode.HTML, disable_web_page_preview=True)

    async def report(self, update: Update, context: Context) -> None:
        """`/report <number>`: one report's history."""
        message = update.effective_message
        assert message is not None
        arg = context.args[0] if context.args else None
        await message.reply_text(
            await self.desk.history(message.chat.id, arg), parse_mode=ParseMode.HTML
        )
