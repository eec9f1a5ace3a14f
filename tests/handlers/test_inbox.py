"""The inbox: several workers on one database apply each chat's updates once and in order."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.request import BaseRequest

from handlers.inbox import Inbox
from storage import inbox
from storage.db import make_engine
from storage.store import Store
from tests.conftest import FakeClock

TOKEN = "710001234:AAFakeTokenForTheLocalTelegramOnly00"


def update_json(update_id: int, chat_id: int) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "骑手"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": chat_id, "type": "private"},
            "from": user,
            "text": str(update_id),
        },
    }


class Offline(BaseRequest):
    """The Bot API as far as these tests need it: getMe, answered here; nothing else is sent."""

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        assert url.endswith("/getMe"), f"these tests make no Bot API call but getMe: {url}"
        me = {"id": 710001234, "is_bot": True, "first_name": "随手报", "username": "ssb_bot"}
        return 200, json.dumps({"ok": True, "result": me}).encode()


class Worker:
    """One process: its own PTB Application and engine, and an inbox over the shared database."""

    def __init__(
        self, name: str, database_url: str, clock: FakeClock, applied: list[tuple[str, int, int]]
    ) -> None:
        self.name = name
        self.store = Store(make_engine(database_url))
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder().token(TOKEN).updater(None).request(Offline()).build()
        )
        self.applied = applied
        self.crash_on: set[int] = set()
        self.application.add_handler(TypeHandler(Update, self.handle))
        self.inbox = Inbox(self.application, self.store, clock, holder=name, sweep_every_s=0.05)

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        for _ in range(random.randrange(4)):
            await asyncio.sleep(0)  # let the other workers' claims and drains interleave
        chat = update.effective_chat
        assert chat is not None
        async with self.store.tx():
            self.applied.append((self.name, chat.id, update.update_id))
        if update.update_id in self.crash_on:
            raise Crash  # after the commit: the process dies before it can do anything more

    async def open(self) -> Worker:
        await self.application.initialize()
        return self

    async def receive(self, data: dict[str, Any]) -> None:
        update = Update.de_json(data, self.application.bot)
        await self.inbox.receive(update, json.dumps(data))


class Crash(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs, no handler catches it."""


async def test_three_workers_apply_each_chats_updates_once_and_in_order(
    store: Store, database_url: str, clock: FakeClock
) -> None:
    applied: list[tuple[str, int, int]] = []
    workers = [await Worker(f"w{i}", database_url, clock, applied).open() for i in range(3)]
    chats = [1000 + i for i in range(8)]
    # Riders tap in bursts: a photo, a category, a location, one right after the other.
    updates = [(n, chats[(n // 3) % len(chats)]) for n in range(1, 301)]
    # Telegram sends one update at a time and waits for the answer; a round-robin balancer
    # hands consecutive updates, a rider's photo and their location, to different workers.
    for index, (update_id, chat_id) in enumerate(updates):
        await workers[index % 3].receive(update_json(update_id, chat_id))
    # Only receiving starts a drain here (no sweeps), so once every worker is idle, all is done.
    for worker in workers:
        await worker.inbox.idle()
    by_chat: dict[int, list[int]] = defaultdict(list)
    for _, chat_id, update_id in applied:
        by_chat[chat_id].append(update_id)
    assert sorted(u for _, _, u in applied) == [u for u, _ in updates], "each exactly once"
    for chat_id, ids in by_chat.items():
        assert ids == sorted(ids), f"chat {chat_id} applied out of order"
    assert len({name for name, _, _ in applied}) > 1, "the work was shared"
    for worker in workers:
        await worker.store.close()


async def test_an_update_sent_again_by_telegram_is_applied_once(
    database_url: str, clock: FakeClock, store: Store
) -> None:
    applied: list[tuple[str, int, int]] = []
    one = await Worker("one", database_url, clock, applied).open()
    two = await Worker("two", database_url, clock, applied).open()
    await one.receive(update_json(7, 501))
    await one.inbox.idle()
    # The answer was lost on the way, so Telegram sends the same update to the other worker.
    await two.receive(update_json(7, 501))
    await two.inbox.idle()
    assert applied == [("one", 501, 7)]
    for worker in (one, two):
        await worker.store.close()


async def test_a_dead_workers_updates_are_applied_by_another_once_its_claim_runs_out(
    database_url: str, clock: FakeClock, store: Store
) -> None:
    applied: list[tuple[str, int, int]] = []
    dead = await Worker("dead", database_url, clock, applied).open()
    alive = await Worker("alive", database_url, clock, applied).open()
    await dead.receive(update_json(1, 900))
    await dead.inbox.idle()
    # The dead worker had kept update 2 and claimed the chat when it was killed.
    async with store.tx() as tx:
        await inbox.keep(tx, 2, 900, json.dumps(update_json(2, 900)), clock())
        assert await inbox.claim(tx, 900, "dead", clock(), clock() + dead.inbox.lease)
    await alive.receive(update_json(3, 900))
    await alive.inbox.idle()
    assert [u for _, _, u in applied] == [1], "the chat is still claimed by the dead worker"

    clock.advance(seconds=16)  # the claim's lease runs out
    await alive.inbox.sweep()
    await alive.inbox.idle()
    assert [(w, u) for w, _, u in applied] == [("dead", 1), ("alive", 2), ("alive", 3)]
    for worker in (dead, alive):
        await worker.store.close()


async def test_an_update_applied_just_before_a_crash_is_not_applied_again(
    database_url: str, clock: FakeClock, store: Store
) -> None:
    applied: list[tuple[str, int, int]] = []
    before = await Worker("w1", database_url, clock, applied).open()
    before.crash_on = {10}
    async with store.tx() as tx:  # kept; then the worker applies 10 and dies
        for update_id in (10, 11, 12):
            await inbox.keep(tx, update_id, 77, json.dumps(update_json(update_id, 77)), clock())
    before.inbox.kick(77)
    with pytest.raises(Crash):
        await asyncio.gather(*before.inbox._draining.values())
    await before.store.close()
    assert [u for _, _, u in applied] == [10]

    after = await Worker("w1", database_url, clock, applied).open()  # restarted, same address
    await after.inbox.start()
    await after.inbox.idle()
    await after.inbox.stop()
    assert [u for _, _, u in applied] == [10, 11, 12]
    await after.store.close()
