"""Deadlines, urgent pushes and the daily digest, with an injected clock and zone."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot import callbacks
from bot.callbacks import CardAction, TransferTo, Verdict
from tests.conftest import FakeClock
from tests.unit.world import RIDER, STAFF, World

SUPERVISORS = "-5000,-5001"


def at(text: str) -> FakeClock:
    return FakeClock(datetime.fromisoformat(text).replace(tzinfo=UTC))


async def town(tmp_path: Path, clock: FakeClock, **env: str) -> World:
    world = World(tmp_path, clock, env={"SUPERVISOR_CHAT_IDS": SUPERVISORS, **env})
    await world.open()
    return world


def digests(keys: list[str]) -> list[str]:
    return [k for k in keys if k.startswith("digest:")]


async def test_the_digest_goes_out_at_the_local_time_across_utc_midnight(tmp_path: Path) -> None:
    """08:00 in Shanghai is midnight UTC: the digest of the local day before goes out then."""
    clock = at("2026-11-20T23:59:00")
    world = await town(tmp_path, clock)
    try:
        assert await world.supervision.send_due_digests() == 0
        clock.advance(minutes=1)
        assert await world.supervision.send_due_digests() == 2
        assert digests(await world.outbox_keys()) == [
            "digest:-5000:2026-11-20:text",
            "digest:-5000:2026-11-20:chart",
            "digest:-5001:2026-11-20:text",
            "digest:-5001:2026-11-20:chart",
        ]
        clock.advance(hours=5)
        assert await world.supervision.send_due_digests() == 0
    finally:
        await world.close()


async def test_the_digest_follows_daylight_saving_time(tmp_path: Path) -> None:
    """In Berlin 08:00 is 07:00 UTC in winter and 06:00 UTC once clocks go forward."""
    clock = at("2026-03-29T05:59:00")
    world = await town(tmp_path, clock, TIMEZONE="Europe/Berlin")
    try:
        assert await world.supervision.send_due_digests() == 0
        clock.advance(minutes=1)
        assert await world.supervision.send_due_digests() == 2
        assert "digest:-5000:2026-03-28:text" in await world.outbox_keys()
        start, end = world.supervision.day_bounds(date(2026, 3, 29))
        assert end - start == timedelta(hours=23)
        start, end = world.supervision.day_bounds(date(2026, 10, 25))
        assert end - start == timedelta(hours=25)
        clock.now = datetime(2026, 3, 30, 5, 59, tzinfo=UTC)
        assert await world.supervision.send_due_digests() == 0
        clock.advance(minutes=1)
        assert await world.supervision.send_due_digests() == 2
    finally:
        await world.close()


async def test_a_restart_after_the_digest_time_sends_the_missed_digest_once(
    tmp_path: Path,
) -> None:
    clock = at("2026-11-21T07:00:00")  # 15:00 in Shanghai: the bot was down at 08:00
    world = await town(tmp_path, clock)
    try:
        assert await world.supervision.send_due_digests() == 2
    finally:
        await world.close()
    again = await town(tmp_path, clock)  # a restart, same database
    try:
        assert await again.supervision.send_due_digests() == 0
        assert len(digests(await again.outbox_keys())) == 4
    finally:
        await again.close()


async def test_two_processes_on_one_database_send_one_digest(
    tmp_path: Path, database_url: str
) -> None:
    clock = at("2026-11-21T01:00:00")
    first = World(
        tmp_path, clock, env={"SUPERVISOR_CHAT_IDS": SUPERVISORS}, database_url=database_url
    )
    await first.open()
    second = World(
        tmp_path, clock, env={"SUPERVISOR_CHAT_IDS": SUPERVISORS}, database_url=database_url
    )
    try:
        sent = await asyncio.gather(
            first.supervision.send_due_digests(), second.supervision.send_due_digests()
        )
        assert sorted(sent) in ([0, 2], [1, 1])
        assert len(digests(await first.outbox_keys())) == 4
    finally:
        await first.close()
        await second.close()


async def test_sla_reminder_at_75_percent_and_overdue_at_the_sla_each_once(
    tmp_path: Path,
) -> None:
    clock = at("2026-11-20T02:00:00")
    world = await town(tmp_path, clock)
    try:
        n = await world.file("sanitation")  # 48 h
        clock.advance(hours=36, seconds=-1)
        assert await world.supervision.sweep_deadlines() == 0
        clock.advance(seconds=1)
        assert await world.supervision.sweep_deadlines() == 1
        assert f"sla75:{n}" in await world.outbox_keys()
        clock.advance(hours=12)  # exactly the SLA: not yet overdue
        assert await world.supervision.sweep_deadlines() == 0
        clock.advance(seconds=1)
        assert await world.supervision.sweep_deadlines() == 1
        keys = await world.outbox_keys()
        assert {f"overdue:{n}:-5000", f"overdue:{n}:-5001", f"overdue-card:{n}:longquan"} <= set(
            keys
        )
        clock.advance(days=3)
        assert await world.supervision.sweep_deadlines() == 0
    finally:
        await world.close()


async def test_a_resolved_report_gets_no_reminder_and_a_reopened_one_keeps_its_clock(
    tmp_path: Path,
) -> None:
    clock = at("2026-11-20T02:00:00")
    world = await town(tmp_path, clock)
    try:
        n = await world.file("fire_safety")  # 4 h
        clock.advance(hours=1)
        await world.resolve(STAFF[0], n)
        clock.advance(hours=3, minutes=30)
        assert await world.supervision.sweep_deadlines() == 0

        await world.rider.press(RIDER, callbacks.encode(Verdict(n, False)))  # not fixed
        assert await world.supervision.sweep_deadlines() == 2  # 75 % and 100 % both passed
    finally:
        await world.close()


async def test_an_urgent_report_reaches_the_supervisors_at_once(tmp_path: Path) -> None:
    clock = at("2026-11-20T02:00:00")
    world = await town(tmp_path, clock)
    try:
        n = await world.file("fire_safety")
        m = await world.file("sanitation")
        keys = await world.outbox_keys()
        assert f"urgent:{n}:-5000" in keys and f"urgent:{n}:-5001" in keys
        assert not any(k.startswith(f"urgent:{m}:") for k in keys)
    finally:
        await world.close()


async def test_the_digest_figures_match_a_hand_computed_day(tmp_path: Path) -> None:
    """Six reports on 11-20 (Shanghai): a duplicate and an invalid are left out; of the other
    four, one is resolved and confirmed, one resolved (not confirmed), one reopened and open,
    one transferred to 城北社区 and open. Filed 4, resolved 2, confirmed 1, reopened 1, open 2:
    closure 50 %, verified 50 %."""
    clock = at("2026-11-20T01:00:00")  # 09:00 local on 11-20
    world = await town(tmp_path, clock)
    li = STAFF[0]
    try:
        a = await world.file()
        b = await world.file()
        c = await world.file()
        d = await world.file()
        dup = await world.file()
        bad = await world.file()
        clock.advance(hours=1)
        await world.resolve(li, a, "清运了")
        await world.rider.press(RIDER, callbacks.encode(Verdict(a, True)))
        await world.resolve(li, b)
        await world.resolve(li, c)
        await world.rider.press(RIDER, callbacks.encode(Verdict(c, False)))
        chat, message = await world.card_message(d)
        await world.staff.press(chat, li, message, callbacks.encode(TransferTo(d, "chengbei")))
        await world.act(li, dup, CardAction.DUPLICATE)
        chat, message = await world.card_message(dup)
        await world.staff.reply(chat, li, message, [], text=f"#{a}", photo_file_id=None)
        await world.act(li, bad, CardAction.INVALID)
        await world.act(li, bad, CardAction.SKIP)
        clock.now = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
        digest = await world.supervision.digest(date(2026, 11, 20))
        text = digest.text
        assert "11月20日" in text
        assert "上报 4 · 办结 2 · 骑手确认 1 · 重开 1 · 未办结 2 · 超时 0" in text
        assert "办结率 50%" in text and "确认率 50%" in text
        assert "另有 2 条被判定为重复或无效" in text
        assert "• 城北社区：上报 1 · 办结 0" in text
        assert "• 龙泉社区：上报 3 · 办结 2" in text
        assert "中位 1.0 小时" in text
        assert digest.chart is not None and digest.chart.startswith(b"\x89PNG")
        assert "最久未办结的 5 条" in text and f"#{c}" in text
    finally:
        await world.close()


async def test_a_day_without_reports_says_so_plainly(tmp_path: Path) -> None:
    world = await town(tmp_path, at("2026-11-21T00:00:00"))
    try:
        digest = await world.supervision.digest(date(2026, 11, 20))
        assert "11月20日 没有新的上报" in digest.text
    finally:
        await world.close()


@pytest.mark.parametrize(
    ("args", "first", "last"),
    [
        ([], "2026-11-20", "2026-11-20"),
        (["week"], "2026-11-14", "2026-11-20"),
        (["month"], "2026-10-22", "2026-11-20"),
        (["2026-11-01", "2026-11-05"], "2026-11-01", "2026-11-05"),
        (["2026-11-05", "2026-11-01"], "2026-11-01", "2026-11-05"),
    ],
)
async def test_periods_are_local_days(
    tmp_path: Path, args: list[str], first: str, last: str
) -> None:
    world = await town(tmp_path, at("2026-11-20T09:00:00"))
    try:
        period = world.supervision.parse_period(args)
        assert period is not None
        assert (period.first_day.isoformat(), period.last_day.isoformat()) == (first, last)
        assert world.supervision.parse_period(["someday"]) is None
        assert world.supervision.parse_period(["2026-02-30"]) is None
    finally:
        await world.close()


async def test_supervisor_commands_are_for_supervisors_and_admins_only(tmp_path: Path) -> None:
    world = await town(tmp_path, at("2026-11-20T09:00:00"), ADMIN_USER_IDS="42")
    try:
        assert world.supervision.allowed(-5000, 1)
        assert world.supervision.allowed(-999, 42)
        assert not world.supervision.allowed(-999, 1)
        toast, done = await world.supervision.dispatch(-999, 1, "v1:go:1:longquan")
        assert "督办群" in toast and done is None
    finally:
        await world.close()
