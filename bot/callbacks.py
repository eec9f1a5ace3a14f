"""Versioned callback data: what a button says it does. Never trusted, always re-checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bot.domain import Language

VERSION = "v1"


class CardAction(StrEnum):
    CLAIM = "claim"
    RESOLVE = "resolve"
    REJECT = "reject"
    RELEASE = "release"
    TAKE_OVER = "take"
    DUPLICATE = "dup"
    NOT_OURS = "ours"
    INVALID = "invalid"
    BACK = "back"
    SKIP = "skip"  # skip the proof, or the note on an invalid report
    CANCEL = "cancel"  # drop the question the bot asked


@dataclass(frozen=True, slots=True)
class PickCategory:
    category: str


@dataclass(frozen=True, slots=True)
class SkipNote:
    pass


@dataclass(frozen=True, slots=True)
class PickLanguage:
    language: Language


@dataclass(frozen=True, slots=True)
class OnCard:
    """A staff button about one report."""

    action: CardAction
    report: int


@dataclass(frozen=True, slots=True)
class TransferTo:
    report: int
    community: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The rider's answer: is it really fixed?"""

    report: int
    fixed: bool


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A supervisor sends an unrouted report to a community."""

    report: int
    community: str


@dataclass(frozen=True, slots=True)
class MyPage:
    page: int


Press = PickCategory | SkipNote | PickLanguage | OnCard | TransferTo | Verdict | MyPage | Dispatch


def encode(press: Press) -> str:
    match press:
        case PickCategory(category):
            return f"{VERSION}:cat:{category}"
        case SkipNote():
            return f"{VERSION}:skip"
        case PickLanguage(language):
            return f"{VERSION}:lang:{language.value}"
        case OnCard(action, report):
            return f"{VERSION}:k:{action.value}:{report}"
        case TransferTo(report, community):
            return f"{VERSION}:to:{report}:{community}"
        case Verdict(report, fixed):
            return f"{VERSION}:fix:{report}:{int(fixed)}"
        case MyPage(page):
            return f"{VERSION}:my:{page}"
        case Dispatch(report, community):
            return f"{VERSION}:go:{report}:{community}"


# At most nine digits: report numbers stay within a 32-bit integer column.
NUMBER = re.compile(r"[1-9][0-9]{0,8}")


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
        case ["k", action, report] if action in CardAction._value2member_map_ and _n(report):
            return OnCard(CardAction(action), int(report))
        case ["to", report, community] if _n(report) and community:
            return TransferTo(int(report), community)
        case ["fix", report, flag] if _n(report) and flag in ("0", "1"):
            return Verdict(int(report), flag == "1")
        case ["my", page] if page.isdigit() and len(page) < 6:
            return MyPage(int(page))
        case ["go", report, community] if _n(report) and community:
            return Dispatch(int(report), community)
    return None


def report_of(data: str | None) -> int | None:
    """The report a staff button is about, if it is one."""
    press = decode(data)
    if isinstance(press, OnCard | TransferTo):
        return press.report
    return None


def _n(text: str) -> bool:
    return NUMBER.fullmatch(text) is not None
