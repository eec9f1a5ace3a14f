"""Versioned callback data: what a button says it does. Never trusted, always re-checked."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Language

VERSION = "v1"


@dataclass(frozen=True, slots=True)
class PickCategory:
    category: str


@dataclass(frozen=True, slots=True)
class SkipNote:
    pass


@dataclass(frozen=True, slots=True)
class PickLanguage:
    language: Language


Press = PickCategory | SkipNote | PickLanguage


def encode(press: Press) -> str:
    match press:
        case PickCategory(category):
            return f"{VERSION}:cat:{category}"
        case SkipNote():
            return f"{VERSION}:skip"
        case PickLanguage(language):
            return f"{VERSION}:lang:{language.value}"


def decode(data: str | None) -> Press | None:
    """The press the data describes, or None for anything malformed or from another version."""
    parts = (data or "").split(":")
    if len(parts) < 2 or parts[0] != VERSION:
        return None
    match parts[1:]:
        case ["cat", category] if category:
            return PickCategory(category)
        case ["skip"]:
            return SkipNote()
        case ["lang", code] if code in {lang.value for lang in Language}:
            return PickLanguage(Language(code))
    return None
