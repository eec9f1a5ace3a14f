"""The daily digest's picture: filed vs closed per community, and the closure rate's trend.

Pure: a PNG from the figures given, no clock and no files. Matplotlib is used through its
object-oriented API on an Agg canvas, never pyplot, so rendering is thread-safe, opens no window
and leaves no figure registered anywhere.

Fonts: Chinese needs a CJK font, which matplotlib does not ship. The first of the usual CJK fonts
(CJK_FONT_NAMES) that matplotlib finds on the system is used after DejaVu Sans, glyph by glyph.
Any text the fonts cannot draw completely is replaced rather than drawn as boxes: a community by
its ASCII `fallback` (its id), a chart word by the same field of `ascii_words`, else of
ENGLISH_WORDS. So a host without a CJK font sends a readable chart with community ids and English
words, and matplotlib never warns about a missing glyph.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from functools import lru_cache

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import MaxNLocator, PercentFormatter

# In order of preference; a font matches when its family name contains one of these.
CJK_FONT_NAMES = (
    "Noto Sans CJK",
    "Noto Sans SC",
    "Source Han Sans",
    "WenQuanYi",
    "SimHei",
    "Microsoft YaHei",
    "PingFang",
    "Heiti",
    "Droid Sans Fallback",
)
_BASE_FONT = "DejaVu Sans"  # bundled with matplotlib, so always there

MAX_BARS = 15
_LABEL_CHARS = 24  # longer community names are cut, so the bars keep most of the width
_WIDTH_IN, _HEIGHT_IN, _DPI = 12.0, 9.0, 100  # 1200 × 900 px
_FILED_COLOUR, _CLOSED_COLOUR, _RATE_COLOUR = "#4C72B0", "#55A868", "#C44E52"
_MUTED = "#555555"


@dataclass(frozen=True, slots=True)
class CommunityBar:
    label: str  # the community's name
    fallback: str  # ASCII (the community id), drawn when no font can draw `label`
    filed: int
    closed: int  # resolved or confirmed


@dataclass(frozen=True, slots=True)
class TrendPoint:
    day: date
    closure_rate: float | None  # 0..1; None: nothing filed that day, drawn as a gap


@dataclass(frozen=True, slots=True)
class ChartWords:
    title: str
    filed: str
    closed: str
    closure_rate: str
    by_community: str
    trend: str
    others: str = "Others"  # the bar that sums the communities beyond the first MAX_BARS - 1
    no_data: str = "Nothing filed"  # shown in a panel that has nothing to draw


ENGLISH_WORDS = ChartWords(
    title="Daily digest",
    filed="Filed",
    closed="Closed",
    closure_rate="Closure rate",
    by_community="By community",
    trend="Closure rate by day",
)


def digest_chart(
    bars: Sequence[CommunityBar],
    trend: Sequence[TrendPoint],
    words: ChartWords,
    *,
    ascii_words: ChartWords | None = None,
) -> bytes:
    """The digest's chart as a PNG of about 1200 × 900 px (see digest_figure)."""
    figure = digest_figure(bars, trend, words, ascii_words=ascii_words)
    out = io.BytesIO()
    try:
        # No software tag, so the same figures give the same bytes across matplotlib versions.
        figure.savefig(out, format="png", dpi=_DPI, metadata={"Software": None})
    finally:
        figure.clear()
    return out.getvalue()


def digest_figure(
    bars: Sequence[CommunityBar],
    trend: Sequence[TrendPoint],
    words: ChartWords,
    *,
    ascii_words: ChartWords | None = None,
) -> Figure:
    """Two panels: filed vs closed bars per community, then the daily closure rate in percent.

    Communities are sorted by filed, most first; beyond MAX_BARS the smallest are summed into
    one `others` bar. Trend days may come in any order; days missing between the first and the
    last are gaps like days with closure_rate None. Empty inputs give a panel saying no_data.
    Raises ValueError on a closure rate outside 0..1.
    """
    for point in trend:
        rate = point.closure_rate
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError(f"The closure rate of {point.day} is {rate}, not within 0..1.")
    fonts = _fonts()
    shown = _chosen_words(words, ascii_words, fonts)
    figure = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN), dpi=_DPI)
    FigureCanvasAgg(figure)
    # Not bold: most CJK fonts have no bold face, and a half-bold title looks broken.
    figure.suptitle(shown.title, fontsize=16, fontfamily=fonts.families)
    # Fixed margins instead of constrained layout: the layout solver took half the render time.
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 2))
    figure.subplots_adjust(left=0.2, right=0.97, top=0.92, bottom=0.07, hspace=0.3)
    _draw_bars(top, fold(bars, shown.others), shown, fonts)
    _draw_trend(bottom, trend, shown, fonts)
    return figure


def fold(bars: Sequence[CommunityBar], others: str, limit: int = MAX_BARS) -> list[CommunityBar]:
    """The bars sorted by filed, most first; past `limit` bars the rest are summed into others."""
    ordered = sorted(bars, key=lambda b: (-b.filed, -b.closed, b.fallback))
    if len(ordered) <= limit:
        return ordered
    kept, rest = ordered[: limit - 1], ordered[limit - 1 :]
    folded = CommunityBar(
        label=others,
        fallback="others",
        filed=sum(b.filed for b in rest),
        closed=sum(b.closed for b in rest),
    )
    return [*kept, folded]


def pick_cjk_font(names: Iterable[str]) -> str | None:
    """The preferred CJK font among font family names (Simplified Chinese variants first)."""
    best: tuple[int, int, str] | None = None
    for name in set(names):
        for rank, wanted in enumerate(CJK_FONT_NAMES):
            if wanted.lower() in name.lower():
                key = (rank, 0 if " SC" in name or name.endswith("SC") else 1, name)
                if best is None or key < best:
                    best = key
                break
    return None if best is None else best[2]


def cjk_font() -> str | None:
    """The CJK font charts use, or None when matplotlib knows of none on this host."""
    return _fonts().cjk


@dataclass(frozen=True, slots=True)
class _Fonts:
    families: list[str]  # for matplotlib's fontfamily: the base font, then the CJK one if any
    cjk: str | None
    charmap: frozenset[int]  # the code points the families can draw between them

    def can_draw(self, text: str) -> bool:
        return all(ord(c) in self.charmap or c.isspace() for c in text)


@lru_cache(maxsize=1)
def _fonts() -> _Fonts:
    """The fonts found on this host; looked up once, since scanning them is slow."""
    base = font_manager.findfont(FontProperties(family=_BASE_FONT), fallback_to_default=False)
    charmap = set(FT2Font(base).get_charmap())
    entries = font_manager.fontManager.ttflist
    cjk = pick_cjk_font(entry.name for entry in entries)
    if cjk is None:
        return _Fonts([_BASE_FONT], None, frozenset(charmap))
    path = next(entry.fname for entry in entries if entry.name == cjk)
    charmap |= set(FT2Font(path).get_charmap())
    return _Fonts([_BASE_FONT, cjk], cjk, frozenset(charmap))


def _chosen_words(words: ChartWords, ascii_words: ChartWords | None, fonts: _Fonts) -> ChartWords:
    """Each word as given if it can be drawn, else from ascii_words, else from ENGLISH_WORDS."""
    chosen: dict[str, str] = {}
    for field in fields(ChartWords):
        candidates = [getattr(w, field.name) for w in (words, ascii_words) if w is not None]
        default: str = getattr(ENGLISH_WORDS, field.name)
        chosen[field.name] = next((c for c in candidates if fonts.can_draw(c)), default)
    return ChartWords(**chosen)


def _bar_label(bar: CommunityBar, fonts: _Fonts) -> str:
    for text in (bar.label, bar.fallback):
        if text and fonts.can_draw(text):
            return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"
    drawable = "".join(c for c in bar.fallback if fonts.can_draw(c))
    return drawable[:_LABEL_CHARS] or "?"


def _say_nothing(ax: Axes, words: ChartWords, fonts: _Fonts) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.text(
        0.5,
        0.5,
        words.no_data,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=14,
        color=_MUTED,
        fontfamily=fonts.families,
    )


def _draw_bars(ax: Axes, bars: Sequence[CommunityBar], words: ChartWords, fonts: _Fonts) -> None:
    ax.set_title(words.by_community, loc="left", fontsize=13, fontfamily=fonts.families)
    if not bars:
        _say_nothing(ax, words, fonts)
        return
    rows = range(len(bars))
    thickness = 0.4
    filed = ax.barh(
        [y - thickness / 2 for y in rows],
        [b.filed for b in bars],
        height=thickness,
        color=_FILED_COLOUR,
        label=words.filed,
    )
    closed = ax.barh(
        [y + thickness / 2 for y in rows],
        [b.closed for b in bars],
        height=thickness,
        color=_CLOSED_COLOUR,
        label=words.closed,
    )
    ax.bar_label(filed, padding=3, fontsize=9)
    ax.bar_label(
        closed,
        labels=[
            f"{b.closed} ({round(100 * b.closed / b.filed)}%)" if b.filed else str(b.closed)
            for b in bars
        ],
        padding=3,
        fontsize=9,
        color=_MUTED,
    )
    ax.set_yticks(list(rows), [_bar_label(b, fonts) for b in bars], fontfamily=fonts.families)
    ax.invert_yaxis()  # the most filed on top
    most = max(max(b.filed, b.closed) for b in bars)
    ax.set_xlim(0, max(most, 1) * 1.15)  # room for the value labels
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", color="#dddddd")
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower right", prop={"family": fonts.families}, frameon=False)


def _draw_trend(ax: Axes, trend: Sequence[TrendPoint], words: ChartWords, fonts: _Fonts) -> None:
    ax.set_title(words.trend, loc="left", fontsize=13, fontfamily=fonts.families)
    rates = {p.day: p.closure_rate for p in trend}
    if all(rate is None for rate in rates.values()):
        _say_nothing(ax, words, fonts)
        return
    first, last = min(rates), max(rates)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    xs = list(range(len(days)))
    percents = [_percent(rates.get(day)) for day in days]
    ax.plot(xs, percents, color=_RATE_COLOUR, marker="o", linewidth=2, markersize=6)
    if len(days) <= 16:
        for x, y in zip(xs, percents, strict=True):
            if not math.isnan(y):
                ax.annotate(
                    f"{y:.0f}%",
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 8),
                    ha="center",
                    fontsize=9,
                    color=_MUTED,
                )
    step = max(1, math.ceil(len(days) / 10))
    pattern = "%m-%d" if first.year == last.year else "%Y-%m-%d"
    ax.set_xticks(xs[::step], [day.strftime(pattern) for day in days[::step]])
    ax.set_xlim(-0.5, len(days) - 0.5)
    ax.set_ylim(0, 110)  # headroom for a label above 100 %
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylabel(words.closure_rate, fontfamily=fonts.families)
    ax.grid(axis="y", color="#dddddd")
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)


def _percent(rate: float | None) -> float:
    return math.nan if rate is None else 100.0 * rate
