"""Staff groups: linking a group to its community, and following the group's membership."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import ChatMember, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.desk import ReportDesk
from handlers.present import present
from handlers.rider import person

Context = ContextTypes.DEFAULT_TYPE

ADMINS = {ChatMember.ADMINISTRATOR, ChatMember.OWNER}
GONE = {ChatMember.LEFT, ChatMember.BANNED}


@dataclass(frozen=True, slots=True)
class GroupHandlers:
    desk: ReportDesk

    async def link(self, update: Update, context: Context) -> None:
        """`/link <community-id>` by an admin makes this group that community's staff group."""
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        # An anonymous admin writes as the group itself.
        is_admin = message.sender_chat is not None and message.sender_chat.id == chat.id
        if not is_admin:
            member = await context.bot.get_chat_member(chat.id, user.id)
            is_admin = member.status in ADMINS
        arg = context.args[0] if context.args else None
        reply = await self.desk.link(chat.id, user.id, arg, is_admin=is_admin)
        await message.reply_text(reply, parse_mode=ParseMode.HTML)

    async def link_in_private(self, update: Update, context: Context) -> None:
        """`/link` sent to the bot privately: point to the group."""
        await present(update, await self.desk.link_in_private(person(update)))

    async def membership(self, update: Update, context: Context) -> None:
        """The bot was added to or removed from a chat."""
        change = update.my_chat_member
        assert change is not None
        if change.new_chat_member.status in GONE and change.chat.type != "private":
            await self.desk.bot_left(change.chat.id)

    async def migrated(self, update: Update, context: Context) -> None:
        """A group became a supergroup: its link moves to the new chat id."""
        message = update.effective_message
        assert message is not None
        if message.migrate_to_chat_id is not None:
            await self.desk.chat_moved(message.chat.id, message.migrate_to_chat_id)
        elif message.migrate_from_chat_id is not None:
            await self.desk.chat_moved(message.migrate_from_chat_id, message.chat.id)
