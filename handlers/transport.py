"""Sends outbox messages through python-telegram-bot, translating its errors for the worker."""

from __future__ import annotations

from datetime import timedelta

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from bot.delivery import ChatGone, ChatMoved, RetryLater, Sent, Transient, Undeliverable
from bot.domain import OutMessage
from handlers.keyboards import markup_for

GONE = ("chat not found", "bot was kicked", "not a member", "group chat was deactivated")


class TelegramTransport:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: OutMessage, upload: bytes | None) -> Sent:
        markup = markup_for(message.buttons, None, message.remove_reply_keyboard)
        reply = (
            ReplyParameters(message.reply_to_message_id, allow_sending_without_reply=True)
            if message.reply_to_message_id
            else None
        )
        try:
            sent: Message
            if message.edit_message_id is not None:
                return await self._edit(message)
            if message.photo is not None:
                photo = upload if upload is not None else message.photo.file_id
                if photo is None:
                    raise Undeliverable("a photo with neither a file id nor bytes")
                sent = await self.bot.send_photo(
                    message.chat_id,
                    photo=photo,
                    caption=message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    reply_parameters=reply,
                )
                file_id = sent.photo[-1].file_id if sent.photo else None
                return Sent(sent.message_id, file_id)
            sent = await self.bot.send_message(
                message.chat_id,
                message.text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                reply_parameters=reply,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
            return Sent(sent.message_id)
        except RetryAfter as exc:
            raise RetryLater(_seconds(exc.retry_after)) from exc
        except ChatMigrated as exc:
            raise ChatMoved(exc.new_chat_id) from exc
        except Forbidden as exc:
            raise ChatGone(exc.message) from exc
        except BadRequest as exc:
            if any(reason in exc.message.lower() for reason in GONE):
                raise ChatGone(exc.message) from exc
            raise Undeliverable(exc.message) from exc
        except NetworkError as exc:  # includes TimedOut and 5xx answers
            raise Transient(str(exc)) from exc

    async def _edit(self, message: OutMessage) -> Sent:
        assert message.edit_message_id is not None
        markup = markup_for(message.buttons, None, False)
        inline = markup if isinstance(markup, InlineKeyboardMarkup) else None
        try:
            if message.photo is not None:
                await self.bot.edit_message_caption(
                    message.chat_id,
                    message.edit_message_id,
                    caption=message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=inline,
                )
            else:
                await self.bot.edit_message_text(
                    message.text,
                    message.chat_id,
                    message.edit_message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=inline,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
        except BadRequest as exc:
            # Two edits queued for the same state: the second changes nothing, which is fine.
            if "not modified" not in exc.message.lower():
                raise
        return Sent(message.edit_message_id)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
