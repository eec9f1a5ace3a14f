"""The rider's private chat: filing reports in a few taps."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update
from telegram.ext import ContextTypes

from bot.desk import Person, ReportDesk
from bot.domain import Photo
from handlers.present import present

Context = ContextTypes.DEFAULT_TYPE


def person(update: Update) -> Person:
    user = update.effective_user
    assert user is not None, "rider handlers are registered for messages from users only"
    return Person(telegram_id=user.id, language_code=user.language_code)


@dataclass(frozen=True, slots=True)
class RiderHandlers:
    desk: ReportDesk

    async def start(self, update: Update, context: Context) -> None:
        """Greet and explain."""
        await present(update, await self.desk.start(person(update)))

    async def help(self, update: Update, context: Context) -> None:
        await present(update, await self.desk.help(person(update)))

    async def cancel(self, update: Update, context: Context) -> None:
        """Drop the draft."""
        await present(update, await self.desk.cancel(person(update)))

    async def my(self, update: Update, context: Context) -> None:
        """The rider's recent reports and their states."""
        await present(update, await self.desk.my_reports(person(update)))

    async def lang(self, update: Update, context: Context) -> None:
        """Offer the languages."""
        await present(update, await self.desk.choose_language(person(update)))

    async def photo(self, update: Update, context: Context) -> None:
        """A compressed photo; its largest size is the one kept."""
        message = update.effective_message
        assert message is not None and message.photo
        largest = max(message.photo, key=lambda size: size.width * size.height)
        photo = Photo(file_id=largest.file_id)
        await present(update, await self.desk.photo(person(update), photo, message.caption))

    async def document(self, update: Update, context: Context) -> None:
        """A file: accepted when it is an image, after its metadata is stripped."""
        message = update.effective_message
        assert message is not None and message.document is not None
        document = message.document

        async def fetch() -> bytes:
            file = await context.bot.get_file(document.file_id)
            return bytes(await file.download_as_bytearray())

        answer = await self.desk.image_file(
            person(update),
            mime_type=document.mime_type,
            size=document.file_size,
            fetch=fetch,
            caption=message.caption,
        )
        await present(update, answer)

    async def location(self, update: Update, context: Context) -> None:
        """A location or venue; a live location counts by its first point only."""
        message = update.effective_message
        assert message is not None
        point = message.venue.location if message.venue else message.location
        assert point is not None
        answer = await self.desk.location(person(update), point.latitude, point.longitude)
        await present(update, answer)

    async def text(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        await present(update, await self.desk.text(person(update), message.text))

    async def other(self, update: Update, context: Context) -> None:
        """Stickers, voice notes, contacts, unknown commands: a short hint, never silence."""
        await present(update, await self.desk.unsupported(person(update)))

    async def press(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        await present(update, await self.desk.press(person(update), query.data))
