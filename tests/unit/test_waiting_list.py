"""A flooded group's list of waiting reports: one line a report, split to Telegram's limit."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.categories import load_categories
from bot.domain import Language, Photo, Report, RouteKind, Status
from bot.i18n import LOCALES, Texts
from bot.render import MESSAGE_LIMIT, visible_length, waiting_list
from bot.settings import Settings
from fakegram.formatting import formatted, utf16_len

TEXTS = Texts.load()
SETTINGS = Settings.from_mapping({})
CATEGORIES = {c.id: c for c in load_categories(SETTINGS.categories_file)}
ZONE = ZoneInfo("Asia/Shanghai")
FILED = datetime(2026, 11, 20, 6, 5, tzinfo=UTC)  # 14:05 in Shanghai


def report(number: int, category: str = "sanitation") -> Report:
    at = FILED + timedelta(seconds=number)
    return Report(
        number=number,
        rider_id=1,
        category=category,
        lat=36.115,
        lon=113.207,
        photo=Photo(file_id="AgADphoto"),
        note=None,
        status=Status.OPEN,
        community_id="longquan",
        route_kind=RouteKind.INSIDE,
        route_distance_m=0.0,
        filed_at=at,
        updated_at=at,
    )


def numbers_in(messages: list[str]) -> list[int]:
    return [int(n) for message in messages for n in re.findall(r"^#(\d+) ", message, re.M)]


@pytest.mark.parametrize(
    ("lang", "words", "map_site"),
    [
        (Language.ZH, ["3 条还在排队", "🧹 环境卫生", "🚨 社会治安"], "uri.amap.com"),
        (Language.EN, ["These 3 are still queued", "🧹 Sanitation", "🚨 Public order"], "osm"),
    ],
)
def test_a_short_list_is_one_message_in_the_groups_language(
    lang: Language, words: list[str], map_site: str
) -> None:
    reports = [report(7), report(8, "public_order"), report(9)]
    (message,) = waiting_list(TEXTS, lang, reports, CATEGORIES, ZONE)
    for word in words:
        assert word in message
    assert numbers_in([message]) == [7, 8, 9]
    assert "36.11500, 113.20700" in message and "11-20 14:05" in message
    link = "openstreetmap.org" if map_site == "osm" else map_site
    assert message.count(link) == 3, "every line links its place on a map"
    formatted(message, "HTML", None)  # Telegram's HTML parser (the local one) accepts it


@pytest.mark.parametrize("lang", list(Language))
def test_a_long_list_is_split_under_telegrams_limit_with_every_report_once(
    lang: Language,
) -> None:
    reports = [report(n) for n in range(1, 301)]
    messages = waiting_list(TEXTS, lang, reports, CATEGORIES, ZONE)
    assert len(messages) > 1
    assert numbers_in(messages) == list(range(1, 301)), "each report once, in order"
    for message in messages:
        text, _ = formatted(message, "HTML", None)
        assert utf16_len(text) == visible_length(message) <= MESSAGE_LIMIT
    assert "300" in messages[0]
    more = TEXTS(lang, "waiting_title_more")
    assert all(message.startswith(more) for message in messages[1:])
    # Only what was needed: the first message could not have taken the next line.
    first_of_second = messages[1].split("\n")[1]
    assert visible_length(messages[0] + "\n" + first_of_second) > MESSAGE_LIMIT


def test_nothing_waiting_means_no_list() -> None:
    assert waiting_list(TEXTS, Language.ZH, [], CATEGORIES, ZONE) == []


@pytest.mark.parametrize("lang", list(Language))
def test_no_catalogue_key_is_written_twice(lang: Language) -> None:
    """JSON keeps the last of two equal keys, so a new key could silently replace an old one."""
    seen: list[str] = []

    def keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
        seen.extend(key for key, _ in pairs)
        return dict(pairs)

    json.loads((LOCALES / f"{lang.value}.json").read_text(encoding="utf-8"), object_pairs_hook=keys)
    assert sorted(k for k in set(seen) if seen.count(k) > 1) == []
