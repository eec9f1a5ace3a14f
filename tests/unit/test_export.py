"""The supervisors' spreadsheet: every report and event, local times, no formulas from user text."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot.domain import Action, Category, Event, Language, Photo, Report, RouteKind, Status
from bot.export import (
    ACTION_WORDS,
    ACTOR_WORDS,
    EVENT_COLUMNS,
    HEADERS,
    REPORT_COLUMNS,
    SHEET_NAMES,
    STATUS_WORDS,
    Rows,
    export_events,
    export_rows,
    to_csv,
    to_xlsx,
)
from bot.i18n import LOCALES

SHANGHAI = ZoneInfo("Asia/Shanghai")
LATE_EVENING_UTC = datetime(2026, 11, 19, 17, 30, tzinfo=UTC)  # 01:30 next day in Shanghai
CATEGORIES = {
    "sanitation": Category(
        "sanitation", "🗑", {Language.ZH: "环境卫生", Language.EN: "Sanitation"}, 48.0
    ),
}
COMMUNITIES = {"longquan": "龙泉社区"}
PSEUDONYMS = {17: "R-17"}
STAFF = {555: "王芳"}
RIDER_TELEGRAM_ID = 987654321


def report(number: int = 1, **changes: Any) -> Report:
    base = Report(
        number=number,
        rider_id=17,
        category="sanitation",
        lat=30.123456,
        lon=104.654321,
        photo=Photo(file_id=f"tg-photo-{RIDER_TELEGRAM_ID}"),
        note="垃圾桶满了",
        status=Status.CLAIMED,
        community_id="longquan",
        route_kind=RouteKind.INSIDE,
        route_distance_m=0.0,
        filed_at=LATE_EVENING_UTC,
        updated_at=LATE_EVENING_UTC + timedelta(hours=1),
        holder_id=555,
        held_since=LATE_EVENING_UTC + timedelta(hours=1),
    )
    return replace(base, **changes)


def history(number: int = 1) -> list[Event]:
    return [
        Event(number, LATE_EVENING_UTC, None, Status.OPEN, "rider:17", community_id="longquan"),
        Event(
            number,
            LATE_EVENING_UTC + timedelta(hours=1),
            Status.OPEN,
            Status.CLAIMED,
            "staff:555",
            Action.CLAIMED,
            community_id="longquan",
        ),
    ]


def rows_of(reports: Sequence[Report], lang: Language = Language.ZH) -> tuple[list[str], Rows]:
    return export_rows(
        reports,
        zone=SHANGHAI,
        lang=lang,
        community_names=COMMUNITIES,
        categories=CATEGORIES,
        pseudonyms=PSEUDONYMS,
        staff_names=STAFF,
    )


def events_of(events: Sequence[Event], lang: Language = Language.ZH) -> tuple[list[str], Rows]:
    return export_events(
        events,
        zone=SHANGHAI,
        lang=lang,
        community_names=COMMUNITIES,
        categories=CATEGORIES,
        pseudonyms=PSEUDONYMS,
        staff_names=STAFF,
    )


def workbook(reports: Sequence[Report], events: Sequence[Event], *, read_only: bool = False) -> Any:
    data = to_xlsx(*rows_of(reports), *events_of(events), sheet_names=SHEET_NAMES[Language.ZH])
    return openpyxl.load_workbook(io.BytesIO(data), read_only=read_only)


def column(name: str) -> int:
    return REPORT_COLUMNS.index(name)


def test_a_report_row_holds_every_field_with_local_times() -> None:
    header, (row,) = rows_of([report(resolution_note="已清理", duplicate_of=None)])
    assert len(header) == len(row) == len(REPORT_COLUMNS)
    values = dict(zip(REPORT_COLUMNS, row, strict=True))
    assert values == {
        "number": 1,
        "filed_at": datetime(2026, 11, 20, 1, 30),
        "category_id": "sanitation",
        "category": "环境卫生",
        "community_id": "longquan",
        "community": "龙泉社区",
        "status": "处理中",
        "status_value": "claimed",
        "lat": 30.123456,
        "lon": 104.654321,
        "note": "垃圾桶满了",
        "rider": "R-17",
        "route_kind": "社区内",
        "route_distance_m": 0,
        "holder": "王芳",
        "held_since": datetime(2026, 11, 20, 2, 30),
        "resolved_at": None,
        "resolution_note": "已清理",
        "after_photo": "否",
        "reopened": "否",
        "duplicate_of": None,
        "rider_answered": "否",
        "updated_at": datetime(2026, 11, 20, 2, 30),
    }
    assert RIDER_TELEGRAM_ID not in row and str(RIDER_TELEGRAM_ID) not in map(str, row)


def test_an_unrouted_report_has_a_blank_community() -> None:
    unrouted = report(status=Status.UNROUTED, community_id=None, route_kind=RouteKind.OUTSIDE)
    _, (row,) = rows_of([unrouted], Language.EN)
    assert row[column("community_id")] is None
    assert row[column("community")] is None
    assert row[column("status")] == "awaiting dispatch"


def test_event_actors_are_pseudonyms_staff_names_or_system() -> None:
    released = Event(1, LATE_EVENING_UTC + timedelta(hours=9), Status.CLAIMED, Status.OPEN, "")
    events = [*history(), replace(released, action=Action.RELEASED)]
    header, rows = events_of(events, Language.EN)
    assert len(header) == len(EVENT_COLUMNS)
    assert [row[EVENT_COLUMNS.index("actor")] for row in rows] == ["Rider R-17", "王芳", "system"]
    first = dict(zip(EVENT_COLUMNS, rows[1], strict=True))
    assert first["at"] == datetime(2026, 11, 20, 2, 30)
    assert (first["action"], first["from"], first["to"]) == ("claimed", "open", "in hand")
    assert first["community"] == "龙泉社区"


def test_xlsx_holds_a_thousand_reports_and_their_events_in_two_sheets() -> None:
    reports = [report(n, filed_at=LATE_EVENING_UTC + timedelta(minutes=n)) for n in range(1, 1001)]
    events = [history(n)[0] for n in range(1, 1001)]
    started = time.perf_counter()
    book = workbook(reports, events, read_only=True)
    assert time.perf_counter() - started < 3.0
    assert book.sheetnames == ["上报", "处理记录"]
    rows = list(book["上报"].iter_rows(values_only=True))
    logged = list(book["处理记录"].iter_rows(values_only=True))
    book.close()
    assert len(rows) == len(logged) == 1001
    assert list(rows[0]) == rows_of([])[0]
    assert [row[0] for row in rows[1:]] == list(range(1, 1001))
    # 17:31 UTC on the 19th is 01:31 on the 20th in Shanghai: a real datetime, without a zone.
    filed = rows[1][column("filed_at")]
    assert filed == datetime(2026, 11, 20, 1, 31)
    assert filed.tzinfo is None


def test_xlsx_header_is_bold_frozen_and_filtered() -> None:
    sheet = workbook([report()], history())["上报"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:W2"
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.column_dimensions["K"].width >= 12  # the note column fits "垃圾桶满了"


def test_csv_opens_with_the_csv_module_after_its_byte_order_mark() -> None:
    data = to_csv(*rows_of([report(1), report(2, note=None)], Language.EN))
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 3
    header, *rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))
    assert header[:2] == ["Number", "Filed at (Asia/Shanghai)"]
    assert [row[0] for row in rows] == ["1", "2"]
    assert rows[0][column("filed_at")] == "2026-11-20 01:30:00"
    assert rows[0][column("note")] == "垃圾桶满了"
    assert rows[1][column("note")] == ""


@pytest.mark.parametrize("note", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_user_text_never_becomes_a_formula(note: str) -> None:
    reports = [report(note=note, resolution_note=note)]
    events = [replace(history()[1], note=note)]
    header, rows = rows_of(reports)
    csv_rows = list(csv.reader(io.StringIO(to_csv(header, rows).decode("utf-8-sig"))))
    assert csv_rows[1][column("note")] == "'" + note
    assert csv_rows[1][column("resolution_note")] == "'" + note
    book = workbook(reports, events)
    cell = book["上报"].cell(row=2, column=column("note") + 1)
    assert (cell.value, cell.data_type) == (note, "s")
    logged = book["处理记录"].cell(row=2, column=EVENT_COLUMNS.index("note") + 1)
    assert (logged.value, logged.data_type) == (note, "s")


def test_control_characters_in_user_text_do_not_break_the_workbook() -> None:
    book = workbook([report(note="bell\x07 and tab\tkept")], [])
    assert book["上报"].cell(row=2, column=column("note") + 1).value == "bell and tab\tkept"


def test_headers_are_complete_and_distinct_in_both_languages() -> None:
    for lang in Language:
        assert set(HEADERS[lang]) == set(REPORT_COLUMNS) | set(EVENT_COLUMNS)
        for columns in (REPORT_COLUMNS, EVENT_COLUMNS):
            names = [HEADERS[lang][c] for c in columns]
            assert len(set(names)) == len(names)
    assert rows_of([], Language.ZH)[0][:3] == ["编号", "上报时间（Asia/Shanghai）", "类别代码"]
    assert rows_of([], Language.EN)[0][:3] == ["Number", "Filed at (Asia/Shanghai)", "Category id"]
    assert events_of([], Language.EN)[0][1] == "At (Asia/Shanghai)"


def test_status_action_and_actor_words_match_the_bots_catalogues() -> None:
    for lang in Language:
        catalogue = json.loads((LOCALES / f"{lang.value}.json").read_text(encoding="utf-8"))
        for status, word in STATUS_WORDS[lang].items():
            assert catalogue[f"status_{status.value}"] == word
        for action, word in ACTION_WORDS[lang].items():
            assert catalogue[f"action_{action.value}"] == word
        for actor, word in ACTOR_WORDS[lang].items():
            assert catalogue[f"actor_{actor}"] == word
        assert set(STATUS_WORDS[lang]) == set(Status)
        assert set(ACTION_WORDS[lang]) == set(Action)
