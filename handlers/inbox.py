"""Webhook updates: kept in the inbox before Telegram is answered, applied in order per chat.

Behind a load balancer a rider's photo may reach one worker and their location another. So the
worker that receives an update only keeps it (storage/inbox.py) and then tries to claim the
chat. Whoever holds a chat's claim applies all of that chat's waiting updates, oldest first;
a worker that finds the claim taken leaves its update to the holder, which looks again after
it lets the claim go. A worker that dies leaves its claims to run out; a sweep picks up what it
left. One process also applies different chats side by side, as handlers/ordering.py does
when polling.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application

from handlers.ordering import chat_of
from storage import inbox
from storage.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class Inbox:
    def __init__(
        self,
        application: AnyApplication,
        store: Store,
        clock: Clock,
        *,
        holder: str,
        lease: timedelta = timedelta(seconds=15),
        sweep_every_s: float = 2.0,
        keep_done: timedelta = timedelta(days=1),
        batch: int = 20,
        max_concurrent: int = 64,
    ) -> None:
        self.application = application
        self.store = store
        self.clock = clock
        self.holder = holder
        self.lease = lease
        self.sweep_every_s = sweep_every_s
        self.keep_done = keep_done
        self.batch = batch
        self.slots = asyncio.Semaphore(max_concurrent)
        # Chats this worker is draining now.
        self._draining: dict[int, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._last_prune: datetime | None = None

    async def receive(self, update: Update, payload: str) -> None:
        """Keep the update (Telegram is answered once this returns), then see it applied."""
        chat_id = chat_of(update)
        async with self.store.tx() as tx:
            await inbox.keep(tx, update.update_id, chat_id, payload, self.clock())
        self.kick(chat_id)

    def kick(self, chat_id: int) -> None:
        """Drain the chat here unless this worker is draining it already (it will look again)."""
        if chat_id in self._draining:
            return
        task = asyncio.create_task(self._drain(chat_id), name=f"inbox-{chat_id}")
        self._draining[chat_id] = task
        task.add_done_callback(lambda _: self._draining.pop(chat_id, None))

    async def start(self) -> None:
        """Apply what an earlier run kept but did not apply, then keep sweeping."""
        await self.sweep(everything=True)
        self._loops = [
            asyncio.create_task(self._sweeping(), name="inbox-sweep"),
            asyncio.create_task(self._heartbeat(), name="inbox-heartbeat"),
        ]

    async def stop(self, grace_s: float = 10.0) -> None:
        """Finish the updates in hand (the server takes no new ones by now)."""
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        drains = list(self._draining.values())
        if drains:
            _, late = await asyncio.wait(drains, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until nothing is being applied here (for tests)."""
        while self._draining:
            await asyncio.gather(*list(self._draining.values()), return_exceptions=True)

    async def sweep(self, *, everything: bool = False) -> None:
        """Drain chats whose updates nobody applies: a worker died, or one lost a race."""
        now = self.clock()
        before = now if everything else now - timedelta(seconds=self.sweep_every_s)
        async with self.store.tx() as tx:
            chats = await inbox.waiting_chats(tx, before)
            if self._last_prune is None or now - self._last_prune > timedelta(minutes=10):
                await inbox.prune(tx, now - self.keep_done)
                self._last_prune = now
        for chat_id in chats:
            self.kick(chat_id)

    async def _drain(self, chat_id: int) -> None:
        try:
            while await self._claim(chat_id):
                try:
                    await self._apply_waiting(chat_id)
                finally:
                    more = await self._release(chat_id)
                if not more:
                    return
        except Exception:
            # The database is away: what was kept stays kept, and the sweep tries again.
            log.exception("could not apply the updates of chat %s", chat_id)

    async def _claim(self, chat_id: int) -> bool:
        now = self.clock()
        async with self.store.tx() as tx:
            return await inbox.claim(tx, chat_id, self.holder, now, now + self.lease)

    async def _release(self, chat_id: int) -> bool:
        """Let the chat go; True if an update came in meanwhile that its worker left to us."""
        async with self.store.tx() as tx:
            await inbox.release(tx, chat_id, self.holder)
            # After the release, so an update kept by a worker that found the chat taken is seen.
            return bool(await inbox.pending(tx, chat_id, 1))

    async def _apply_waiting(self, chat_id: int) -> None:
        while True:
            async with self.store.tx() as tx:
                waiting = await inbox.pending(tx, chat_id, self.batch)
            if not waiting:
                return
            for kept in waiting:
                await self._apply(kept)

    async def _apply(self, kept: inbox.Kept) -> None:
        # Read back from what was kept: another worker, or an earlier run, may have received it.
        update = Update.de_json(json.loads(kept.payload), self.application.bot)
        turn = inbox.Applying(kept.update_id)
        token = inbox.applying.set(turn)
        try:
            async with self.slots:
                # Handler errors are caught and reported by the Application's error handler.
                await self.application.process_update(update)
        finally:
            inbox.applying.reset(token)
        if not turn.marked:  # no handler wrote anything (a command that only reads)
            async with self.store.tx() as tx:
                await inbox.mark_done(tx.conn, kept.update_id, self.clock())

    async def _sweeping(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("could not look for updates left unapplied; trying again")

    async def _heartbeat(self) -> None:
        """Keep this worker's claims alive while it applies long updates."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                async with self.store.tx() as tx:
                    await inbox.extend(
                        tx, list(self._draining), self.holder, self.clock() + self.lease
                    )
            except Exception:
                log.exception("could not extend the inbox claims")
