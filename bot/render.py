"""Pure rendering of what staff and supervisors see about a report."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain import Category, Language, Report, Status
from bot.i18n import Texts


def map_link(lat: float, lon: float, lang: Language) -> str:
    """Amap for Chinese readers (it takes WGS-84 when told), OpenStreetMap otherwise."""
    if lang is Language.ZH:
        return f"https://uri.amap.com/marker?position={lon:.6f},{lat:.6f}&coordinate=wgs84"
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=18/{lat:.6f}/{lon:.6f}"
    )


def local_time(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%m-%d %H:%M")


def card_caption(
    texts: Texts,
    lang: Language,
    report: Report,
    category: Category,
    community_name: str | None,
    rider_pseudonym: str,
    zone: ZoneInfo,
) -> str:
    """The caption of a report's card: number, category, community, place, note, status."""
    lines = [texts(lang, "card_title", category=category.label(lang), number=report.number)]
    if category.urgent:
        lines.append(texts(lang, "card_urgent"))
    if community_name is not None:
        if report.route_kind == "near":
            lines.append(
                texts(
                    lang,
                    "card_community_near",
                    community=community_name,
                    distance=round(report.route_distance_m),
                )
            )
        else:
            lines.append(texts(lang, "card_community", community=community_name))
    lines.append(
        texts(
            lang,
            "card_location",
            lat=f"{report.lat:.5f}",
            lon=f"{report.lon:.5f}",
            map=map_link(report.lat, report.lon, lang),
        )
    )
    if report.note:
        lines.append(texts(lang, "card_note", note=report.note))
    lines.append(
        texts(lang, "card_filed", filed=local_time(report.filed_at, zone), rider=rider_pseudonym)
    )
    status_key = "card_status_unrouted" if report.status is Status.UNROUTED else "card_status_open"
    lines.append(texts(lang, status_key))
    return "\n".join(lines)
