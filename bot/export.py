"""The supervisors' spreadsheet: every report and every event, as xlsx or CSV.

Pure: rows are built from the reports and events given, and files are returned as bytes. Times
are stored in UTC and shown in the zone given, as naive local datetimes (Excel has no time zones;
the header names the zone). Riders appear only by pseudonym, never by Telegram id.

User text (notes, names) never becomes a formula: in CSV a text cell starting with = + - @ or a
tab or carriage return gets a leading single quote, the usual guard against CSV injection; in
xlsx every text cell is written as a string, never as a formula.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeAlias
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from bot.domain import Action, Category, Event, Language, Report, RouteKind, Status

Cell: TypeAlias = str | int | float | datetime | None
Rows: TypeAlias = list[list[Cell]]

REPORT_COLUMNS = (
    "number",
    "filed_at",
    "category_id",
    "category",
    "community_id",
    "community",
    "status",
    "status_value",
    "lat",
    "lon",
    "note",
    "rider",
    "route_kind",
    "route_distance_m",
    "holder",
    "held_since",
    "resolved_at",
    "resolution_note",
    "after_photo",
    "reopened",
    "duplicate_of",
    "rider_answered",
    "updated_at",
)
EVENT_COLUMNS = (
    "number",
    "at",
    "action",
    "action_value",
    "from",
    "to",
    "actor",
    "note",
    "community_id",
    "community",
)
_TIME_COLUMNS = frozenset({"filed_at", "held_since", "resolved_at", "updated_at", "at"})

HEADERS: Mapping[Language, Mapping[str, str]] = {
    Language.ZH: {
        "number": "编号",
        "filed_at": "上报时间",
        "category_id": "类别代码",
        "category": "类别",
        "community_id": "社区代码",
        "community": "社区",
        "status": "状态",
        "status_value": "状态代码",
        "lat": "纬度",
        "lon": "经度",
        "note": "备注",
        "rider": "骑手",
        "route_kind": "定位归属",
        "route_distance_m": "距社区边界（米）",
        "holder": "处理人",
        "held_since": "接单时间",
        "resolved_at": "办结时间",
        "resolution_note": "办结说明",
        "after_photo": "整改照片",
        "reopened": "曾被重开",
        "duplicate_of": "重复于",
        "rider_answered": "骑手已回复",
        "updated_at": "最后更新",
        "at": "时间",
        "action": "操作",
        "action_value": "操作代码",
        "from": "原状态",
        "to": "新状态",
        "actor": "操作人",
    },
    Language.EN: {
        "number": "Number",
        "filed_at": "Filed at",
        "category_id": "Category id",
        "category": "Category",
        "community_id": "Community id",
        "community": "Community",
        "status": "Status",
        "status_value": "Status code",
        "lat": "Latitude",
        "lon": "Longitude",
        "note": "Note",
        "rider": "Rider",
        "route_kind": "Routed",
        "route_distance_m": "Distance outside (m)",
        "holder": "Handled by",
        "held_since": "Held since",
        "resolved_at": "Resolved at",
        "resolution_note": "Resolution note",
        "after_photo": "After photo",
        "reopened": "Reopened",
        "duplicate_of": "Duplicate of",
        "rider_answered": "Rider answered",
        "updated_at": "Last update",
        "at": "At",
        "action": "Action",
        "action_value": "Action code",
        "from": "From",
        "to": "To",
        "actor": "By",
    },
}
SHEET_NAMES: Mapping[Language, tuple[str, str]] = {
    Language.ZH: ("上报", "处理记录"),
    Language.EN: ("Reports", "Events"),
}
# The same words as the bot's catalogues (status_*, action_*, actor_*); a test holds them equal.
STATUS_WORDS: Mapping[Language, Mapping[Status, str]] = {
    Language.ZH: {
        Status.OPEN: "待处理",
        Status.CLAIMED: "处理中",
        Status.RESOLVED: "已办结",
        Status.CONFIRMED: "已解决",
        Status.REJECTED: "已退回",
        Status.UNROUTED: "待派单",
    },
    Language.EN: {
        Status.OPEN: "open",
        Status.CLAIMED: "in hand",
        Status.RESOLVED: "resolved",
        Status.CONFIRMED: "fixed",
        Status.REJECTED: "rejected",
        Status.UNROUTED: "awaiting dispatch",
    },
}
ACTION_WORDS: Mapping[Language, Mapping[Action, str]] = {
    Language.ZH: {
        Action.FILED: "上报",
        Action.DISPATCHED: "派单",
        Action.CLAIMED: "接单",
        Action.RELEASED: "释放",
        Action.TAKEN_OVER: "接手",
        Action.RESOLVED: "办结",
        Action.CONFIRMED: "骑手确认已解决",
        Action.REOPENED: "骑手反馈未解决",
        Action.TRANSFERRED: "转交",
        Action.DUPLICATE: "退回（重复）",
        Action.INVALID: "退回（无效）",
    },
    Language.EN: {
        Action.FILED: "filed",
        Action.DISPATCHED: "dispatched",
        Action.CLAIMED: "claimed",
        Action.RELEASED: "released",
        Action.TAKEN_OVER: "taken over",
        Action.RESOLVED: "resolved",
        Action.CONFIRMED: "rider confirmed fixed",
        Action.REOPENED: "rider says not fixed",
        Action.TRANSFERRED: "handed over",
        Action.DUPLICATE: "rejected (duplicate)",
        Action.INVALID: "rejected (invalid)",
    },
}
ACTOR_WORDS: Mapping[Language, Mapping[str, str]] = {
    Language.ZH: {"rider": "骑手 {rider}", "system": "系统", "supervisor": "督办"},
    Language.EN: {"rider": "Rider {rider}", "system": "system", "supervisor": "supervisor"},
}
_ROUTE_WORDS: Mapping[Language, Mapping[RouteKind, str]] = {
    Language.ZH: {
        RouteKind.INSIDE: "社区内",
        RouteKind.NEAR: "社区边界外附近",
        RouteKind.OUTSIDE: "不在任何社区",
    },
    Language.EN: {
        RouteKind.INSIDE: "inside",
        RouteKind.NEAR: "near, outside the border",
        RouteKind.OUTSIDE: "outside every community",
    },
}
_YES_NO: Mapping[Language, tuple[str, str]] = {
    Language.ZH: ("是", "否"),
    Language.EN: ("yes", "no"),
}

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Control characters the xlsx format cannot hold (openpyxl refuses them).
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAX_CELL_CHARS = 32767  # Excel's limit for one cell
_MAX_WIDTH, _MIN_WIDTH = 50, 6


def export_rows(
    reports: Sequence[Report],
    *,
    zone: ZoneInfo,
    lang: Language,
    community_names: Mapping[str, str],
    categories: Mapping[str, Category],
    pseudonyms: Mapping[int, str],
    staff_names: Mapping[int, str],
) -> tuple[list[str], Rows]:
    """The header and one row per report, in the order given, with every field of Report.

    pseudonyms: rider id -> "R-17" (a missing one is derived from the id like Rider.pseudonym);
    staff_names: staff Telegram id -> name. An unknown category or community shows its id.
    """
    header = _header(REPORT_COLUMNS, lang, zone)
    statuses, routes = STATUS_WORDS[lang], _ROUTE_WORDS[lang]
    yes, no = _YES_NO[lang]
    rows: Rows = []
    for r in reports:
        category = categories.get(r.category)
        rows.append(
            [
                r.number,
                _local(r.filed_at, zone),
                r.category,
                category.names.get(lang, r.category) if category else r.category,
                r.community_id,
                _community(r.community_id, community_names),
                statuses[r.status],
                r.status.value,
                r.lat,
                r.lon,
                r.note,
                pseudonyms.get(r.rider_id) or f"R-{r.rider_id}",
                routes[r.route_kind],
                round(r.route_distance_m),
                None if r.holder_id is None else _staff(r.holder_id, staff_names),
                _local(r.held_since, zone),
                _local(r.resolved_at, zone),
                r.resolution_note,
                yes if r.after_photo_file_id else no,
                yes if r.reopened else no,
                r.duplicate_of,
                yes if r.rider_answered else no,
                _local(r.updated_at, zone),
            ]
        )
    return header, rows


def export_events(
    events: Sequence[Event],
    *,
    zone: ZoneInfo,
    lang: Language,
    community_names: Mapping[str, str],
    pseudonyms: Mapping[int, str],
    staff_names: Mapping[int, str],
    categories: Mapping[str, Category] | None = None,
) -> tuple[list[str], Rows]:
    """The header and one row per event, in the order given; actors as "Rider R-3", a staff
    member's name or "system" (mappings as export_rows'). categories is accepted, and unused,
    so that one set of keywords serves export_rows and export_events alike."""
    header = _header(EVENT_COLUMNS, lang, zone)
    statuses, actions = STATUS_WORDS[lang], ACTION_WORDS[lang]
    rows: Rows = []
    for e in events:
        rows.append(
            [
                e.report_number,
                _local(e.at, zone),
                actions[e.action],
                e.action.value,
                None if e.from_status is None else statuses[e.from_status],
                statuses[e.to_status],
                _actor(e.actor, lang, pseudonyms, staff_names),
                e.note,
                e.community_id,
                _community(e.community_id, community_names),
            ]
        )
    return header, rows


def to_xlsx(
    report_header: Sequence[str],
    report_rows: Sequence[Sequence[Cell]],
    event_header: Sequence[str],
    event_rows: Sequence[Sequence[Cell]],
    *,
    sheet_names: tuple[str, str],
) -> bytes:
    """A workbook of two sheets, each with a bold frozen header row, an autofilter and widths
    that fit the contents."""
    book = Workbook(write_only=True)  # streams rows: a fraction of the time and memory
    for name, header, rows in (
        (sheet_names[0], report_header, report_rows),
        (sheet_names[1], event_header, event_rows),
    ):
        _write_sheet(book, name, header, rows)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    """UTF-8 with a byte order mark (so Excel reads Chinese), CRLF line ends, times as ISO text."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([_csv_text(h) for h in header])
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    return text.getvalue().encode("utf-8-sig")


def _header(columns: Sequence[str], lang: Language, zone: ZoneInfo) -> list[str]:
    words = HEADERS[lang]
    brackets = "（{}）" if lang is Language.ZH else " ({})"
    return [
        words[c] + brackets.format(zone.key) if c in _TIME_COLUMNS else words[c] for c in columns
    ]


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    """The wall-clock time in zone, without tzinfo; a naive time is taken to be UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).replace(tzinfo=None)


def _community(community_id: str | None, names: Mapping[str, str]) -> str | None:
    return None if community_id is None else names.get(community_id, community_id)


def _staff(telegram_id: int, names: Mapping[int, str]) -> str:
    return names.get(telegram_id) or str(telegram_id)


def _actor(
    actor: str,
    lang: Language,
    pseudonyms: Mapping[int, str],
    staff_names: Mapping[int, str],
) -> str:
    """Events name actors "rider:<rider id>", "staff:<telegram id>" or anything else (system)."""
    words = ACTOR_WORDS[lang]
    kind, _, ident = actor.partition(":")
    if ident.isdigit():
        number = int(ident)
        if kind == "rider":
            return words["rider"].format(rider=pseudonyms.get(number) or f"R-{number}")
        if kind == "staff":
            return _staff(number, staff_names)
        if kind == "supervisor":
            return staff_names.get(number) or words["supervisor"]
    return words["system"]


def _csv_text(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_cell(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, str):
        return _csv_text(value)
    return value


def _write_sheet(
    book: Workbook, name: str, header: Sequence[str], rows: Sequence[Sequence[Cell]]
) -> None:
    sheet = book.create_sheet(title=name)
    widths = [_width(h) for h in header]
    for row in rows[:500]:  # a sample is enough to size the columns
        for i, value in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], _width(value))
    for i, width in enumerate(widths, start=1):
        fitted = max(_MIN_WIDTH, width + 3)  # + room for the autofilter's button
        sheet.column_dimensions[get_column_letter(i)].width = min(_MAX_WIDTH, fitted)
    # A write-only sheet writes its columns and view with the first row, so they come first.
    sheet.freeze_panes = "A2"
    if header:
        last = get_column_letter(len(header))
        sheet.auto_filter.ref = f"A1:{last}{len(rows) + 1}"
    bold = Font(bold=True)
    heading = []
    for title in header:
        cell = WriteOnlyCell(sheet, _ILLEGAL_XML.sub("", title))
        cell.data_type = "s"
        cell.font = bold
        heading.append(cell)
    sheet.append(heading)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])


def _xlsx_cell(sheet: object, value: Cell) -> Cell | WriteOnlyCell:
    if not isinstance(value, str):
        return value  # openpyxl gives datetimes a date format of its own
    text = _ILLEGAL_XML.sub("", value)[:_MAX_CELL_CHARS]
    if not text.startswith(_FORMULA_STARTS):
        return text
    cell = WriteOnlyCell(sheet, text)
    # openpyxl takes text starting with "=" for a formula; user text must stay text.
    cell.data_type = "s"
    cell.quotePrefix = True  # and Excel keeps it text when someone edits the cell
    return cell


def _width(value: Cell) -> int:
    """Roughly how many characters wide a value shows; CJK characters count twice."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 19
    text = value if isinstance(value, str) else str(value)
    longest = max(text.split("\n"), key=len)
    return sum(2 if ord(c) >= 0x2E80 else 1 for c in longest)
