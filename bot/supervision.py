"""Supervision: deadlines that climb the ladder by themselves, the daily digest, and the
supervisors' commands. Everything that is sent goes through the outbox, once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bot import callbacks
from bot.core import Core, Desk
from bot.delivery import Kind
from bot.desk import Say
from bot.domain import Action, Button, Category, Event, Language, Report, Status
from bot.i18n import Html
from bot.metrics import Figures, breakdown, by_category, by_community
from bot.render import age, local_time
from bot.workflow import Workflow
from storage.store import Tx

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SPARKS = "▁▂▃▄▅▆▇█"
TEXT_BUDGET = 3900  # Telegram allows 4096 characters a message


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    first_day: date
    last_day: date


@dataclass(frozen=True, slots=True)
class Digest:
    text: str
    chart: bytes | None
    chart_caption: str


@dataclass(frozen=True, slots=True)
class ExportFiles:
    xlsx: bytes
    csv: bytes
    name: str
    caption: str


class Supervision(Desk):
    def __init__(self, core: Core, workflow: Workflow) -> None:
        super().__init__(core)
        self.workflow = workflow
        self.lang = core.settings.default_language
        self._settled: dict[tuple[date, str], dict[tuple[str | None, str], Figures]] = {}
        self._fresh: dict[date, dict[tuple[str | None, str], Figures]] = {}

    def allowed(self, chat_id: int, user_id: int | None) -> bool:
        return chat_id in self.settings.supervisor_chat_ids or (
            user_id is not None and user_id in self.settings.admin_user_ids
        )

    def refusal(self) -> str:
        return self.texts(self.lang, "supervisors_only")

    # the clock's work --------------------------------------------------------------------------

    async def tick(self) -> None:
        """Run every minute: deadline notices, then any digest that is due."""
        await self.sweep_deadlines()
        await self.send_due_digests()

    async def sweep_deadlines(self) -> int:
        """75 % of the SLA: one reminder to the group; past it: overdue, once, to supervisors."""
        now = self.clock()
        sent = 0
        for category in self.categories.values():
            sla = timedelta(hours=category.sla_hours)
            async with self.store.tx() as tx:
                for report in await tx.due_for_reminder(
                    category.id, now - sla * 0.75, column="reminded_at"
                ):
                    if await tx.mark_notice(report.number, "reminded_at", now):
                        await self._remind(tx, report, category, sla - (now - report.filed_at))
                        sent += 1
                # Exactly at the SLA a report is not yet late (as in the honest figures).
                late = await tx.due_for_reminder(
                    category.id, now - sla, column="overdue_at", strictly=True
                )
                for report in late:
                    if await tx.mark_notice(report.number, "overdue_at", now):
                        await self._overdue(tx, report, category, now)
                        sent += 1
        if sent:
            self.notify()
        return sent

    async def _remind(self, tx: Tx, report: Report, category: Category, left: timedelta) -> None:
        if report.community_id is None:
            return  # an unrouted report has no group yet; supervisors see it as overdue
        lang = self.workflow.language_of(report.community_id)
        links = await tx.links()
        text = self.texts(
            lang,
            "sla_reminder",
            number=report.number,
            sla=f"{category.sla_hours:g}",
            left=age(self.texts, lang, max(left, timedelta())),
        )
        await tx.enqueue(
            key=f"sla75:{report.number}",
            kind=Kind.TEXT,
            chat_id=links.get(report.community_id),
            community_id=report.community_id,
            report_id=report.number,
            payload={"text": text, "reply_to_card": report.community_id},
            now=self.clock(),
        )

    async def _overdue(self, tx: Tx, report: Report, category: Category, now: datetime) -> None:
        lang = self.lang
        text = self.texts(
            lang,
            "overdue_notice",
            number=report.number,
            category=category.label(lang),
            community=self.workflow.name_of(report.community_id),
            age=age(self.texts, lang, now - report.filed_at),
            sla=f"{category.sla_hours:g}",
        )
        for chat_id in self.settings.supervisor_chat_ids:
            await tx.enqueue(
                key=f"overdue:{report.number}:{chat_id}",
                kind=Kind.TEXT,
                chat_id=chat_id,
                report_id=report.number,
                payload={"text": text},
                now=now,
            )
        if report.community_id is not None:
            n, here = report.number, report.community_id
            await self.workflow.edit_card(tx, n, here, key=f"overdue-card:{n}:{here}")

    def local_today(self) -> date:
        return self.clock().astimezone(self.settings.timezone).date()

    def digest_due_day(self) -> date | None:
        """The day whose digest is due now: yesterday, once the local digest time has come."""
        local = self.clock().astimezone(self.settings.timezone)
        if local.time() < self.settings.digest_time:
            return None
        return local.date() - timedelta(days=1)

    async def send_due_digests(self) -> int:
        """Queue the due digest for every supervisors' chat that has not had it; once, ever.

        The digest is made before any chat is claimed, outside a transaction (its chart is drawn
        on another thread); each chat's claim and its messages then commit together."""
        day = self.digest_due_day()
        if day is None or not self.settings.supervisor_chat_ids:
            return 0
        async with self.store.tx() as tx:
            waiting = [
                chat_id
                for chat_id in self.settings.supervisor_chat_ids
                if not await tx.digest_claimed(chat_id, day.isoformat())
            ]
        if not waiting:
            return 0
        digest = await self.digest(day)
        queued = 0
        for chat_id in waiting:
            async with self.store.tx() as tx:
                if not await tx.claim_digest(chat_id, day.isoformat(), self.clock()):
                    continue
                await self._queue_digest(tx, chat_id, day, digest)
                queued += 1
        if queued:
            log.info("digest of %s queued for %d chats", day, queued)
            self.notify()
        return queued

    async def _queue_digest(self, tx: Tx, chat_id: int, day: date, digest: Digest) -> None:
        now = self.clock()
        await tx.enqueue(
            key=f"digest:{chat_id}:{day.isoformat()}:text",
            kind=Kind.TEXT,
            chat_id=chat_id,
            payload={"text": digest.text},
            now=now,
        )
        if digest.chart is not None:
            media_id = await tx.add_media(digest.chart, "image/png", now)
            await tx.enqueue(
                key=f"digest:{chat_id}:{day.isoformat()}:chart",
                kind=Kind.TEXT,
                chat_id=chat_id,
                payload={"text": digest.chart_caption, "media_id": media_id},
                now=now,
            )

    # the digest --------------------------------------------------------------------------------

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """A local day in UTC; 23 or 25 hours long on the days clocks change."""
        zone = self.settings.timezone
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    async def digest(self, day: date, *, chart: bool = True) -> Digest:
        """The daily digest of a local day: the day's figures against the day before and the
        week, the backlog now, the five oldest open reports, and (unless told not to) the chart."""
        days = [day - timedelta(days=k) for k in range(7, -1, -1)]  # 8 days: the week and before
        now = self.clock()
        async with self.store.tx() as tx:
            cells_by_day = await self._days(tx, days)
            backlog = await tx.backlog(now, self._sla_hours())
            oldest = await tx.oldest_active(5)
        lang = self.lang
        today = cells_by_day[day]
        total = Figures.combine(today.values())
        before = Figures.combine(cells_by_day[day - timedelta(days=1)].values())
        week = [Figures.combine(cells_by_day[d].values()).closure_rate for d in days[1:]]
        label = self._day_label(day)
        lines = [self.texts(lang, "digest_title", day=label)]
        if total.filed == 0 and total.excluded == 0:
            lines.append(self.texts(lang, "digest_empty", day=label))
        else:
            lines += self._figure_block(today, total, before=before, week=week)
        lines += self._backlog_block(backlog, oldest, now)
        text = _fit(lines)
        picture = None
        if chart:
            picture = await asyncio.to_thread(self._chart, today, days[1:], cells_by_day, label)
        caption = self.texts(lang, "chart_caption", day=label)
        return Digest(text=text, chart=picture, chart_caption=caption)

    async def _days(
        self, tx: Tx, days: list[date]
    ) -> dict[date, dict[tuple[str | None, str], Figures]]:
        """Each day's figures as of its own end. Events are only ever appended at the present
        time, so a day that is over never changes: those are remembered, and each morning's
        digest reads one new day instead of eight."""
        settled_before = self.clock() - timedelta(minutes=10)
        wanted = [d for d in days if (d, self.settings.timezone.key) not in self._settled]
        bounds = [self.day_bounds(d) for d in wanted]
        cohorts = await tx.cohorts(bounds) if wanted else []
        for one, (start, end), (categories, events) in zip(wanted, bounds, cohorts, strict=True):
            cells = self._cells(events, categories, start, end)
            if end <= settled_before:
                self._settled[(one, self.settings.timezone.key)] = cells
            else:
                self._fresh[one] = cells
        while len(self._settled) > 32:
            self._settled.pop(next(iter(self._settled)))
        found = {d: self._settled.get((d, self.settings.timezone.key)) for d in days}
        return {d: cells if cells is not None else self._fresh.pop(d) for d, cells in found.items()}

    async def digest_so_far(self) -> Digest:
        """`/digest`: today until now, the same figures (no chart until the day is over)."""
        now = self.clock()
        today = self.local_today()
        start, _ = self.day_bounds(today)
        async with self.store.tx() as tx:
            categories, events = await tx.cohort(start, now)
            cells = self._cells(events, categories, start, now)
            y_start, y_end = self.day_bounds(today - timedelta(days=1))
            y_categories, y_events = await tx.cohort(y_start, y_end)
            before = Figures.combine(self._cells(y_events, y_categories, y_start, y_end).values())
            backlog = await tx.backlog(now, self._sla_hours())
            oldest = await tx.oldest_active(5)
        lang = self.lang
        local = now.astimezone(self.settings.timezone).strftime("%H:%M")
        lines = [self.texts(lang, "digest_title_today", time=local)]
        total = Figures.combine(cells.values())
        if total.filed == 0 and total.excluded == 0:
            lines.append(self.texts(lang, "digest_empty", day=self._day_label(today)))
        else:
            lines += self._figure_block(cells, total, before=before, week=None)
        lines += self._backlog_block(backlog, oldest, now)
        return Digest(text=_fit(lines), chart=None, chart_caption="")

    async def stats(self, args: Sequence[str]) -> str:
        """`/stats [period]`: the same honest figures for any period."""
        period = self.parse_period(args)
        if period is None:
            return self.texts(self.lang, "period_usage")
        async with self.store.tx() as tx:
            categories, events = await tx.cohort(period.start, period.end)
        cells = self._cells(events, categories, period.start, period.end)
        total = Figures.combine(cells.values())
        lines = [
            self.texts(
                self.lang,
                "stats_title",
                start=period.first_day.isoformat(),
                end=period.last_day.isoformat(),
            )
        ]
        if total.filed == 0 and total.excluded == 0:
            lines.append(self.texts(self.lang, "stats_empty"))
        else:
            lines += self._figure_block(cells, total, before=None, week=None)
        return _fit(lines)

    def parse_period(self, args: Sequence[str]) -> Period | None:
        """today, week (the last 7 days), month (the last 30 days), or two dates, inclusive."""
        today = self.local_today()
        words = [a.strip().lower() for a in args if a.strip()]
        match words:
            case [] | ["today"] | ["今天"]:
                first, last = today, today
            case ["week"] | ["本周"] | ["近7天"]:
                first, last = today - timedelta(days=6), today
            case ["month"] | ["本月"] | ["近30天"]:
                first, last = today - timedelta(days=29), today
            case [a, b] if _is_date(a) and _is_date(b):
                first, last = date.fromisoformat(a), date.fromisoformat(b)
                if last < first:
                    first, last = last, first
                if (last - first).days > 3660:
                    return None
            case [a] if _is_date(a):
                first = last = date.fromisoformat(a)
            case _:
                return None
        start, _ = self.day_bounds(first)
        _, end = self.day_bounds(last)
        return Period(start, min(end, self.clock()) if last == today else end, first, last)

    def _sla_hours(self) -> dict[str, float]:
        return {c.id: c.sla_hours for c in self.categories.values()}

    def _cells(
        self, events: list[Event], categories: dict[int, str], start: datetime, end: datetime
    ) -> dict[tuple[str | None, str], Figures]:
        return breakdown(
            events,
            sla_hours=self._sla_hours(),
            report_categories=categories,
            start=start,
            end=end,
        )

    def _figure_block(
        self,
        cells: dict[tuple[str | None, str], Figures],
        total: Figures,
        *,
        before: Figures | None,
        week: list[float | None] | None,
    ) -> list[str]:
        lang = self.lang
        lines = ["", self.texts(lang, "fig_all"), self._counts(total)]
        lines.append(self._rates(total, before))
        lines.append(
            self.texts(
                lang,
                "fig_times",
                median=self._hours(total.median_hours_to_close),
                p90=self._hours(total.p90_hours_to_close),
            )
        )
        if week is not None:
            known = [r for r in week if r is not None]
            if known:
                lines.append(
                    self.texts(
                        lang,
                        "fig_trend",
                        spark=_sparkline(week),
                        first=_percent(known[0]),
                        last=_percent(known[-1]),
                    )
                )
        if total.excluded:
            lines.append(self.texts(lang, "fig_excluded", count=total.excluded))
        communities = sorted(
            by_community(cells).items(), key=lambda item: (-item[1].filed, str(item[0]))
        )
        lines += ["", self.texts(lang, "fig_by_community")]
        lines += [self._line(self.workflow.name_of(c), f) for c, f in communities if f.filed]
        lines += ["", self.texts(lang, "fig_by_category")]
        per_category = by_category(cells)
        lines += [
            self._line(category.label(lang), per_category[category.id])
            for category in self.categories.values()
            if category.id in per_category and per_category[category.id].filed
        ]
        return lines

    def _backlog_block(
        self, backlog: list[tuple[str | None, int, int]], oldest: list[Report], now: datetime
    ) -> list[str]:
        if not backlog:
            return []
        lang = self.lang
        lines = ["", self.texts(lang, "backlog_title")]
        # The most overdue first: that is where a supervisor's call helps.
        for community, open_, overdue in sorted(backlog, key=lambda b: (-b[2], -b[1], str(b[0]))):
            name = self.workflow.name_of(community)
            lines.append(self.texts(lang, "backlog_line", name=name, open=open_, overdue=overdue))
        lines += ["", self.texts(lang, "oldest_title")]
        for rank, report in enumerate(oldest, start=1):
            lines.append(
                self.texts(
                    lang,
                    "oldest_line",
                    rank=rank,
                    number=report.number,
                    category=self.categories[report.category].label(lang),
                    community=self.workflow.name_of(report.community_id),
                    age=age(self.texts, lang, now - report.filed_at),
                )
            )
        return lines

    def _counts(self, f: Figures) -> str:
        return self.texts(
            self.lang,
            "fig_counts",
            filed=f.filed,
            resolved=f.resolved,
            confirmed=f.confirmed,
            reopened=f.reopened,
            open=f.open,
            overdue=f.overdue,
        )

    def _rates(self, f: Figures, before: Figures | None) -> str:
        def rate(now: float | None, then: float | None) -> Html:
            text = _percent(now) if now is not None else self.texts(self.lang, "no_value")
            if before is not None and now is not None and then is not None:
                delta = round((now - then) * 100)
                text += self.texts(self.lang, "fig_delta", delta=f"{delta:+d}")
            return Html(text)

        return self.texts(
            self.lang,
            "fig_rates",
            closure=rate(f.closure_rate, before.closure_rate if before else None),
            verified=rate(f.verified_rate, before.verified_rate if before else None),
            on_time=rate(f.on_time_rate, before.on_time_rate if before else None),
        )

    def _line(self, name: str, f: Figures) -> str:
        closure = _percent(f.closure_rate) if f.closure_rate is not None else "—"
        return self.texts(
            self.lang, "fig_line", name=name, counts=Html(self._counts(f)), closure=closure
        )

    def _hours(self, value: float | None) -> str:
        if value is None:
            return self.texts(self.lang, "no_value")
        return self.texts(self.lang, "hours_value", n=f"{value:.1f}")

    def _day_label(self, day: date) -> str:
        if self.lang is Language.ZH:
            return f"{day.month}月{day.day}日"
        return day.strftime("%a %d %b %Y")

    def _chart(
        self,
        cells: dict[tuple[str | None, str], Figures],
        week: list[date],
        cells_by_day: dict[date, dict[tuple[str | None, str], Figures]],
        label: str,
    ) -> bytes:
        # matplotlib is loaded on the first chart, not at start: it is most of the bot's memory.
        from bot.charts import ChartWords, CommunityBar, TrendPoint, digest_chart

        lang = self.lang
        bars = [
            CommunityBar(
                label=self.workflow.name_of(community),
                fallback=community or "unrouted",
                filed=f.filed,
                closed=f.resolved,
            )
            for community, f in by_community(cells).items()
        ]
        trend = [
            TrendPoint(day=d, closure_rate=Figures.combine(cells_by_day[d].values()).closure_rate)
            for d in week
        ]

        def words(lang: Language, day: str) -> ChartWords:
            return ChartWords(
                title=self.texts(lang, "chart_title", day=day),
                filed=self.texts(lang, "chart_filed"),
                closed=self.texts(lang, "chart_closed"),
                closure_rate=self.texts(lang, "chart_rate"),
                by_community=self.texts(lang, "chart_by_community"),
                trend=self.texts(lang, "chart_trend"),
                others=self.texts(lang, "chart_others"),
                no_data=self.texts(lang, "chart_no_data"),
            )

        # Without a CJK font on the machine the chart falls back to English words and ids.
        english = words(Language.EN, week[-1].isoformat())
        return digest_chart(bars, trend, words(lang, label), ascii_words=english)

    # export and dispatch -----------------------------------------------------------------------

    async def export(self, args: Sequence[str]) -> ExportFiles | str:
        """`/export [period]`: every report filed in the period, and each one's history."""
        from bot.export import export_events, export_rows, to_csv, to_xlsx  # loaded when used

        period = self.parse_period(args)
        if period is None:
            return self.texts(self.lang, "period_usage")
        async with self.store.tx() as tx:
            reports = await tx.reports_between(period.start, period.end)
            events = (
                await tx.events_between(reports[0].number, reports[-1].number) if reports else []
            )
            numbers = {r.number for r in reports}
            events = [e for e in events if e.report_number in numbers]
            pseudonyms = {r.rider_id: f"R-{r.rider_id}" for r in reports}
            staff_ids = {r.holder_id for r in reports if r.holder_id} | {
                int(e.actor.split(":")[1]) for e in events if e.actor.startswith("staff:")
            }
            staff = {i: await tx.staff_name(i) or str(i) for i in staff_ids}
        names = {a.id: a.name for a in self.router.areas}
        common: dict[str, Any] = {
            "zone": self.settings.timezone,
            "lang": self.lang,
            "community_names": names,
            "categories": self.categories,
            "pseudonyms": pseudonyms,
            "staff_names": staff,
        }
        header, rows = export_rows(reports, **common)
        event_header, event_rows = export_events(events, **common)
        sheets = ("上报", "经过") if self.lang is Language.ZH else ("Reports", "History")
        xlsx = await asyncio.to_thread(
            to_xlsx, header, rows, event_header, event_rows, sheet_names=sheets
        )
        name = f"suishoubao-{period.first_day.isoformat()}-{period.last_day.isoformat()}"
        caption = self.texts(
            self.lang,
            "export_caption",
            start=period.first_day.isoformat(),
            end=period.last_day.isoformat(),
            count=len(reports),
        )
        return ExportFiles(xlsx=xlsx, csv=to_csv(header, rows), name=name, caption=caption)

    async def unrouted(self) -> list[Say]:
        """`/unrouted`: reports outside every area, each with a keyboard of communities."""
        async with self.store.tx() as tx:
            waiting = await tx.unrouted()
        lang = self.lang
        if not waiting:
            return [Say(self.texts(lang, "unrouted_empty"))]
        says = [Say(self.texts(lang, "unrouted_title", count=len(waiting)))]
        for report in waiting:
            text = self.texts(
                lang,
                "unrouted_item",
                number=report.number,
                category=self.categories[report.category].label(lang),
                lat=f"{report.lat:.5f}",
                lon=f"{report.lon:.5f}",
                filed=local_time(report.filed_at, self.settings.timezone),
            )
            if report.note:
                text += "\n" + self.texts(lang, "card_note", note=report.note)
            nearest = sorted(self.router.areas, key=lambda a: a.distance_m(report.lat, report.lon))
            buttons = tuple(
                (Button(a.name, callbacks.encode(callbacks.Dispatch(report.number, a.id))),)
                for a in nearest[:8]
            )
            says.append(Say(text, buttons=buttons))
        return says

    async def dispatch(
        self, chat_id: int, user_id: int, data: str | None
    ) -> tuple[str, str | None]:
        """A supervisor sends an unrouted report to a community: (toast, new message text)."""
        lang = self.lang
        press = callbacks.decode(data)
        if not self.allowed(chat_id, user_id):
            return self.refusal(), None
        if not isinstance(press, callbacks.Dispatch) or press.community not in {
            a.id for a in self.router.areas
        }:
            return self.texts(lang, "stale_button"), None
        async with self.store.tx() as tx:
            moved = await tx.transition(
                press.report,
                frm={Status.UNROUTED},
                to=Status.OPEN,
                action=Action.DISPATCHED,
                actor=f"supervisor:{user_id}",
                at=self.clock(),
                note=press.community,
                changes={"community_id": press.community},
            )
            if moved is None:
                report = await tx.report(press.report)
                status = report.status.value if report else "?"
                return self.texts(
                    lang,
                    "refuse_state",
                    number=press.report,
                    status=self.texts(lang, f"status_{status}"),
                ), None
            n, there = moved.number, press.community
            await self.workflow.post_card(tx, n, there, key=f"card:{n}:{there}:dispatch")
            rider = await tx.rider_by_id(moved.rider_id)
            await tx.enqueue(
                key=f"dispatched:{moved.number}",
                kind=Kind.TEXT,
                chat_id=rider.telegram_id,
                report_id=moved.number,
                payload={
                    "text": self.texts(
                        rider.language,
                        "rider_dispatched",
                        number=moved.number,
                        community=self.workflow.name_of(press.community),
                    )
                },
                now=self.clock(),
            )
        self.notify()
        name = self.workflow.name_of(press.community)
        return self.texts(lang, "toast_dispatched", community=name), self.texts(
            lang, "dispatched_line", community=name
        )


def _is_date(text: str) -> bool:
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None and _valid(text)


def _valid(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)}%"


def _sparkline(rates: list[float | None]) -> str:
    return "".join(" " if r is None else SPARKS[min(7, int(r * 8))] for r in rates)


def _fit(lines: list[str]) -> str:
    """Keep a message under Telegram's limit, cutting whole lines at the end of a list."""
    text = "\n".join(lines)
    if len(text) <= TEXT_BUDGET:
        return text
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > TEXT_BUDGET - 60:
            break
        kept.append(line)
        size += len(line) + 1
    kept.append(f"… (+{len(lines) - len(kept)}) /export")
    return "\n".join(kept)
