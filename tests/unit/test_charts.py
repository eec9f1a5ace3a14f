"""The digest's chart: a PNG that draws what a font can draw, never tofu, never a warning."""

from __future__ import annotations

import math
import struct
import warnings
from datetime import date, timedelta

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from bot.charts import (
    ENGLISH_WORDS,
    MAX_BARS,
    ChartWords,
    CommunityBar,
    TrendPoint,
    cjk_font,
    digest_chart,
    digest_figure,
    fold,
    pick_cjk_font,
)

ZH_WORDS = ChartWords(
    title="随手报日报 2026-11-20",
    filed="上报",
    closed="办结",
    closure_rate="办结率",
    by_community="各社区上报与办结",
    trend="近 7 天办结率",
    others="其他",
    no_data="暂无上报",
)
ASCII_WORDS = ChartWords(
    title="Digest 2026-11-20",
    filed="Filed",
    closed="Closed",
    closure_rate="Closure rate",
    by_community="By community",
    trend="Last 7 days",
    others="Others",
    no_data="Nothing filed",
)
MIXED_BARS = [
    CommunityBar("龙泉社区", "longquan", filed=12, closed=9),
    CommunityBar("Riverside Community", "riverside", filed=30, closed=11),
    CommunityBar("东湖社区", "donghu", filed=0, closed=0),
]
WEEK = [
    TrendPoint(date(2026, 11, 14) + timedelta(days=i), rate)
    for i, rate in enumerate([0.5, 0.75, None, 1.0, 0.0, 0.6, 0.8])
]


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def axes_of(figure: Figure) -> tuple[Axes, Axes]:
    bars, trend = figure.axes
    return bars, trend


def texts_of(figure: Figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(Text) if isinstance(t, Text)]


def test_english_digest_is_a_small_png_of_1200_by_900() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = digest_chart(MIXED_BARS[1:], WEEK, ENGLISH_WORDS)
    assert png_size(png) == (1200, 900)
    assert len(png) < 200_000


def test_chinese_words_and_names_draw_without_glyph_warnings() -> None:
    """With or without a CJK font on the host, nothing is drawn as tofu, so nothing warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = digest_chart(MIXED_BARS, WEEK, ZH_WORDS, ascii_words=ASCII_WORDS)
    assert png_size(png) == (1200, 900)


def test_names_and_words_fall_back_to_ascii_only_without_a_cjk_font() -> None:
    figure = digest_figure(MIXED_BARS, WEEK, ZH_WORDS, ascii_words=ASCII_WORDS)
    bars, trend = axes_of(figure)
    labels = [t.get_text() for t in bars.get_yticklabels()]
    title = figure.get_suptitle()
    if cjk_font() is None:
        assert labels == ["Riverside Community", "longquan", "donghu"]
        assert title == "Digest 2026-11-20"
        assert bars.get_title(loc="left") == "By community"
        assert trend.get_ylabel() == "Closure rate"
    else:
        assert labels == ["Riverside Community", "龙泉社区", "东湖社区"]
        assert title == "随手报日报 2026-11-20"
        assert trend.get_ylabel() == "办结率"


def test_words_fall_back_to_english_when_no_ascii_words_are_given() -> None:
    figure = digest_figure(MIXED_BARS, WEEK, ZH_WORDS)
    expected = ENGLISH_WORDS.title if cjk_font() is None else ZH_WORDS.title
    assert figure.get_suptitle() == expected


def test_communities_are_sorted_by_filed_with_closed_beside_them() -> None:
    bars, _ = axes_of(digest_figure(MIXED_BARS, WEEK, ENGLISH_WORDS))
    filed, closed = bars.containers[:2]
    assert [p.get_width() for p in filed] == [30, 12, 0]
    assert [p.get_width() for p in closed] == [11, 9, 0]
    assert [t.get_text() for t in bars.get_legend().get_texts()] == ["Filed", "Closed"]  # type: ignore[union-attr]


def test_more_than_fifteen_communities_fold_into_others() -> None:
    many = [CommunityBar(f"C{i}", f"c{i}", filed=i, closed=i // 2) for i in range(1, 21)]
    shown = fold(many, "其他")
    assert len(shown) == MAX_BARS
    assert [b.filed for b in shown[:-1]] == list(range(20, 6, -1))
    # Communities 1..6 are summed: filed 1 + ... + 6, closed 0 + 1 + 1 + 2 + 2 + 3.
    assert shown[-1] == CommunityBar("其他", "others", filed=21, closed=9)
    assert sum(b.filed for b in shown) == sum(b.filed for b in many)
    bars, _ = axes_of(digest_figure(many, WEEK, ASCII_WORDS))
    labels = [t.get_text() for t in bars.get_yticklabels()]
    assert len(labels) == MAX_BARS
    assert labels[0] == "C20"
    assert labels[-1] == "Others"


def test_fifteen_communities_are_all_shown() -> None:
    exact = [CommunityBar(f"C{i}", f"c{i}", filed=i, closed=0) for i in range(MAX_BARS)]
    assert [b.label for b in fold(exact, "Others")] == [f"C{i}" for i in reversed(range(15))]


def test_days_without_reports_are_gaps_in_the_trend() -> None:
    """A None day and a day missing from the sequence both break the line."""
    points = [TrendPoint(date(2026, 11, 20), 0.5), TrendPoint(date(2026, 11, 18), 0.25)]
    points.append(TrendPoint(date(2026, 11, 21), None))
    points.append(TrendPoint(date(2026, 11, 22), 1.0))
    _, trend = axes_of(digest_figure([], points, ENGLISH_WORDS))
    ys: list[float] = np.asarray(trend.lines[0].get_ydata(), dtype=float).tolist()
    assert ys[0] == 25.0 and ys[2] == 50.0 and ys[4] == 100.0
    assert math.isnan(ys[1]) and math.isnan(ys[3])
    ticks = [t.get_text() for t in trend.get_xticklabels()]
    assert ticks == ["11-18", "11-19", "11-20", "11-21", "11-22"]


def test_empty_inputs_give_a_chart_that_says_nothing_was_filed() -> None:
    nothing = [TrendPoint(date(2026, 11, 20), None)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = digest_chart([], nothing, ASCII_WORDS)
    assert png_size(png) == (1200, 900)
    figure = digest_figure([], [], ASCII_WORDS)
    assert texts_of(figure).count("Nothing filed") == 2


def test_a_closure_rate_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        digest_figure([], [TrendPoint(date(2026, 11, 20), 1.5)], ENGLISH_WORDS)


def test_cjk_font_prefers_the_first_known_family_and_simplified_chinese() -> None:
    assert pick_cjk_font(["DejaVu Sans", "STIXGeneral"]) is None
    assert pick_cjk_font(["WenQuanYi Zen Hei", "Noto Sans CJK JP", "Noto Sans CJK SC"]) == (
        "Noto Sans CJK SC"
    )
    assert pick_cjk_font(["Droid Sans Fallback", "SimHei"]) == "SimHei"
