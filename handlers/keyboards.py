"""Domain buttons to Telegram keyboards."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.domain import Button

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def inline(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.text, callback_data=b.data, url=b.url) for b in row]
            for row in rows
        ]
    )


def ask_location(label: str) -> ReplyKeyboardMarkup:
    # One-time: the button hides itself once the rider has used it.
    return ReplyKeyboardMarkup(
        [[KeyboardButton(label, request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def markup_for(
    buttons: tuple[tuple[Button, ...], ...], location_button: str | None, remove: bool
) -> Markup | None:
    if location_button is not None:
        return ask_location(location_button)
    if buttons:
        return inline(buttons)
    if remove:
        return ReplyKeyboardRemove()
    return None
