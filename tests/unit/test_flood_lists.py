"""The delivery worker lists a flooded group's queued cards once, ahead of them, and only then."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.callbacks import CardAction
from bot.categories import load_categories
from bot.delivery import Delivery, Sent, Transient
from bot.desk import Person
from bot.domain import OutMessage
from bot.geo import Router, load_communities
from bot.i18n import Texts
from tests.conftest import FakeClock
from tests.unit.world import GROUPS, STAFF, World

GROUP = GROUPS["longquan"]


class Group:
    """A transport that records what reached the longquan group (and answers everyone else)."""

    def __init__(self) -> None:
        self.seen: list[OutMessage] = []
        self.sent = 0
        self.on_send: Callable[[OutMessage], Awaitable[None]] | None = None

    async def send(self, message: OutMessage, upload: bytes | None) -> Sent:
        if self.on_send is not None:
            await self.on_send(message)
        self.sent += 1
        if message.chat_id == GROUP:
            self.seen.append(message)
        return Sent(self.sent, "AgADsent" if message.photo else None)

    def lists(self) -> list[list[int]]:
        return [numbers(m.text) for m in self.seen if m.photo is None]

    def cards(self) -> list[int]:
        return [
            int(re.findall(r"#(\d+)", m.text)[0])
            for m in self.seen
            if m.photo is not None and m.edit_message_id is None
        ]


def numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^#(\d+) ", text, re.M)]


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock, database_url: str) -> AsyncIterator[World]:
    world = World(tmp_path, clock, env={"REPORTS_PER_HOUR": "1000"}, database_url=database_url)
    await world.open()
    yield world
    await world.close()


def delivery_for(world: World, transport: Group) -> Delivery:
    settings = world.settings
    return Delivery(
        store=world.store,
        transport=transport,
        router=Router(load_communities(settings.communities_file)),
        categories=load_categories(settings.categories_file),
        texts=Texts.load(),
        settings=settings,
        clock=world.clock,
    )


async def file(world: World, count: int) -> list[int]:
    return [await world.file(rider=Person(9001, "zh-hans")) for _ in range(count)]


async def drain(delivery: Delivery, world: World) -> None:
    for _ in range(20):
        await delivery.dispatch()
        await delivery.idle()
        async with world.store.tx() as tx:
            if (await tx.outbox_counts()).get("pending", 0) == 0:
                return
        world.clock.advance(seconds=5)
    raise AssertionError("the outbox never emptied")


async def test_a_group_with_no_backlog_gets_only_its_cards(world: World) -> None:
    group = Group()
    filed = await file(world, 20)
    await drain(delivery_for(world, group), world)
    assert group.lists() == []
    assert group.cards() == filed


async def test_cards_beyond_the_next_windows_budget_are_listed_first_and_once(
    world: World,
) -> None:
    group = Group()
    filed = await file(world, 50)
    await drain(delivery_for(world, group), world)
    assert group.seen[0].photo is None, "the list goes ahead of the cards"
    assert group.lists() == [filed[20:]], "what the next 20 slots do not send, listed once"
    assert group.cards() == filed, "every card still follows, once, in order"
    assert group.seen[0].buttons == ()


async def test_reports_arriving_during_a_flood_are_listed_once_in_a_later_list(
    world: World,
) -> None:
    group = Group()
    filed = await file(world, 50)
    more: list[int] = []

    async def flood_goes_on(message: OutMessage) -> None:
        if message.chat_id == GROUP and len(group.seen) == 15 and not more:
            more.extend(await file(world, 30))

    group.on_send = flood_goes_on
    delivery = delivery_for(world, group)
    await drain(delivery, world)
    first, second = group.lists()
    assert first == filed[20:]
    assert set(second) <= set(more) and more[-1] in second, "only the new, the newest certainly"
    assert group.cards() == filed + more
    assert len(group.seen) == 2 + 80


async def test_a_list_held_up_by_a_fault_still_goes_before_the_cards(world: World) -> None:
    group = Group()
    filed = await file(world, 30)
    failed: list[str] = []

    async def first_list_fails(message: OutMessage) -> None:
        if message.chat_id == GROUP and message.photo is None and not failed:
            failed.append(message.text)
            raise Transient("502 Bad Gateway")

    group.on_send = first_list_fails
    await drain(delivery_for(world, group), world)
    assert failed and group.seen[0].text == failed[0], "sent after the fault, first"
    assert group.lists() == [filed[20:]]
    assert group.cards() == filed


async def test_a_press_during_a_flood_shows_on_its_card_before_the_cards_still_queued(
    world: World,
) -> None:
    group = Group()
    filed = await file(world, 40)
    pressed: list[int] = []

    async def staff_claim_the_first(message: OutMessage) -> None:
        # As the second card goes out (the first is on screen and recorded), staff claim it.
        if message.chat_id == GROUP and message.photo is not None and group.cards() and not pressed:
            pressed.append(len(group.seen))
            toast = await world.act(STAFF[0], filed[0], CardAction.CLAIM)
            assert toast is not None

    group.on_send = staff_claim_the_first
    await drain(delivery_for(world, group), world)
    edits = [i for i, m in enumerate(group.seen) if m.edit_message_id is not None]
    assert len(edits) == 1 and "李姐" in group.seen[edits[0]].text
    # The list, two cards, then at once the edit of the first: not after 38 more cards.
    assert edits[0] == pressed[0] + 1
    assert group.cards() == filed
