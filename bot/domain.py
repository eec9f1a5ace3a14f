"""Domain values of 随手报, free of Telegram types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Language(StrEnum):
    ZH = "zh"
    EN = "en"

    @classmethod
    def from_telegram(cls, code: str | None, default: Language) -> Language:
        """The rider's Telegram language when it is zh* or en*, else the default."""
        code = (code or "").lower()
        if code.startswith("zh"):
            return cls.ZH
        if code.startswith("en"):
            return cls.EN
        return default


class Status(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    UNROUTED = "unrouted"


class Action(StrEnum):
    """What happened to a report; every event names one, so figures can be recomputed."""

    FILED = "filed"  # None -> open (routed) or unrouted
    DISPATCHED = "dispatched"  # unrouted -> open, by a supervisor, into a community
    CLAIMED = "claimed"  # open -> claimed
    RELEASED = "released"  # claimed -> open
    TAKEN_OVER = "taken_over"  # claimed -> claimed, by another staff member
    RESOLVED = "resolved"  # open|claimed -> resolved
    CONFIRMED = "confirmed"  # resolved -> confirmed, by the rider
    REOPENED = "reopened"  # resolved -> open, the rider says not fixed
    TRANSFERRED = "transferred"  # open|claimed -> open, in another community ("not ours")
    DUPLICATE = "duplicate"  # open|claimed -> rejected, note names the original "#n"
    INVALID = "invalid"  # open|claimed -> rejected


class RouteKind(StrEnum):
    INSIDE = "inside"
    NEAR = "near"
    OUTSIDE = "outside"


class Step(StrEnum):
    """What a rider's draft is waiting for."""

    PHOTO = "photo"
    LOCATION = "location"
    CATEGORY = "category"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    emoji: str
    names: dict[Language, str]
    sla_hours: float
    urgent: bool = False

    def label(self, lang: Language) -> str:
        return f"{self.emoji} {self.names[lang]}"


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo as Telegram knows it, or as bytes we stripped of metadata ourselves."""

    file_id: str | None = None
    media_id: int | None = None


@dataclass(frozen=True, slots=True)
class Rider:
    id: int
    telegram_id: int
    language: Language

    @property
    def pseudonym(self) -> str:
        return pseudonym(self.id)


def pseudonym(rider_id: int) -> str:
    """How a rider appears to staff and in exports: never by name or Telegram id."""
    return f"R-{rider_id}"


@dataclass(frozen=True, slots=True)
class Draft:
    rider_id: int
    photo: Photo | None = None
    lat: float | None = None
    lon: float | None = None
    category: str | None = None
    note: str | None = None
    step: Step = Step.PHOTO
    updated_at: datetime | None = None

    @property
    def has_location(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class Report:
    number: int
    rider_id: int
    category: str
    lat: float
    lon: float
    photo: Photo
    note: str | None
    status: Status
    community_id: str | None
    route_kind: RouteKind
    route_distance_m: float
    filed_at: datetime
    updated_at: datetime
    holder_id: int | None = None
    held_since: datetime | None = None
    resolved_at: datetime | None = None
    resolution_note: str | None = None
    after_photo_file_id: str | None = None
    reopened: bool = False
    duplicate_of: int | None = None
    rider_answered: bool = False

    @property
    def is_active(self) -> bool:
        """Staff still have to act on it."""
        return self.status in (Status.OPEN, Status.CLAIMED)


@dataclass(frozen=True, slots=True)
class Event:
    """One transition: community_id is the report's community after it."""

    report_number: int
    at: datetime
    from_status: Status | None
    to_status: Status
    actor: str
    action: Action = Action.FILED
    note: str | None = None
    community_id: str | None = None


@dataclass(frozen=True, slots=True)
class Staff:
    telegram_id: int
    name: str


@dataclass(frozen=True, slots=True)
class PendingInput:
    """A question in a staff group that waits for a reply."""

    report_number: int
    kind: str  # "proof", "duplicate" or "invalid"
    staff_id: int
    chat_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: a label and either callback data or a URL."""

    text: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class OutMessage:
    """What to show a chat, in terms any transport can carry out."""

    chat_id: int
    text: str
    photo: Photo | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    reply_to_message_id: int | None = None
    remove_reply_keyboard: bool = False
    # Set when this replaces the caption and buttons of a message already sent (a card).
    edit_message_id: int | None = None
