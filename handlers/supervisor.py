"""Supervisors' chats: /digest, /stats, /export, /unrouted and dispatching; the minute job."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.supervision import Supervision
from handlers.keyboards import inline

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE


@dataclass(frozen=True, slots=True)
class SupervisorHandlers:
    desk: Supervision

    async def _allowed(self, update: Update) -> bool:
        chat, user, message = update.effective_chat, update.effective_user, update.effective_message
        assert chat is not None and message is not None
        if self.desk.allowed(chat.id, user.id if user else None):
            return True
        await message.reply_text(self.desk.refusal())
        return False

    async def digest(self, update: Update, context: Context) -> None:
        """`/digest`: today's digest so far."""
        if not await self._allowed(update):
            return
        message = update.effective_message
        assert message is not None
        digest = await self.desk.digest_so_far()
        await message.reply_text(digest.text, parse_mode=ParseMode.HTML)

    async def stats(self, update: Update, context: Context) -> None:
        """`/stats [period]`."""
        if not await self._allowed(update):
            return
        message = update.effective_message
        assert message is not None
        text = await self.desk.stats(context.args or [])
        await message.reply_text(text, parse_mode=ParseMode.HTML)

    async def export(self, update: Update, context: Context) -> None:
        """`/export [period]`: a spreadsheet and a CSV of the same rows."""
        if not await self._allowed(update):
            return
        message = update.effective_message
        assert message is not None
        files = await self.desk.export(context.args or [])
        if isinstance(files, str):
            await message.reply_text(files)
            return
        await message.reply_document(
            InputFile(files.xlsx, filename=f"{files.name}.xlsx"), caption=files.caption
        )
        await message.reply_document(InputFile(files.csv, filename=f"{files.name}.csv"))

    async def unrouted(self, update: Update, context: Context) -> None:
        """`/unrouted`: each report outside every area, with a keyboard of communities."""
        if not await self._allowed(update):
            return
        chat = update.effective_chat
        assert chat is not None
        for say in await self.desk.unrouted():
            await chat.send_message(
                say.text, parse_mode=ParseMode.HTML, reply_markup=inline(say.buttons)
            )

    async def press(self, update: Update, context: Context) -> None:
        """A community chosen for an unrouted report."""
        query, user = update.callback_query, update.effective_user
        assert query is not None and query.message is not None and user is not None
        toast, done = await self.desk.dispatch(query.message.chat.id, user.id, query.data)
        await query.answer(toast)
        if done is not None:
            await query.edit_message_reply_markup(None)
            await context.bot.send_message(
                query.message.chat.id,
                done,
                reply_parameters=None,
                parse_mode=ParseMode.HTML,
            )


async def minute(context: Context) -> None:
    """Every minute: deadline notices and the daily digest, each sent once whatever restarts."""
    job = context.job
    assert job is not None and isinstance(job.data, Supervision)
    try:
        await job.data.tick()
    except Exception:
        log.exception("the minute's supervision work failed; it runs again next minute")
