"""Honest figures (product spec), recomputed from report events alone.

Pure: no I/O and no clock; the period, the categories' SLAs and each report's category arrive as
arguments, so any period and any set of communities can be recomputed, and a test can check
every figure by hand.

Which reports a period's figures describe:

- The figures describe the reports filed in the period [start, end): a report filed before start
  is not counted as filed, resolved or open, however it moved during the period.
- Every state is the state at `end`: events at or after `end` are ignored, so a report resolved
  after the period counts as open, and one rejected after the period counts as filed.
- A report belongs to the community it is in at `end`, after any transfer; a transferred report
  is filed once, in its new community. An unrouted report has community None and is in scope
  only when `communities` is None (all) or contains None.
- A report rejected as a duplicate or invalid by `end` is left out of filed, resolved, open,
  overdue, time to close and every rate, and counted in `excluded` instead.
- Confirmed counts as resolved; the verified rate is confirmed / resolved.
- A reopened report counts as open until it is resolved again; its clock keeps running from
  filing (a reopen does not reset it), and its time to close runs from filing to its last
  resolution (a rider's confirmation does not stop or extend the clock).
- Reopens are events, not reports: `reopened` counts REOPENED events in [start, end) of the
  reports in scope, whenever those reports were filed and whatever happened to them afterwards.
- Overdue: open at `end` (open, claimed or unrouted) and older than its category's SLA, age
  being end - filed_at; exactly the SLA is not yet overdue. Closed on time: resolved, and the
  time from filing to the last resolution is at most the SLA.
- Percentiles are nearest-rank: the p-th percentile of n times is the ceil(p·n/100)-th smallest,
  so it is always a time some report actually took and at least p % of reports closed within it
  (the median of an even count is the lower middle one).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain import Action, Event, Status

_OPEN, _CLAIMED, _RESOLVED = Status.OPEN, Status.CLAIMED, Status.RESOLVED
_CONFIRMED, _REJECTED, _UNROUTED = Status.CONFIRMED, Status.REJECTED, Status.UNROUTED

# The lifecycle as data (domain.Action's comments): the (from, to) pairs each action may make.
TRANSITIONS: Mapping[Action, frozenset[tuple[Status | None, Status]]] = {
    Action.FILED: frozenset({(None, _OPEN), (None, _UNROUTED)}),
    Action.DISPATCHED: frozenset({(_UNROUTED, _OPEN)}),
    Action.CLAIMED: frozenset({(_OPEN, _CLAIMED)}),
    Action.RELEASED: frozenset({(_CLAIMED, _OPEN)}),
    Action.TAKEN_OVER: frozenset({(_CLAIMED, _CLAIMED)}),
    Action.RESOLVED: frozenset({(_OPEN, _RESOLVED), (_CLAIMED, _RESOLVED)}),
    Action.CONFIRMED: frozenset({(_RESOLVED, _CONFIRMED)}),
    Action.REOPENED: frozenset({(_RESOLVED, _OPEN)}),
    Action.TRANSFERRED: frozenset({(_OPEN, _OPEN), (_CLAIMED, _OPEN)}),
    Action.DUPLICATE: frozenset({(_OPEN, _REJECTED), (_CLAIMED, _REJECTED)}),
    Action.INVALID: frozenset({(_OPEN, _REJECTED), (_CLAIMED, _REJECTED)}),
}
_ALLOWED = frozenset((a, f, t) for a, pairs in TRANSITIONS.items() for f, t in pairs)

_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Figures:
    """The honest figures of one scope and period; counts are of reports filed in the period.

    hours_to_close is the sample the time-to-close figures come from (sorted, one entry per
    resolved report), so figures of disjoint scopes add up exactly with Figures.combine.
    """

    filed: int = 0
    excluded: int = 0
    resolved: int = 0
    confirmed: int = 0
    reopened: int = 0
    open: int = 0
    overdue: int = 0
    closed_on_time: int = 0
    hours_to_close: tuple[float, ...] = field(default=(), repr=False)
    closure_rate: float | None = field(init=False)
    verified_rate: float | None = field(init=False)
    on_time_rate: float | None = field(init=False)
    median_hours_to_close: float | None = field(init=False)
    p90_hours_to_close: float | None = field(init=False)

    def __post_init__(self) -> None:
        hours = tuple(sorted(self.hours_to_close))
        if len(hours) != self.resolved or self.resolved + self.open != self.filed:
            raise ValueError(
                f"Inconsistent figures: filed {self.filed}, resolved {self.resolved}, "
                f"open {self.open}, {len(hours)} times to close."
            )
        derived = {
            "hours_to_close": hours,
            "closure_rate": _rate(self.resolved, self.filed),
            "verified_rate": _rate(self.confirmed, self.resolved),
            "on_time_rate": _rate(self.closed_on_time, self.resolved + self.overdue),
            "median_hours_to_close": nearest_rank(hours, 50),
            "p90_hours_to_close": nearest_rank(hours, 90),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @classmethod
    def combine(cls, parts: Iterable[Figures]) -> Figures:
        """The figures of the union of disjoint scopes (percentiles recomputed, not averaged)."""
        parts = list(parts)
        return cls(
            filed=sum(p.filed for p in parts),
            excluded=sum(p.excluded for p in parts),
            resolved=sum(p.resolved for p in parts),
            confirmed=sum(p.confirmed for p in parts),
            reopened=sum(p.reopened for p in parts),
            open=sum(p.open for p in parts),
            overdue=sum(p.overdue for p in parts),
            closed_on_time=sum(p.closed_on_time for p in parts),
            hours_to_close=tuple(h for p in parts for h in p.hours_to_close),
        )


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def nearest_rank(ordered: Sequence[float], percent: int) -> float | None:
    """The percent-th percentile of sorted values by nearest rank; None when there are none."""
    if not 0 < percent <= 100:
        raise ValueError(f"A percentile is in (0, 100], not {percent}.")
    if not ordered:
        return None
    rank = -(-percent * len(ordered) // 100)  # ceil without floats
    return ordered[rank - 1]


def state_after(events: Iterable[Event]) -> tuple[Status, str | None]:
    """The status and community a report's events leave it in, replayed in the order given.

    Raises ValueError when the history is impossible: it does not start with FILED, an event's
    from_status is not the status the previous events left, an action makes a move the
    lifecycle does not allow, events of another report are mixed in, or time runs backwards.
    """
    current: Status | None = None
    community: str | None = None
    number: int | None = None
    last_at: datetime | None = None
    for event in events:
        if number is None:
            number = event.report_number
        elif event.report_number != number:
            raise ValueError(f"#{event.report_number}'s event is among the events of #{number}.")
        _check(event, current, last_at)
        current, community, last_at = event.to_status, event.community_id, event.at
    if current is None:
        raise ValueError("A report without events has no state.")
    return current, community


def _check(event: Event, current: Status | None, last_at: datetime | None) -> None:
    if event.from_status is not current:
        raise ValueError(
            f"#{event.report_number}: {event.action} at {event.at.isoformat()} starts from "
            f"{event.from_status}, but the report is {current or 'not filed yet'}."
        )
    if (event.action, current, event.to_status) not in _ALLOWED:
        raise ValueError(
            f"#{event.report_number}: {event.action} cannot take a report from "
            f"{current} to {event.to_status}."
        )
    if last_at is not None and event.at < last_at:
        raise ValueError(
            f"#{event.report_number}: {event.action} at {event.at.isoformat()} comes after an "
            f"event at {last_at.isoformat()}; events must be in the order they happened."
        )


class _Tally:
    """Mutable counts of one (community, category) cell while reports are added."""

    __slots__ = (
        "closed_on_time",
        "confirmed",
        "excluded",
        "filed",
        "hours",
        "open",
        "overdue",
        "reopened",
        "resolved",
    )

    def __init__(self) -> None:
        self.filed = self.excluded = self.resolved = self.confirmed = self.reopened = 0
        self.open = self.overdue = self.closed_on_time = 0
        self.hours: list[float] = []

    def freeze(self) -> Figures:
        return Figures(
            filed=self.filed,
            excluded=self.excluded,
            resolved=self.resolved,
            confirmed=self.confirmed,
            reopened=self.reopened,
            open=self.open,
            overdue=self.overdue,
            closed_on_time=self.closed_on_time,
            hours_to_close=tuple(self.hours),
        )


def breakdown(
    events: Iterable[Event],
    *,
    sla_hours: Mapping[str, float],
    report_categories: Mapping[int, str],
    start: datetime,
    end: datetime,
    communities: Collection[str | None] | None = None,
) -> dict[tuple[str | None, str], Figures]:
    """The figures per (community at end, category), for cells with anything to count.

    events: the whole history of every report involved (from its FILED event on; events after
    `end` may be included and are ignored), each report's events in the order they happened
    (storage order by event id); reports may interleave. sla_hours: category id -> SLA in hours.
    report_categories: report number -> category id. Raises ValueError on an impossible history
    (see state_after), a report without a category, or a category without an SLA.

    One pass over the events, then one over the reports: O(E + R log R) time (the log from
    sorting times to close) and O(R) memory for E events of R reports.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("The period's start and end must be timezone-aware (UTC).")
    if end < start:
        raise ValueError(f"The period ends ({end.isoformat()}) before it starts.")
    # Each report's state at `end` lives in parallel dicts of immutable values keyed by report
    # number, not in one object per report: a million small objects wake the cyclic garbage
    # collector hundreds of times, which doubled the run time (bench/digest_figures.py).
    status: dict[int, Status] = {}
    community: dict[int, str | None] = {}
    filed_at: dict[int, datetime] = {}
    last_at: dict[int, datetime] = {}
    resolved_at: dict[int, datetime] = {}  # the last resolution
    reopens: dict[int, int] = {}  # REOPENED events in [start, end)
    allowed, resolved, reopened = _ALLOWED, Action.RESOLVED, Action.REOPENED
    for event in events:
        at = event.at
        if at >= end:
            continue
        number = event.report_number
        current = status.get(number)
        action = event.action
        # The checks of _check, inlined: this loop runs once per event of every report.
        if current is None:
            if event.from_status is not None or (action, None, event.to_status) not in allowed:
                _check(event, None, None)
            filed_at[number] = at
        else:
            if (
                event.from_status is not current
                or (action, current, event.to_status) not in allowed
                or at < last_at[number]
            ):
                _check(event, current, last_at[number])
            if action is resolved:
                resolved_at[number] = at
            elif action is reopened and at >= start:
                reopens[number] = reopens.get(number, 0) + 1
        status[number], community[number], last_at[number] = (
            event.to_status,
            event.community_id,
            at,
        )

    slas = {category: timedelta(hours=hours) for category, hours in sla_hours.items()}
    scope = None if communities is None else frozenset(communities)
    cells: dict[tuple[str | None, str], _Tally] = {}
    for number, state in status.items():
        where = community[number]
        if scope is not None and where not in scope:
            continue
        filed = filed_at[number]
        in_period = filed >= start
        times_reopened = reopens.get(number, 0)
        if not in_period and not times_reopened:
            continue
        category = report_categories.get(number)
        if category is None:
            raise ValueError(f"#{number} has events but no category.")
        sla = slas.get(category)
        if sla is None:
            raise ValueError(f"#{number}'s category {category!r} has no SLA.")
        cell = cells.get((where, category))
        if cell is None:
            cell = cells[where, category] = _Tally()
        cell.reopened += times_reopened
        if not in_period:
            continue
        if state is _REJECTED:
            cell.excluded += 1
            continue
        cell.filed += 1
        if state is _RESOLVED or state is _CONFIRMED:
            cell.resolved += 1
            if state is _CONFIRMED:
                cell.confirmed += 1
            took = resolved_at[number] - filed  # resolved and confirmed follow a RESOLVED
            cell.hours.append(took.total_seconds() / _HOUR)
            if took <= sla:
                cell.closed_on_time += 1
        else:
            cell.open += 1
            if end - filed > sla:
                cell.overdue += 1
    return {key: cell.freeze() for key, cell in cells.items()}


def figures(
    events: Iterable[Event],
    *,
    sla_hours: Mapping[str, float],
    report_categories: Mapping[int, str],
    start: datetime,
    end: datetime,
    communities: Collection[str | None] | None = None,
) -> Figures:
    """The figures of the reports in scope for the period [start, end); inputs as breakdown's."""
    cells = breakdown(
        events,
        sla_hours=sla_hours,
        report_categories=report_categories,
        start=start,
        end=end,
        communities=communities,
    )
    return Figures.combine(cells.values())


def by_community(cells: Mapping[tuple[str | None, str], Figures]) -> dict[str | None, Figures]:
    """A breakdown summed per community (None: unrouted)."""
    groups: dict[str | None, list[Figures]] = {}
    for (community, _), cell in cells.items():
        groups.setdefault(community, []).append(cell)
    return {community: Figures.combine(parts) for community, parts in groups.items()}


def by_category(cells: Mapping[tuple[str | None, str], Figures]) -> dict[str, Figures]:
    """A breakdown summed per category."""
    groups: dict[str, list[Figures]] = {}
    for (_, category), cell in cells.items():
        groups.setdefault(category, []).append(cell)
    return {category: Figures.combine(parts) for category, parts in groups.items()}
