"""The core without Telegram: random staff and rider actions keep state and events consistent."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import callbacks
from bot.callbacks import CardAction, OnCard, TransferTo, Verdict
from bot.desk import Person
from bot.domain import Action, Staff, Status
from storage.store import Store
from tests.conftest import FakeClock
from tests.unit.world import GROUPS, RIDER, STAFF, World

ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "claim",
                "release",
                "take",
                "resolve_skip",
                "resolve_note",
                "fixed",
                "not_fixed",
                "duplicate",
                "invalid",
                "transfer",
            ]
        ),
        st.sampled_from(STAFF),
    ),
    max_size=12,
)


async def play(actions: list[tuple[str, Staff]]) -> list[Action]:
    with tempfile.TemporaryDirectory() as folder:
        world = World(Path(folder), FakeClock())
        await world.open()
        try:
            first = await world.file()
            n = await world.file()
            for action, who in actions:
                world.clock.advance(minutes=7)
                chat, message = await world.card_message(n)
                match action:
                    case "claim" | "release" | "take":
                        kind = {"claim": CardAction.CLAIM, "release": CardAction.RELEASE}.get(
                            action, CardAction.TAKE_OVER
                        )
                        await world.staff.press(
                            chat, who, message, callbacks.encode(OnCard(kind, n))
                        )
                    case "resolve_skip" | "resolve_note" | "invalid" | "duplicate":
                        kind = {
                            "invalid": CardAction.INVALID,
                            "duplicate": CardAction.DUPLICATE,
                        }.get(action, CardAction.RESOLVE)
                        await world.staff.press(
                            chat, who, message, callbacks.encode(OnCard(kind, n))
                        )
                        if action == "resolve_skip":
                            skip = callbacks.encode(OnCard(CardAction.SKIP, n))
                            await world.staff.press(chat, who, message + 1, skip)
                        else:
                            text = f"#{first}" if action == "duplicate" else "已处理"
                            await world.staff.reply(
                                chat, who, message, [], text=text, photo_file_id=None
                            )
                    case "fixed" | "not_fixed":
                        await world.rider.press(
                            RIDER, callbacks.encode(Verdict(n, action == "fixed"))
                        )
                    case "transfer":
                        async with world.store.tx() as tx:
                            report = await tx.report(n)
                        assert report is not None
                        target = "chengbei" if report.community_id == "longquan" else "longquan"
                        await world.staff.press(
                            chat, who, message, callbacks.encode(TransferTo(n, target))
                        )
                await assert_consistent(world.store, n)
            async with world.store.tx() as tx:
                return [e.action for e in await tx.events_of(n)]
        finally:
            await world.store.close()


async def assert_consistent(store: Store, number: int) -> None:
    """The report row is what replaying its events gives, and the events form one chain."""
    async with store.tx() as tx:
        report = await tx.report(number)
        events = await tx.events_of(number)
    assert report is not None and events
    assert events[0].from_status is None
    for before, after in itertools.pairwise(events):
        assert after.from_status == before.to_status, (before, after)
        assert after.at >= before.at
    assert events[-1].to_status == report.status
    assert events[-1].community_id == report.community_id
    if report.status is Status.CLAIMED:
        assert report.holder_id is not None
    if report.status is Status.OPEN:
        assert report.holder_id is None


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ACTIONS)
def test_any_sequence_of_actions_keeps_the_report_consistent_with_its_events(
    actions: list[tuple[str, Staff]],
) -> None:
    asyncio.run(play(actions))


def test_a_known_sequence_makes_exactly_the_expected_transitions() -> None:
    li, wang = STAFF
    actions = asyncio.run(
        play(
            [
                ("claim", li),
                ("claim", wang),  # refused: li holds it
                ("take", wang),
                ("resolve_note", wang),
                ("not_fixed", li),
                ("transfer", li),
                ("claim", li),
                ("release", wang),  # refused: not the holder
                ("resolve_skip", li),
                ("fixed", li),
                ("fixed", li),  # refused: answered already
            ]
        )
    )
    assert actions == [
        Action.FILED,
        Action.CLAIMED,
        Action.TAKEN_OVER,
        Action.RESOLVED,
        Action.REOPENED,
        Action.TRANSFERRED,
        Action.CLAIMED,
        Action.RESOLVED,
        Action.CONFIRMED,
    ]


async def test_a_rider_who_does_not_answer_within_the_window_leaves_it_resolved(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, FakeClock())
    await world.open()
    try:
        n = await world.file()
        chat, message = await world.card_message(n)
        who = STAFF[0]
        await world.staff.press(chat, who, message, callbacks.encode(OnCard(CardAction.RESOLVE, n)))
        await world.staff.press(chat, who, message, callbacks.encode(OnCard(CardAction.SKIP, n)))
        world.clock.advance(days=3, minutes=1)
        answer = await world.rider.press(RIDER, callbacks.encode(Verdict(n, False)))
        assert "确认期限" in (answer.toast or "")
        async with world.store.tx() as tx:
            report = await tx.report(n)
        assert report is not None and report.status is Status.RESOLVED
        assert not report.rider_answered
    finally:
        await world.store.close()


async def test_a_rider_cannot_answer_for_someone_elses_report(tmp_path: Path) -> None:
    world = World(tmp_path, FakeClock())
    await world.open()
    try:
        n = await world.file()
        chat, message = await world.card_message(n)
        who = STAFF[0]
        await world.staff.press(chat, who, message, callbacks.encode(OnCard(CardAction.RESOLVE, n)))
        await world.staff.press(chat, who, message, callbacks.encode(OnCard(CardAction.SKIP, n)))
        stranger = Person(7777, "en")
        answer = await world.rider.press(stranger, callbacks.encode(Verdict(n, False)))
        assert answer.toast == "That button has expired."
        async with world.store.tx() as tx:
            report = await tx.report(n)
        assert report is not None and report.status is Status.RESOLVED
    finally:
        await world.store.close()


async def test_queue_stays_within_one_telegram_message_however_many_are_open(
    tmp_path: Path,
) -> None:
    """With many open reports the oldest 20 per category are listed and the rest counted."""
    world = World(tmp_path, FakeClock(), env={"REPORTS_PER_HOUR": "1000"})
    await world.open()
    try:
        for _ in range(45):
            await world.file("sanitation")
            world.clock.advance(minutes=1)
        text = await world.staff.queue(GROUPS["longquan"])
        assert len(text) < 4096
        assert "（45 条" in text
        assert "另有 25 条较新的未列出" in text
        assert "#1 " in text and "#21 " not in text
    finally:
        await world.store.close()


async def test_a_report_number_too_large_for_the_database_is_a_usage_hint(tmp_path: Path) -> None:
    world = World(tmp_path, FakeClock())
    await world.open()
    try:
        reply = await world.staff.history(GROUPS["longquan"], "9999999999")
        assert reply.startswith("用法")
    finally:
        await world.store.close()
