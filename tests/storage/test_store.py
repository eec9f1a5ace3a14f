"""The store on SQLite and PostgreSQL: same answers, race-safe where it matters."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.domain import Draft, Language, Photo, RouteKind, Status, Step
from storage.store import OutboxState, Store
from tests.conftest import FakeClock


async def test_a_rider_is_enrolled_once_even_when_two_updates_race(
    store: Store, clock: FakeClock
) -> None:
    async def enrol() -> int:
        async with store.tx() as tx:
            return (await tx.rider(555, Language.EN, clock())).id

    first, second = await asyncio.gather(enrol(), enrol())
    assert first == second


async def test_a_draft_survives_and_is_taken_only_as_it_was_read(
    store: Store, clock: FakeClock
) -> None:
    async with store.tx() as tx:
        rider = await tx.rider(1, Language.ZH, clock())
        saved = await tx.save_draft(
            Draft(rider.id, photo=Photo(file_id="AgAD"), step=Step.LOCATION), clock()
        )
    clock.advance(seconds=5)
    async with store.tx() as tx:
        again = await tx.draft(rider.id)
        assert again == saved
        await tx.save_draft(Draft(rider.id, photo=Photo(file_id="AgAE"), lat=1, lon=2), clock())
    async with store.tx() as tx:
        assert not await tx.take_draft(saved), "a stale draft must not be filed"
        current = await tx.draft(rider.id)
        assert current is not None and await tx.take_draft(current)
        assert await tx.draft(rider.id) is None


async def test_report_numbers_grow_and_each_report_starts_with_an_event(
    store: Store, clock: FakeClock
) -> None:
    async with store.tx() as tx:
        rider = await tx.rider(1, Language.ZH, clock())
        numbers = []
        for community in ("longquan", None):
            report = await tx.add_report(
                rider_id=rider.id,
                category="sanitation",
                lat=36.1,
                lon=113.2,
                photo=Photo(file_id="AgAD"),
                note="满了",
                status=Status.OPEN if community else Status.UNROUTED,
                community_id=community,
                route_kind=RouteKind.INSIDE if community else RouteKind.OUTSIDE,
                route_distance_m=0.0,
                now=clock(),
            )
            numbers.append(report.number)
        assert numbers[1] == numbers[0] + 1
        events = await tx.events_of(numbers[1])
        assert [(e.from_status, e.to_status) for e in events] == [(None, Status.UNROUTED)]
        assert report.filed_at == clock()
        assert await tx.reports_filed_since(rider.id, clock() - timedelta(hours=1)) == 2


async def test_an_outbox_intent_is_queued_once_and_leased_to_one_worker(
    store: Store, clock: FakeClock
) -> None:
    async with store.tx() as tx:
        assert await tx.enqueue(key="filed:1", kind="text", chat_id=9, now=clock(), payload={})
        assert not await tx.enqueue(key="filed:1", kind="text", chat_id=9, now=clock())
    async with store.tx() as tx:
        first = await tx.claim_due(clock(), timedelta(seconds=60), 10)
    async with store.tx() as tx:
        second = await tx.claim_due(clock(), timedelta(seconds=60), 10)
    assert [i.key for i in first] == ["filed:1"] and second == []
    clock.advance(seconds=61)
    async with store.tx() as tx:
        assert [i.key for i in await tx.claim_due(clock(), timedelta(seconds=60), 10)] == [
            "filed:1"
        ]
        await tx.mark_sent(first[0].id, 77, clock())
        assert await tx.claim_due(clock() + timedelta(days=1), timedelta(seconds=60), 10) == []
        assert (await tx.outbox_counts()) == {OutboxState.SENT: 1}


async def test_messages_for_an_unlinked_community_wait_for_its_group(
    store: Store, clock: FakeClock
) -> None:
    async with store.tx() as tx:
        await tx.enqueue(key="card:1", kind="card", chat_id=None, community_id="c", now=clock())
        assert await tx.claim_due(clock(), timedelta(seconds=60), 10) == []
        await tx.link("c", -100, 1, clock())
        assert await tx.release_waiting("c", -100, clock()) == 1
        leased = await tx.claim_due(clock(), timedelta(seconds=60), 10)
        assert [i.chat_id for i in leased] == [-100]
        # The group migrates to a supergroup; then the bot is removed from it.
        assert await tx.move_chat(-100, -1002) == "c"
        assert (await tx.links()) == {"c": -1002}
        assert await tx.unlink_chat(-1002) == "c"
        assert await tx.links() == {}


async def test_a_group_serves_one_community_and_a_community_has_one_group(
    store: Store, clock: FakeClock
) -> None:
    async with store.tx() as tx:
        await tx.link("a", -1, 1, clock())
        await tx.link("b", -1, 1, clock())
        assert await tx.links() == {"b": -1}
        await tx.link("b", -2, 1, clock())
        assert await tx.links() == {"b": -2}


async def test_media_keeps_bytes_until_telegram_knows_the_file(
    store: Store, clock: FakeClock
) -> None:
    async with store.tx() as tx:
        media_id = await tx.add_media(b"\xff\xd8jpeg", "image/jpeg", clock())
        assert await tx.media(media_id) == (b"\xff\xd8jpeg", None)
        await tx.remember_file_id(media_id, "AgADfile")
        assert await tx.media(media_id) == (b"\xff\xd8jpeg", "AgADfile")


class Interrupted(Exception):
    """The process stopped between the claim and the rest of its transaction."""


async def test_a_digest_claim_is_undone_with_the_transaction_it_belongs_to(
    store: Store, clock: FakeClock
) -> None:
    try:
        async with store.tx() as tx:
            assert await tx.claim_digest(-5, "2026-11-19", clock())
            raise Interrupted
    except Interrupted:
        pass
    async with store.tx() as tx:
        assert await tx.claim_digest(-5, "2026-11-19", clock()), "the claim outlived its rollback"
        assert not await tx.claim_digest(-5, "2026-11-19", clock())


async def test_a_worker_started_again_takes_back_what_it_had_leased(
    store: Store, clock: FakeClock
) -> None:
    async with store.tx() as tx:
        for chat_id in (1, 2):
            await tx.enqueue(key=f"m{chat_id}", kind="text", chat_id=chat_id, now=clock())
        mine = await tx.claim_due(clock(), timedelta(seconds=60), 1, holder="host:8443")
        theirs = await tx.claim_due(clock(), timedelta(seconds=60), 1, holder="host:8444")
        assert [i.chat_id for i in mine + theirs] == [1, 2]
        assert await tx.release_leases_of("host:8443") == 1
        again = await tx.claim_due(clock(), timedelta(seconds=60), 10, holder="host:8443")
        assert [i.key for i in again] == ["m1"], "only its own lease came back"
