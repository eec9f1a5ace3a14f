"""Showing the desk's answer: reply messages, the callback toast, the pressed message's new text."""

from __future__ import annotations

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.desk import Answer
from handlers.keyboards import inline, markup_for


async def present(update: Update, answer: Answer) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer(answer.toast)
        if answer.edit is not None and query.message is not None:
            markup = inline(answer.edit_buttons)
            try:
                if not answer.edit:
                    await query.edit_message_reply_markup(markup)
                elif isinstance(query.message, Message) and query.message.photo:
                    await query.edit_message_caption(
                        answer.edit, parse_mode=ParseMode.HTML, reply_markup=markup
                    )
                else:
                    await query.edit_message_text(
                        answer.edit, parse_mode=ParseMode.HTML, reply_markup=markup
                    )
            except BadRequest as exc:
                # Two quick presses: the first already changed the message.
                if "not modified" not in exc.message.lower():
                    raise
    chat = update.effective_chat
    if chat is None:
        return
    for say in answer.says:
        await chat.send_message(
            say.text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup_for(say.buttons, say.location_button, say.remove_keyboard),
        )
