"""Digest figures benchmark: bot.metrics over a million reports' events, in memory.

Run: .venv/bin/python bench/digest_figures.py [--reports 1000000] [--communities 100] [--runs 3]

Generates --reports reports filed uniformly over 90 days across --communities communities and
the three default categories, each with a plausible history (some unrouted then dispatched,
claimed, released or taken over, transferred, rejected as duplicate or invalid, resolved near its
SLA, confirmed or reopened and resolved again), as Event objects built in the order storage
returns them: by event id, i.e. by time (and, for one timing, by report then event id). Then
times, each the median of --runs: `figures` and `breakdown` over the last 30 days (period ending
now) and over a past 30-day period (ending a week before now, so later events must be skipped),
`figures` for one community, and summing the breakdown per community and per category. Exits 1
(FAIL) when `figures` over the last 30 days takes longer than --target seconds or the figures
disagree (breakdown sums, one community, the two event orders).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bot.domain import Action, Event, Status
from bot.metrics import Figures, breakdown, by_category, by_community, figures

SLA = {"sanitation": 48.0, "fire_safety": 4.0, "public_order": 24.0}
WEIGHTS = {"sanitation": 0.6, "fire_safety": 0.1, "public_order": 0.3}
NOW = datetime(2026, 11, 30, tzinfo=UTC)
DAYS = 90
T = TypeVar("T")


# One event as a database row: the fields of Event in order (note is always None here).
Row = tuple[int, datetime, Status | None, Status, str, Action, None, str | None]


def history(
    number: int, filed: datetime, community: str, sla: float, names: list[str], rng: random.Random
) -> list[Row]:
    """One report's events from filing on, with times that may run past NOW (dropped later)."""
    rows: list[Row] = []
    where: str | None = community
    at, status = filed, Status.OPEN
    if rng.random() < 0.02:
        status, where = Status.UNROUTED, None
    rows.append((number, at, None, status, "rider", Action.FILED, None, where))

    def step(action: Action, hours: float, to: Status, moved_to: str | None = None) -> None:
        nonlocal at, status, where
        at = at + timedelta(hours=hours)
        where = moved_to or where
        rows.append((number, at, status, to, "staff", action, None, where))
        status = to

    if status is Status.UNROUTED:
        if rng.random() < 0.1:
            return rows  # still waiting for a supervisor
        step(Action.DISPATCHED, rng.uniform(0.5, 12), Status.OPEN, community)
    roll = rng.random()
    if roll < 0.04:
        step(Action.DUPLICATE, rng.expovariate(1.0), Status.REJECTED)
        return rows
    if roll < 0.06:
        step(Action.INVALID, rng.expovariate(1.0), Status.REJECTED)
        return rows
    if roll < 0.09:
        others = [name for name in rng.sample(names, min(2, len(names))) if name != where]
        step(Action.TRANSFERRED, rng.expovariate(0.5), Status.OPEN, (others or [community])[0])
    if rng.random() < 0.75:
        step(Action.CLAIMED, rng.expovariate(0.5), Status.CLAIMED)
        if rng.random() < 0.05:
            step(Action.RELEASED, rng.expovariate(0.2), Status.OPEN)
            step(Action.CLAIMED, rng.expovariate(0.5), Status.CLAIMED)
        elif rng.random() < 0.03:
            step(Action.TAKEN_OVER, rng.expovariate(0.2), Status.CLAIMED)
    for attempt in range(3):
        if rng.random() > (0.88 if attempt == 0 else 0.8):
            return rows  # never resolved (yet)
        step(Action.RESOLVED, sla * rng.lognormvariate(-0.4, 0.7), Status.RESOLVED)
        answer = rng.random()
        if answer < 0.5:
            step(Action.CONFIRMED, rng.expovariate(0.1), Status.CONFIRMED)
            return rows
        if answer > 0.9:
            step(Action.REOPENED, rng.expovariate(0.1), Status.OPEN)
            continue
        return rows  # the rider never answered
    return rows


def generate(
    reports: int, communities: int, rng: random.Random
) -> tuple[list[Row], dict[int, str]]:
    """Every report's event rows up to NOW, in time order, and each report's category."""
    names = [f"c{i:02d}" for i in range(communities)]
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    start = NOW - timedelta(days=DAYS)
    span = DAYS * 24.0
    offsets = sorted(rng.uniform(0, span) for _ in range(reports))
    categories: dict[int, str] = {}
    rows: list[Row] = []
    for number, hours in enumerate(offsets, start=1):
        category = rng.choices(kinds, weights)[0]
        categories[number] = category
        filed = start + timedelta(hours=hours)
        rows.extend(history(number, filed, rng.choice(names), SLA[category], names, rng))
    rows = [row for row in rows if row[1] < NOW]
    rows.sort(key=lambda row: row[1])
    return rows, categories


def load(rows: list[Row]) -> list[Event]:
    """Events built fresh in the order given, as a database cursor would hand them over.

    Objects made in the order they are read sit together in memory; events built per report
    and then sorted by time would be read scattered, which alone made the replay twice slower.
    """
    same = timedelta(0)
    return [
        Event(n, at + same, frm, to, who, act, note, c)
        for n, at, frm, to, who, act, note, c in rows
    ]


def timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """Median seconds over `runs` runs, and the result of the last one."""
    seconds: list[float] = []
    result: T | None = None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(seconds), result


def describe(f: Figures) -> str:
    def pct(rate: float | None) -> str:
        return "—" if rate is None else f"{rate:.1%}"

    def hrs(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f} h"

    return (
        f"filed {f.filed:,}, excluded {f.excluded:,}, resolved {f.resolved:,} "
        f"(confirmed {f.confirmed:,}), open {f.open:,} (overdue {f.overdue:,}), "
        f"reopened {f.reopened:,}; closure {pct(f.closure_rate)}, verified "
        f"{pct(f.verified_rate)}, on time {pct(f.on_time_rate)}; median "
        f"{hrs(f.median_hours_to_close)}, p90 {hrs(f.p90_hours_to_close)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--communities", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--target", type=float, default=5.0, help="seconds for `figures`")
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    started = time.perf_counter()
    rows, categories = generate(args.reports, args.communities, rng)
    # By event id (the order things happened), and by report then event id.
    events = load(rows)
    by_report = load(sorted(rows, key=lambda row: row[0]))
    del rows
    generate_s = time.perf_counter() - started
    actions: dict[Action, int] = {}
    for event in events:
        actions[event.action] = actions.get(event.action, 0) + 1
    print(
        f"reports: {args.reports:,} over {DAYS} days, {args.communities} communities, "
        f"{len(SLA)} categories; events: {len(events):,} (generated in {generate_s:.1f} s)"
    )
    print("events by action: " + ", ".join(f"{a} {n:,}" for a, n in sorted(actions.items())))

    recent = (NOW - timedelta(days=30), NOW)
    past = (NOW - timedelta(days=37), NOW - timedelta(days=7))

    def run_figures(
        period: tuple[datetime, datetime],
        scope: set[str | None] | None,
        events: list[Event] = events,
    ) -> Figures:
        return figures(
            events,
            sla_hours=SLA,
            report_categories=categories,
            start=period[0],
            end=period[1],
            communities=scope,
        )

    def run_breakdown(period: tuple[datetime, datetime]) -> dict[tuple[str | None, str], Figures]:
        return breakdown(
            events, sla_hours=SLA, report_categories=categories, start=period[0], end=period[1]
        )

    timings: list[tuple[str, float]] = []
    recent_s, total = timed(lambda: run_figures(recent, None), args.runs)
    timings.append(("figures, last 30 days, all", recent_s))
    cells_s, cells = timed(lambda: run_breakdown(recent), args.runs)
    timings.append((f"breakdown, last 30 days ({len(cells)} cells)", cells_s))
    sum_s, sums = timed(lambda: (by_community(cells), by_category(cells)), args.runs)
    timings.append(("  by_community + by_category of it", sum_s))
    grouped_s, grouped = timed(lambda: run_figures(recent, None, by_report), args.runs)
    timings.append(("figures, last 30 days, events by report", grouped_s))
    one_s, one = timed(lambda: run_figures(recent, {"c00"}), args.runs)
    timings.append(("figures, last 30 days, one community", one_s))
    past_s, past_total = timed(lambda: run_figures(past, None), args.runs)
    timings.append(("figures, a past 30 days, all", past_s))
    past_cells_s, _ = timed(lambda: run_breakdown(past), args.runs)
    timings.append(("breakdown, a past 30 days", past_cells_s))

    adds_up = (
        Figures.combine(sums[0].values()) == total
        and Figures.combine(sums[1].values()) == total
        and sums[0].get("c00", Figures()) == one
        and grouped == total
    )
    print(f"median of {args.runs} runs; {len(events):,} events each")
    print()
    print(f"{'what':<44}{'seconds':>10}{'events/s':>14}")
    for label, seconds in timings:
        rate = f"{len(events) / seconds:>14,.0f}" if not label.startswith("  ") else ""
        print(f"{label:<44}{seconds:>10.2f}{rate}")
    print()
    print(f"last 30 days:   {describe(total)}")
    print(f"a past 30 days: {describe(past_total)}")
    print(f"community c00:  {describe(one)}")
    print(f"breakdown sums, one community and both orders agree: {'yes' if adds_up else 'NO'}")
    verdict = "PASS" if recent_s <= args.target and adds_up else "FAIL"
    print(f"target ≤ {args.target:g} s for `figures` over the last 30 days: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
