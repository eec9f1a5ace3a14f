"""A group's pace: Telegram's 20 a minute never exceeded, and a busy group's slots evenly spaced."""

from __future__ import annotations

import random
from collections import deque
from itertools import pairwise

from handlers.ratelimit import GroupPace


def test_a_quiet_group_gets_half_a_windows_messages_at_once_then_one_a_slot() -> None:
    pace = GroupPace(20, 60)
    pace.sent, pace.started = deque([0.0] * 9), 0.0
    assert pace.wait_s(0.0) <= 0
    pace.sent.append(0.0)
    assert pace.wait_s(0.0) == 3.0


def test_a_full_window_waits_for_its_oldest_message_to_age_out() -> None:
    pace = GroupPace(20, 60)
    pace.sent, pace.started = deque([0.0] * 10 + [10.0 + i for i in range(10)]), 19.5
    assert pace.wait_s(20.0) == 40.0


def test_a_busy_group_never_has_more_than_20_in_a_minute_as_telegram_counts_them() -> None:
    """Telegram counts a message somewhere between its start and its answer, which comes after
    a delay the bot cannot know; every minute of those moments holds 20 at most."""
    rng = random.Random(7)
    pace = GroupPace(20, 60)
    now = 0.0
    counted: list[float] = []  # when Telegram counted each message
    started: list[float] = []
    for _ in range(300):
        now += max(0.0, pace.wait_s(now))
        pace.started = now
        started.append(now)
        delay = rng.uniform(0.001, 2.0)
        counted.append(now + rng.uniform(0, delay))
        now += delay
        pace.sent.append(now)
    counted.sort()
    assert max(sum(1 for c in counted if t - 60 < c <= t) for t in counted) <= 20
    # Evenly spaced once busy: one message every three seconds or so, as Telegram allows.
    gaps = [b - a for a, b in pairwise(started[20:])]
    assert min(gaps) >= 3.0 and sum(gaps) / len(gaps) < 3.0 + 2.0
