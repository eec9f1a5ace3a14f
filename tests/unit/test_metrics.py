"""The honest figures, each rule checked against a case worked out by hand."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Action, Event, Status
from bot.metrics import (
    Figures,
    breakdown,
    by_category,
    by_community,
    figures,
    nearest_rank,
    state_after,
)

T0 = datetime(2026, 11, 2, tzinfo=UTC)  # the period's start in every test: [T0, T0 + 168 h)
SLA = {"sanitation": 48.0, "fire_safety": 4.0, "public_order": 24.0}


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


class Story:
    """One report's history, told step by step; every time is in hours after T0."""

    def __init__(
        self, number: int, category: str, at: float, community: str | None = "east"
    ) -> None:
        self.number, self.category, self.community = number, category, community
        self.status = Status.OPEN if community is not None else Status.UNROUTED
        self.events = [
            Event(number, h(at), None, self.status, "rider:1", Action.FILED, community_id=community)
        ]

    def _step(self, action: Action, at: float, to: Status, community: str | None = None) -> Story:
        community = community or self.community
        self.events.append(
            Event(self.number, h(at), self.status, to, "staff:1", action, community_id=community)
        )
        self.status, self.community = to, community
        return self

    def dispatch(self, at: float, to: str) -> Story:
        return self._step(Action.DISPATCHED, at, Status.OPEN, to)

    def claim(self, at: float) -> Story:
        return self._step(Action.CLAIMED, at, Status.CLAIMED)

    def release(self, at: float) -> Story:
        return self._step(Action.RELEASED, at, Status.OPEN)

    def take_over(self, at: float) -> Story:
        return self._step(Action.TAKEN_OVER, at, Status.CLAIMED)

    def resolve(self, at: float) -> Story:
        return self._step(Action.RESOLVED, at, Status.RESOLVED)

    def confirm(self, at: float) -> Story:
        return self._step(Action.CONFIRMED, at, Status.CONFIRMED)

    def reopen(self, at: float) -> Story:
        return self._step(Action.REOPENED, at, Status.OPEN)

    def transfer(self, at: float, to: str) -> Story:
        return self._step(Action.TRANSFERRED, at, Status.OPEN, to)

    def duplicate(self, at: float) -> Story:
        return self._step(Action.DUPLICATE, at, Status.REJECTED)

    def invalid(self, at: float) -> Story:
        return self._step(Action.INVALID, at, Status.REJECTED)


def events_of(stories: Collection[Story]) -> list[Event]:
    return [event for story in stories for event in story.events]


def compute(
    *stories: Story,
    start: float = 0,
    end: float = 168,
    communities: Collection[str | None] | None = None,
) -> Figures:
    return figures(
        events_of(stories),
        sla_hours=SLA,
        report_categories={s.number: s.category for s in stories},
        start=h(start),
        end=h(end),
        communities=communities,
    )


def cells_of(
    *stories: Story, start: float = 0, end: float = 168
) -> dict[tuple[str | None, str], Figures]:
    return breakdown(
        events_of(stories),
        sla_hours=SLA,
        report_categories={s.number: s.category for s in stories},
        start=h(start),
        end=h(end),
    )


# -- scope: which community a report counts in ---------------------------------------------------


def test_a_report_counts_in_the_community_it_is_in_at_the_end_of_the_period() -> None:
    moved = Story(1, "sanitation", 2, "east").transfer(5, "west")
    moved_later = Story(2, "sanitation", 2, "east").transfer(200, "west")

    assert compute(moved, moved_later, communities={"east"}).filed == 1  # #2 moves after the end
    assert compute(moved, moved_later, communities={"west"}).filed == 1  # #1
    assert compute(moved, moved_later, communities={"east", "west"}).filed == 2


def test_a_transferred_report_is_filed_once_in_its_new_community() -> None:
    bounced = Story(1, "fire_safety", 2, "east").claim(3).transfer(4, "west").transfer(5, "north")

    assert set(cells_of(bounced)) == {("north", "fire_safety")}
    assert cells_of(bounced)["north", "fire_safety"].filed == 1
    assert compute(bounced).filed == 1


def test_an_unrouted_report_counts_only_when_the_scope_includes_none() -> None:
    lost = Story(1, "public_order", 2, community=None)
    found = Story(2, "public_order", 2, community=None).dispatch(3, "west")

    assert compute(lost, found).filed == 2
    assert compute(lost, found, communities={None}).filed == 1
    assert compute(lost, found, communities={"west"}).filed == 1
    assert compute(lost, found, communities={"east"}).filed == 0
    assert compute(lost, found, communities=set()).filed == 0
    # Unrouted is still waiting, so it is open: 98 h > 24 h makes it overdue at the end of day 4.
    assert compute(lost, end=100, communities={None}).open == 1
    assert compute(lost, end=100, communities={None}).overdue == 1


# -- reopen ---------------------------------------------------------------------------------------


def test_a_reopened_report_counts_as_open_until_resolved_again() -> None:
    story = Story(1, "sanitation", 0).resolve(10).reopen(12)

    reopened = compute(story, end=20)
    assert (reopened.filed, reopened.resolved, reopened.open, reopened.reopened) == (1, 0, 1, 1)
    assert reopened.closure_rate == 0.0

    story.resolve(30)
    again = compute(story, end=40)
    assert (again.filed, again.resolved, again.open, again.reopened) == (1, 1, 0, 1)
    assert again.closure_rate == 1.0


def test_time_to_close_runs_from_filing_to_the_last_resolution() -> None:
    # Filed at 0, first resolved at 10, reopened at 12, resolved again at 30: 30 h, not 10 or 18.
    story = Story(1, "sanitation", 0).resolve(10).reopen(12).resolve(30).confirm(60)

    closed = compute(story)
    assert closed.hours_to_close == (30.0,)
    assert closed.median_hours_to_close == 30.0
    assert closed.p90_hours_to_close == 30.0


def test_a_reopen_does_not_reset_the_clock() -> None:
    # Sanitation, SLA 48 h. Reopened at 12: at 50 it is 50 h old (overdue), not 38 h.
    story = Story(1, "sanitation", 0).resolve(10).reopen(12)
    assert compute(story, end=50).overdue == 1

    # Resolved again at 49: 49 h from filing is late, though 37 h after the reopen.
    story.resolve(49)
    late = compute(story, end=50)
    assert (late.resolved, late.closed_on_time, late.overdue) == (1, 0, 0)
    assert late.on_time_rate == 0.0


# -- duplicates and invalid reports ---------------------------------------------------------------


def test_duplicate_and_invalid_reports_are_left_out_of_every_figure() -> None:
    fixed = Story(1, "sanitation", 0).resolve(5)
    copy = Story(2, "sanitation", 1).duplicate(2)
    nonsense = Story(3, "sanitation", 1).claim(2).invalid(3)  # rejected from claimed, too

    result = compute(fixed, copy, nonsense)
    assert (result.filed, result.excluded, result.resolved, result.open) == (1, 2, 1, 0)
    assert (result.closure_rate, result.on_time_rate) == (1.0, 1.0)
    assert result.hours_to_close == (5.0,)


def test_a_report_rejected_after_the_period_counts_as_filed_and_open() -> None:
    copy = Story(1, "fire_safety", 0).duplicate(200)

    result = compute(copy)
    assert (result.filed, result.excluded, result.open, result.overdue) == (1, 0, 1, 1)


# -- the period -----------------------------------------------------------------------------------


def test_events_after_the_end_are_ignored() -> None:
    # Resolved 2 h after the period: open at the end, and 170 h old against a 48 h SLA.
    story = Story(1, "sanitation", 0).claim(1).resolve(170).confirm(171)

    result = compute(story)
    assert (result.filed, result.resolved, result.confirmed, result.open) == (1, 0, 0, 1)
    assert result.overdue == 1
    assert result.median_hours_to_close is None


def test_reports_filed_before_the_start_are_not_filed_but_their_reopens_count() -> None:
    # Reopened at -3 (before the period, not counted) and at +2 (counted); resolved in the period.
    old = Story(1, "sanitation", -10).resolve(-5).reopen(-3).resolve(-1).reopen(2).resolve(6)

    result = compute(old)
    assert (result.filed, result.resolved, result.open, result.overdue) == (0, 0, 0, 0)
    assert result.reopened == 1
    assert result.closure_rate is None
    assert cells_of(old) == {("east", "sanitation"): Figures(reopened=1)}


def test_a_report_with_nothing_in_the_period_leaves_no_cell() -> None:
    old = Story(1, "sanitation", -10).resolve(-5).reopen(-3)

    assert cells_of(old) == {}
    assert compute(old) == Figures()


def test_an_event_exactly_at_the_start_is_in_the_period_and_exactly_at_the_end_is_not() -> None:
    at_start = Story(1, "public_order", 0)
    at_end = Story(2, "public_order", 168)
    resolved_at_end = Story(3, "public_order", 100).resolve(168)
    reopened_at_start = Story(4, "public_order", -5).resolve(-1).reopen(0)
    reopened_at_end = Story(5, "public_order", -5).resolve(-1).reopen(168)

    result = compute(at_start, at_end, resolved_at_end, reopened_at_start, reopened_at_end)
    assert result.filed == 2  # #1 and #3; #2 is filed in the next period
    assert (result.resolved, result.open) == (0, 2)  # #3 is resolved only at the end
    assert result.reopened == 1  # #4's reopen at the start; #5's at the end is the next period's


def test_an_empty_period_has_no_rates() -> None:
    empty = Figures()

    assert compute() == empty
    assert compute(Story(1, "sanitation", 10), start=5, end=5) == empty
    assert (empty.closure_rate, empty.verified_rate, empty.on_time_rate) == (None, None, None)
    assert (empty.median_hours_to_close, empty.p90_hours_to_close) == (None, None)


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        compute(start=10, end=5)


def test_a_period_in_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        figures([], sla_hours=SLA, report_categories={}, start=datetime(2026, 11, 2), end=h(1))


# -- SLA ------------------------------------------------------------------------------------------


def test_closing_exactly_at_the_sla_is_on_time_and_a_moment_later_is_late() -> None:
    # Fire safety, SLA 4 h.
    exactly = Story(1, "fire_safety", 0).resolve(4)
    just_late = Story(2, "fire_safety", 0).resolve(4 + 1 / 3_600_000)  # 4 h and 1 ms

    result = compute(exactly, just_late)
    assert (result.resolved, result.closed_on_time) == (2, 1)
    assert result.on_time_rate == 0.5


def test_an_open_report_exactly_as_old_as_its_sla_is_not_yet_overdue() -> None:
    waiting = Story(1, "public_order", 10)

    assert compute(waiting, end=34).overdue == 0  # 24 h old
    assert compute(waiting, end=34).on_time_rate is None  # nothing closed, nothing late yet
    assert compute(waiting, end=34.001).overdue == 1


def test_overdue_open_reports_count_against_the_on_time_rate() -> None:
    # Two closed on time, one closed late, one open and overdue, one open within its SLA.
    on_time_1 = Story(1, "sanitation", 0).resolve(10)
    on_time_2 = Story(2, "fire_safety", 0).resolve(3)
    late = Story(3, "fire_safety", 0).resolve(5)
    overdue = Story(4, "public_order", 100)  # 68 h old at the end, SLA 24 h
    fresh = Story(5, "public_order", 160)  # 8 h old

    result = compute(on_time_1, on_time_2, late, overdue, fresh)
    assert (result.resolved, result.closed_on_time, result.open, result.overdue) == (3, 2, 2, 1)
    assert result.on_time_rate == 2 / 4  # closed on time / (closed + open and overdue)


# -- confirmed ------------------------------------------------------------------------------------


def test_a_confirmed_report_counts_as_resolved_and_verified() -> None:
    confirmed = Story(1, "sanitation", 0).claim(1).resolve(8).confirm(20)
    declared = Story(2, "sanitation", 0).resolve(12)
    waiting = Story(3, "sanitation", 0)

    result = compute(confirmed, declared, waiting, end=40)
    assert (result.filed, result.resolved, result.confirmed, result.open) == (3, 2, 1, 1)
    assert result.closure_rate == 2 / 3
    assert result.verified_rate == 1 / 2
    # The confirmation does not move the clock: 8 h and 12 h, not 20 h.
    assert result.hours_to_close == (8.0, 12.0)


def test_a_confirmation_after_the_period_is_not_counted_yet() -> None:
    story = Story(1, "sanitation", 0).resolve(8).confirm(200)

    result = compute(story)
    assert (result.resolved, result.confirmed, result.verified_rate) == (1, 0, 0.0)


# -- percentiles ----------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    one_to_ten = tuple(float(n) for n in range(1, 11))
    assert nearest_rank(one_to_ten, 50) == 5.0  # 5th of 10
    assert nearest_rank(one_to_ten, 90) == 9.0  # 9th of 10
    assert nearest_rank((1.0, 100.0), 50) == 1.0  # the lower middle
    assert nearest_rank((1.0, 100.0), 90) == 100.0  # ceil(1.8) = 2nd
    assert nearest_rank((1.0, 2.0, 3.0), 50) == 2.0  # ceil(1.5) = 2nd
    assert nearest_rank(tuple(float(n) for n in range(1, 21)), 90) == 18.0  # exactly 18th of 20
    assert nearest_rank(tuple(float(n) for n in range(1, 22)), 90) == 19.0  # ceil(18.9) = 19th
    assert nearest_rank((7.0,), 90) == 7.0
    assert nearest_rank((), 50) is None
    with pytest.raises(ValueError):
        nearest_rank(one_to_ten, 0)


def test_time_to_close_median_and_90th_percentile_over_resolved_reports() -> None:
    # Eleven sanitation reports closed after 1, 2, ..., 10 and 40 hours, filed in shuffled order.
    took = [7, 2, 40, 9, 1, 10, 5, 3, 8, 4, 6]
    stories = [Story(n, "sanitation", n).resolve(n + t) for n, t in enumerate(took, start=1)]
    stories.append(Story(99, "sanitation", 50).duplicate(51))  # not in the sample

    result = compute(*stories)
    assert result.median_hours_to_close == 6.0  # ceil(5.5) = 6th of 11
    assert result.p90_hours_to_close == 10.0  # ceil(9.9) = 10th of 11
    assert result.closed_on_time == 11  # every one within 48 h


# -- a mixed week ---------------------------------------------------------------------------------


def mixed_week() -> list[Story]:
    """Thirteen reports in east, west and nowhere over the week [0 h, 168 h); SLAs 48/4/24 h."""
    return [
        Story(1, "sanitation", 2, "east").claim(3).resolve(20).confirm(30),  # 18 h, on time
        Story(2, "fire_safety", 10, "east").claim(11).resolve(16),  # 6 h, late
        Story(3, "public_order", 5, "west").resolve(10).reopen(12).resolve(40),  # 35 h, late
        Story(4, "sanitation", 20, "west").resolve(30).reopen(35),  # open, 148 h old: overdue
        Story(5, "sanitation", 50, "east").transfer(52, "west").claim(53),  # west, 118 h: overdue
        Story(6, "fire_safety", 100, "west").duplicate(101),  # excluded
        Story(7, "public_order", 60, "east").invalid(61),  # excluded
        Story(8, "fire_safety", 166, "east"),  # open, 2 h old
        Story(9, "public_order", 150, "east").resolve(170),  # resolved after the end: open, 18 h
        Story(10, "sanitation", -10, "west").resolve(-5).reopen(1).resolve(5),  # last week's
        Story(11, "public_order", 70, None),  # unrouted, 98 h old: overdue
        Story(12, "fire_safety", 80, "west").resolve(83).confirm(90),  # 3 h, on time
        Story(13, "sanitation", 168, "east"),  # next week's
    ]


def test_a_mixed_week_adds_up_as_worked_out_by_hand() -> None:
    stories = mixed_week()
    # Filed in the week, not rejected: #1 2 3 4 5 8 9 11 12 = 9; excluded #6 #7 = 2.
    # Resolved #1 2 3 12 = 4, of which confirmed #1 12 = 2; open #4 5 8 9 11 = 5.
    # Overdue #4 (148 > 48) #5 (118 > 48) #11 (98 > 24) = 3; #8 (2 ≤ 4) and #9 (18 ≤ 24) are not.
    # On time #1 (18 ≤ 48) #12 (3 ≤ 4) = 2; late #2 (6 > 4) #3 (35 > 24).
    # Reopens in the week: #3 at 12, #4 at 35, #10 at 1 = 3.
    # Times to close sorted: 3, 6, 18, 35: median ceil(2) = 2nd = 6; p90 ceil(3.6) = 4th = 35.
    total = compute(*stories)
    assert total == Figures(
        filed=9,
        excluded=2,
        resolved=4,
        confirmed=2,
        reopened=3,
        open=5,
        overdue=3,
        closed_on_time=2,
        hours_to_close=(3.0, 6.0, 18.0, 35.0),
    )
    assert total.closure_rate == 4 / 9
    assert total.verified_rate == 2 / 4
    assert total.on_time_rate == 2 / 7  # 2 on time / (4 resolved + 3 overdue)
    assert (total.median_hours_to_close, total.p90_hours_to_close) == (6.0, 35.0)


def test_a_mixed_week_per_community_as_worked_out_by_hand() -> None:
    stories = mixed_week()
    # East at the end: #1 2 7 8 9 (#5 left for west). Filed #1 2 8 9, excluded #7; resolved #1 2,
    # confirmed #1; open #8 9, none overdue; on time #1; times 6, 18.
    east = compute(*stories, communities={"east"})
    assert (east.filed, east.excluded, east.resolved, east.confirmed) == (4, 1, 2, 1)
    assert (east.open, east.overdue, east.closed_on_time, east.reopened) == (2, 0, 1, 0)
    assert (east.closure_rate, east.verified_rate, east.on_time_rate) == (0.5, 0.5, 0.5)
    assert (east.median_hours_to_close, east.p90_hours_to_close) == (6.0, 18.0)
    # West: #3 4 5 6 10 12. Filed #3 4 5 12, excluded #6; resolved #3 12, confirmed #12;
    # open #4 5, both overdue; on time #12; reopens #3 #4 #10 = 3; times 3, 35.
    west = compute(*stories, communities={"west"})
    assert (west.filed, west.excluded, west.resolved, west.confirmed) == (4, 1, 2, 1)
    assert (west.open, west.overdue, west.closed_on_time, west.reopened) == (2, 2, 1, 3)
    assert (west.closure_rate, west.verified_rate, west.on_time_rate) == (0.5, 0.5, 0.25)
    assert (west.median_hours_to_close, west.p90_hours_to_close) == (3.0, 35.0)
    # Nowhere: #11, open and overdue: closure 0 / 1, on time 0 / (0 + 1), nothing to verify.
    nowhere = compute(*stories, communities={None})
    assert (nowhere.filed, nowhere.open, nowhere.overdue) == (1, 1, 1)
    assert (nowhere.closure_rate, nowhere.verified_rate, nowhere.on_time_rate) == (0.0, None, 0.0)
    # East and west together leave out only #11.
    assert compute(*stories, communities={"east", "west"}).filed == 8

    assert by_community(cells_of(*stories)) == {"east": east, "west": west, None: nowhere}


def test_a_mixed_week_per_category_as_worked_out_by_hand() -> None:
    cells = cells_of(*mixed_week())
    assert set(cells) == {
        ("east", "sanitation"),  # #1
        ("east", "fire_safety"),  # #2 8
        ("east", "public_order"),  # #7 9
        ("west", "sanitation"),  # #4 5 10
        ("west", "fire_safety"),  # #6 12
        ("west", "public_order"),  # #3
        (None, "public_order"),  # #11
    }
    per = by_category(cells)
    # Sanitation: filed #1 4 5; resolved #1 (18 h, on time, confirmed); open #4 5, both overdue;
    # reopens #4 at 35, #10 at 1.
    assert per["sanitation"] == Figures(
        filed=3,
        resolved=1,
        confirmed=1,
        reopened=2,
        open=2,
        overdue=2,
        closed_on_time=1,
        hours_to_close=(18.0,),
    )
    # Fire safety: filed #2 8 12, excluded #6; resolved #2 (6 h, late) #12 (3 h, on time,
    # confirmed); open #8, 2 h old.
    assert per["fire_safety"] == Figures(
        filed=3,
        excluded=1,
        resolved=2,
        confirmed=1,
        open=1,
        closed_on_time=1,
        hours_to_close=(3.0, 6.0),
    )
    # Public order: filed #3 9 11, excluded #7; resolved #3 (35 h, late, reopened at 12);
    # open #9 (18 h) and #11 (98 h, overdue).
    assert per["public_order"] == Figures(
        filed=3,
        excluded=1,
        resolved=1,
        reopened=1,
        open=2,
        overdue=1,
        hours_to_close=(35.0,),
    )
    assert Figures.combine(per.values()) == compute(*mixed_week())


# -- replaying one report -------------------------------------------------------------------------


def test_state_after_replays_a_report_to_its_last_status_and_community() -> None:
    story = Story(1, "sanitation", 0, None).dispatch(1, "east").claim(2).transfer(3, "west")
    assert state_after(story.events) == (Status.OPEN, "west")

    story.resolve(4).reopen(5).claim(6).take_over(7).release(8).resolve(9).confirm(10)
    assert state_after(story.events) == (Status.CONFIRMED, "west")
    assert state_after(Story(2, "fire_safety", 0).duplicate(1).events) == (Status.REJECTED, "east")


def test_state_after_refuses_a_transition_from_the_wrong_status() -> None:
    story = Story(1, "sanitation", 0).claim(1)
    skipped = Event(1, h(2), Status.RESOLVED, Status.CONFIRMED, "rider:1", Action.CONFIRMED)

    with pytest.raises(ValueError, match="starts from resolved, but the report is claimed"):
        state_after([*story.events, skipped])


@pytest.mark.parametrize(
    ("action", "frm", "to"),
    [
        (Action.CLAIMED, Status.OPEN, Status.RESOLVED),  # claiming does not resolve
        (Action.CONFIRMED, Status.OPEN, Status.CONFIRMED),  # confirming needs a resolution
        (Action.REOPENED, Status.OPEN, Status.OPEN),  # reopening needs a resolution
        (Action.DISPATCHED, Status.OPEN, Status.OPEN),  # only unrouted reports are dispatched
        (Action.FILED, Status.OPEN, Status.OPEN),  # filed twice
    ],
)
def test_state_after_refuses_a_move_the_action_cannot_make(
    action: Action, frm: Status, to: Status
) -> None:
    wrong = Event(1, h(1), frm, to, "staff:1", action, community_id="east")

    with pytest.raises(ValueError, match="cannot take a report"):
        state_after([*Story(1, "sanitation", 0).events, wrong])


def test_state_after_refuses_histories_that_do_not_start_with_filing() -> None:
    claimed = Story(1, "sanitation", 0).claim(1).events[1:]

    with pytest.raises(ValueError, match="not filed yet"):
        state_after(claimed)
    with pytest.raises(ValueError, match="without events"):
        state_after([])


def test_state_after_refuses_time_running_backwards_and_mixed_reports() -> None:
    backwards = Story(1, "sanitation", 5).claim(4).events
    mixed = [*Story(1, "sanitation", 0).events, *Story(2, "sanitation", 0).claim(1).events[1:]]

    with pytest.raises(ValueError, match="order they happened"):
        state_after(backwards)
    with pytest.raises(ValueError, match="among the events of #1"):
        state_after(mixed)


def test_figures_refuse_an_impossible_history() -> None:
    fine = Story(1, "sanitation", 0)
    broken = Story(2, "sanitation", 0).claim(1)
    broken.events[1] = replace(broken.events[1], from_status=Status.RESOLVED)

    with pytest.raises(ValueError, match="#2: claimed"):
        compute(fine, broken)


def test_figures_refuse_a_report_without_a_category_or_sla() -> None:
    story = Story(7, "sanitation", 0)

    with pytest.raises(ValueError, match="#7 has events but no category"):
        figures(story.events, sla_hours=SLA, report_categories={}, start=h(0), end=h(1))
    with pytest.raises(ValueError, match="'graffiti' has no SLA"):
        figures(
            story.events, sla_hours=SLA, report_categories={7: "graffiti"}, start=h(0), end=h(1)
        )


def test_figures_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(ValueError, match="Inconsistent"):
        Figures(filed=2, resolved=1, open=0, hours_to_close=(1.0,))
    with pytest.raises(ValueError, match="Inconsistent"):
        Figures(filed=1, resolved=1, hours_to_close=())


# -- properties over random histories -------------------------------------------------------------

COMMUNITIES: tuple[str | None, ...] = ("east", "west", None)

# The moves a report can make from each status, as the product spec's lifecycle draws them. The
# first move of each list is the one that progresses (hypothesis favours small choices), and
# resolved reports are reopened first, so resolve-reopen-resolve histories come up often.
NEXT: dict[Status, list[Callable[[Story, float, int], Story]]] = {
    Status.UNROUTED: [lambda s, t, c: s.dispatch(t, ("east", "west")[c % 2])],
    Status.OPEN: [
        lambda s, t, c: s.resolve(t),
        lambda s, t, c: s.claim(t),
        lambda s, t, c: s.transfer(t, ("east", "west")[c % 2]),
        lambda s, t, c: s.duplicate(t),
        lambda s, t, c: s.invalid(t),
    ],
    Status.CLAIMED: [
        lambda s, t, c: s.resolve(t),
        lambda s, t, c: s.release(t),
        lambda s, t, c: s.take_over(t),
        lambda s, t, c: s.transfer(t, ("east", "west")[c % 2]),
        lambda s, t, c: s.invalid(t),
    ],
    Status.RESOLVED: [lambda s, t, c: s.reopen(t), lambda s, t, c: s.confirm(t)],
    Status.CONFIRMED: [],
    Status.REJECTED: [],
}

# Gaps in whole hours, with the SLAs themselves often, so closing exactly at the SLA comes up.
gaps = st.one_of(st.sampled_from([4, 24, 48]), st.integers(0, 60))
steps = st.lists(st.tuples(st.integers(0, 99), gaps), max_size=8)
report = st.tuples(
    st.sampled_from(sorted(SLA)),
    st.sampled_from(COMMUNITIES),
    st.integers(-30, 170),  # filed, in hours after T0
    steps,  # (which move, hours since the previous event)
)


def tell(
    number: int, category: str, community: str | None, filed: int, moves: list[tuple[int, int]]
) -> Story:
    story = Story(number, category, filed, community)
    at = filed
    for choice, gap in moves:
        options = NEXT[story.status]
        if not options:
            break
        at += gap
        options[choice % len(options)](story, at, choice)
    return story


def by_hand(stories: list[Story], start: datetime, end: datetime) -> Figures:
    """The figures straight from the spec's sentences, one report at a time."""
    counts = dict.fromkeys(
        (
            "filed",
            "excluded",
            "resolved",
            "confirmed",
            "reopened",
            "open",
            "overdue",
            "closed_on_time",
        ),
        0,
    )
    hours: list[float] = []
    for story in stories:
        seen = [e for e in story.events if e.at < end]
        if not seen:
            continue
        status, _ = state_after(seen)
        counts["reopened"] += sum(e.action is Action.REOPENED and e.at >= start for e in seen)
        filed_at, sla = seen[0].at, timedelta(hours=SLA[story.category])
        if filed_at < start:
            continue
        if status is Status.REJECTED:
            counts["excluded"] += 1
        elif status in (Status.RESOLVED, Status.CONFIRMED):
            counts["filed"] += 1
            counts["resolved"] += 1
            counts["confirmed"] += status is Status.CONFIRMED
            took = max(e.at for e in seen if e.action is Action.RESOLVED) - filed_at
            hours.append(took.total_seconds() / 3600)
            counts["closed_on_time"] += took <= sla
        else:
            counts["filed"] += 1
            counts["open"] += 1
            counts["overdue"] += end - filed_at > sla
    return Figures(**counts, hours_to_close=tuple(hours))


@settings(max_examples=150, deadline=None)
@given(
    reports=st.lists(report, max_size=12),
    period=st.tuples(st.integers(-10, 50), st.integers(24, 200)),
)
def test_random_histories_keep_every_invariant(
    reports: list[tuple[str, str | None, int, list[tuple[int, int]]]], period: tuple[int, int]
) -> None:
    stories = [tell(n, *r) for n, r in enumerate(reports, start=1)]
    start, end = h(period[0]), h(period[0] + period[1])
    categories = {s.number: s.category for s in stories}
    events = events_of(stories)

    def run(events: list[Event], communities: Collection[str | None] | None = None) -> Figures:
        return figures(
            events,
            sla_hours=SLA,
            report_categories=categories,
            start=start,
            end=end,
            communities=communities,
        )

    total = run(events)
    assert total == by_hand(stories, start, end)
    assert total.filed == total.resolved + total.open
    assert total.confirmed <= total.resolved
    assert total.overdue <= total.open
    assert total.closed_on_time <= total.resolved
    for rate in (total.closure_rate, total.verified_rate, total.on_time_rate):
        assert rate is None or 0.0 <= rate <= 1.0
    if total.resolved:
        assert total.median_hours_to_close is not None
        assert total.p90_hours_to_close is not None
        assert 0.0 <= total.median_hours_to_close <= total.p90_hours_to_close

    # Reports interleaved in time (each report's own events still in order) count the same.
    assert run(sorted(events, key=lambda e: e.at)) == total

    cells = breakdown(events, sla_hours=SLA, report_categories=categories, start=start, end=end)
    per_community = by_community(cells)
    assert Figures.combine(per_community.values()) == total
    assert Figures.combine(by_category(cells).values()) == total
    for community in COMMUNITIES:
        alone = run(events, communities={community})
        assert per_community.get(community, Figures()) == alone
