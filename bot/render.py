"""Pure rendering of what staff, riders and supervisors see about a report."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import callbacks
from bot.callbacks import CardAction, OnCard, TransferTo
from bot.domain import Button, Category, Language, Report, RouteKind, Status
from bot.i18n import Texts

Buttons = tuple[tuple[Button, ...], ...]


def map_link(lat: float, lon: float, lang: Language) -> str:
    """Amap for Chinese readers (it takes WGS-84 when told), OpenStreetMap otherwise."""
    if lang is Language.ZH:
        return f"https://uri.amap.com/marker?position={lon:.6f},{lat:.6f}&coordinate=wgs84"
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=18/{lat:.6f}/{lon:.6f}"
    )


def local_time(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%m-%d %H:%M")


def age(texts: Texts, lang: Language, span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 120:
        return texts(lang, "age_minutes", n=minutes)
    if minutes < 48 * 60:
        return texts(lang, "age_hours", n=minutes // 60)
    return texts(lang, "age_days", n=minutes // (24 * 60))


def status_name(texts: Texts, lang: Language, status: Status) -> str:
    return texts(lang, f"status_{status.value}")


@dataclass(frozen=True, slots=True)
class CardContext:
    """What a card needs besides the report: names, and which community's group it sits in."""

    category: Category
    community_name: str | None
    rider_pseudonym: str
    zone: ZoneInfo
    card_community: str | None = None
    holder_name: str | None = None
    now_community_name: str | None = None
    # Set when the report is still open past its category's SLA.
    overdue: bool = False


def card_caption(texts: Texts, lang: Language, report: Report, ctx: CardContext) -> str:
    """The caption of a report's card: number, category, community, place, note, status."""
    lines = [texts(lang, "card_title", category=ctx.category.label(lang), number=report.number)]
    if ctx.overdue and report.is_active:
        lines.append(texts(lang, "card_overdue", sla=f"{ctx.category.sla_hours:g}"))
    if ctx.category.urgent and report.is_active:
        lines.append(texts(lang, "card_urgent"))
    if ctx.community_name is not None:
        if report.route_kind is RouteKind.NEAR and report.community_id == ctx.card_community:
            distance = round(report.route_distance_m)
            lines.append(
                texts(lang, "card_community_near", community=ctx.community_name, distance=distance)
            )
        else:
            lines.append(texts(lang, "card_community", community=ctx.community_name))
    point = {"lat": f"{report.lat:.5f}", "lon": f"{report.lon:.5f}"}
    lines.append(texts(lang, "card_location", map=map_link(report.lat, report.lon, lang), **point))
    if report.note:
        lines.append(texts(lang, "card_note", note=report.note))
    filed = local_time(report.filed_at, ctx.zone)
    lines.append(texts(lang, "card_filed", filed=filed, rider=ctx.rider_pseudonym))
    lines.extend(_state_lines(texts, lang, report, ctx))
    return "\n".join(lines)


def _state_lines(texts: Texts, lang: Language, report: Report, ctx: CardContext) -> list[str]:
    moved_away = ctx.card_community is not None and report.community_id != ctx.card_community
    if moved_away:
        return [texts(lang, "card_transferred", community=ctx.now_community_name or "?")]
    staff = ctx.holder_name or "?"
    lines = [texts(lang, "card_reopened")] if report.reopened and report.is_active else []
    match report.status:
        case Status.OPEN:
            lines.append(texts(lang, "card_status_open"))
        case Status.UNROUTED:
            lines.append(texts(lang, "card_status_unrouted"))
        case Status.CLAIMED:
            since = local_time(report.held_since or report.updated_at, ctx.zone)
            lines.append(texts(lang, "card_status_claimed", staff=staff, since=since))
        case Status.RESOLVED | Status.CONFIRMED:
            at = local_time(report.resolved_at or report.updated_at, ctx.zone)
            if report.status is Status.CONFIRMED:
                lines.append(texts(lang, "card_status_confirmed"))
                lines.append(texts(lang, "card_resolved_by", staff=staff, at=at))
            else:
                lines.append(texts(lang, "card_status_resolved", staff=staff, at=at))
            if report.resolution_note:
                lines.append(texts(lang, "card_resolution_note", note=report.resolution_note))
            key = "card_after_photo_yes" if report.after_photo_file_id else "card_after_photo_no"
            lines.append(texts(lang, key))
            if report.status is Status.RESOLVED and not report.rider_answered:
                lines.append(texts(lang, "card_awaiting_rider"))
        case Status.REJECTED if report.duplicate_of is not None:
            lines.append(texts(lang, "card_status_duplicate", original=report.duplicate_of))
        case Status.REJECTED:
            lines.append(texts(lang, "card_status_invalid"))
            if report.resolution_note:
                lines.append(texts(lang, "card_invalid_note", note=report.resolution_note))
    return lines


def card_buttons(
    texts: Texts, lang: Language, report: Report, card_community: str | None
) -> Buttons:
    """The actions staff can take from this state; none once it has left their hands."""
    if card_community is None or report.community_id != card_community:
        return ()

    def button(key: str, action: CardAction) -> Button:
        return Button(texts(lang, key), callbacks.encode(OnCard(action, report.number)))

    match report.status:
        case Status.OPEN:
            return (
                (
                    button("btn_claim", CardAction.CLAIM),
                    button("btn_resolve", CardAction.RESOLVE),
                    button("btn_reject", CardAction.REJECT),
                ),
            )
        case Status.CLAIMED:
            return (
                (
                    button("btn_resolve", CardAction.RESOLVE),
                    button("btn_reject", CardAction.REJECT),
                ),
                (
                    button("btn_release", CardAction.RELEASE),
                    button("btn_take_over", CardAction.TAKE_OVER),
                ),
            )
    return ()


def reject_menu(texts: Texts, lang: Language, number: int) -> Buttons:
    def button(key: str, action: CardAction) -> Button:
        return Button(texts(lang, key), callbacks.encode(OnCard(action, number)))

    return (
        (
            button("btn_duplicate", CardAction.DUPLICATE),
            button("btn_not_ours", CardAction.NOT_OURS),
            button("btn_invalid", CardAction.INVALID),
        ),
        (button("btn_back", CardAction.BACK),),
    )


def transfer_menu(
    texts: Texts, lang: Language, number: int, communities: list[tuple[str, str]]
) -> Buttons:
    rows = [
        (Button(name, callbacks.encode(TransferTo(number, community_id))),)
        for community_id, name in communities
    ]
    rows.append(
        (Button(texts(lang, "btn_back"), callbacks.encode(OnCard(CardAction.BACK, number))),)
    )
    return tuple(rows)


# Telegram's longest message, counted as it counts: UTF-16 code units of the text once the HTML
# tags are parsed away (a link's address does not count).
MESSAGE_LIMIT = 4096


def waiting_list(
    texts: Texts,
    lang: Language,
    reports: Sequence[Report],
    categories: Mapping[str, Category],
    zone: ZoneInfo,
    limit: int = MESSAGE_LIMIT,
) -> list[str]:
    """A flooded group's list of reports whose cards are still queued: one line each (number,
    category, place with a map link, time), over as many messages as the length limit needs."""
    lines = [
        texts(
            lang,
            "waiting_line",
            number=report.number,
            category=categories[report.category].label(lang),
            map=map_link(report.lat, report.lon, lang),
            lat=f"{report.lat:.5f}",
            lon=f"{report.lon:.5f}",
            filed=local_time(report.filed_at, zone),
        )
        for report in reports
    ]
    messages: list[list[str]] = []
    size = 0
    for line in lines:
        length = 1 + visible_length(line)  # with the newline before it
        if not messages or size + length > limit:
            title = texts(
                lang, "waiting_title_more" if messages else "waiting_title", count=len(reports)
            )
            messages.append([title])
            size = visible_length(title)
        messages[-1].append(line)
        size += length
    return ["\n".join(message) for message in messages]


def visible_length(text: str) -> int:
    """The length Telegram checks against its limit: UTF-16 code units of the parsed text."""
    shown = html.unescape(re.sub(r"<[^>]*>", "", text))
    return len(shown.encode("utf-16-le")) // 2
