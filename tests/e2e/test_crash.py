"""SIGKILL at random moments of a load run, then a restart: nothing lost, nothing twice.

The bot runs as `python -m bot` in webhook mode, its own process. Riders file reports while a
killer stops it with SIGKILL at random moments (the first while the morning digest goes out)
and starts it again; the local Telegram keeps retrying the webhook while it is down.

A rider who gets no answer does what a person does: sends their location again, and goes on
from whatever the bot asks next. A reply that was about to be sent when the process died can be
lost that way (what the rider had sent is kept); confirmations, cards and digests are kept in
the outbox and are not lost.

One duplicate is excused, and only one kind: a message Telegram had taken in the last moment
before a kill, before the bot could record it as sent (on this busy two-core machine that moment
can stretch to a few hundred milliseconds). No bot can tell whether such a message
went out (the Bot API has no idempotency key), and sending again beats losing a card.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from bench._common import (
    BOT_TOKEN,
    CARD_NUMBER,
    FILED,
    BenchError,
    BotProcess,
    Event,
    Watch,
    button_data,
    catalogue,
    category_label,
    offers,
    sent,
    text_of,
)
from fakegram.client import Fakegram
from fakegram.images import jpeg
from storage.db import make_engine
from tests.conftest import new_postgres_database
from tests.e2e.grid import centre, grid
from tests.e2e.test_webhook import free_port

pytestmark = pytest.mark.slow

RIDERS = 40
COMMUNITIES = 10
KILLS = 4
NUDGE_S = 4.0  # how long a rider waits for an answer before sending their location again
# A message Telegram took this shortly before a kill may not have been recorded as sent.
IN_FLIGHT_S = 0.5


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/bot.db"
        return
    async with new_postgres_database(request.node.nodeid) as url:
        yield url


class Run:
    """The bot process, killed and started again; when each kill happened."""

    def __init__(self, bot: BotProcess, port: int, tg: Fakegram) -> None:
        self.bot = bot
        self.port = port
        self.tg = tg
        self.kills: list[float] = []
        self.photos: dict[int, int] = defaultdict(int)

    async def start(self) -> None:
        await self.bot.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:

            async def answers() -> bool:
                if not self.bot.alive():
                    raise AssertionError(f"the bot stopped:\n{self.bot.tail()}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await self.tg.until(answers, timeout=30)

    async def killer(self, rng: random.Random) -> None:
        for n in range(KILLS):
            # The first kill lands around the digest, which goes out a second after start.
            await asyncio.sleep(rng.uniform(0.6, 1.6) if n == 0 else rng.uniform(0.3, 3.0))
            self.kills.append(time.time())
            await self.bot.kill()
            await self.start()

    def excused(self, first: Event) -> bool:
        return any(0 <= kill - float(first["time"]) <= IN_FLIGHT_S for kill in self.kills)


async def test_sigkill_at_random_moments_loses_nothing_and_sends_nothing_twice(
    fakegram_url: str, database: str, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    tg = Fakegram(fakegram_url, BOT_TOKEN)
    await tg.reset()
    watch = Watch(tg)
    await watch.start()
    boss = await tg.user("张主任", language_code="zh-hans")
    supervisors = int((await tg.group("街道督办", members=[(boss["id"], "creator")]))["id"])
    watch.inbox(supervisors)
    groups = []
    for index in range(COMMUNITIES):
        admin = await tg.user(f"站长{index}", language_code="zh-hans")
        group = await tg.group(f"第{index}社区工作群", members=[(admin["id"], "administrator")])
        groups.append(int(group["id"]))
        watch.groups.add(int(group["id"]))
        watch.inbox(int(group["id"]))
    communities = tmp_path / "grid.geojson"
    communities.write_text(json.dumps(grid(groups), ensure_ascii=False), "utf-8")
    port = free_port()
    run = Run(
        BotProcess(
            fakegram_url,
            tmp_path / "bot.db",
            tmp_path / "bot.log",
            DATABASE_URL=database,
            COMMUNITIES_FILE=str(communities),
            SUPERVISOR_CHAT_IDS=str(supervisors),
            DIGEST_TIME="00:00",
            WEBHOOK_URL=f"http://127.0.0.1:{port}/tg/hook",
            WEBHOOK_LISTEN=f"127.0.0.1:{port}",
            WEBHOOK_SECRET="crash-test-secret",
        ),
        port,
        tg,
    )
    riders = [
        int((await tg.user(f"骑手{i}", language_code="zh-hans"))["id"]) for i in range(RIDERS)
    ]
    try:
        await run.start()
        killing = asyncio.create_task(run.killer(rng))
        try:
            numbers = await asyncio.gather(
                *(
                    file_through_crashes(tg, watch, run, rider, centre(i % COMMUNITIES))
                    for i, rider in enumerate(riders)
                )
            )
            await killing
        except BenchError as exc:
            raise AssertionError(f"seed {seed}: {exc}\n{run.bot.tail()}") from None
        finally:
            killing.cancel()
        await watch.cards_of(numbers, timeout=60)
        await watch.inbox(supervisors).expect(0, is_digest, "the digest", timeout=30)
        await everything_sent(tg, database)
        await run.bot.stop()
        problems = f"seed {seed}, kills at {run.kills}"

        # No report lost, none filed twice, and each rider's photo was sent once: the draft
        # that held it outlived every crash.
        filed = await reports_by_rider(database)
        assert filed == {rider: 1 for rider in riders}, problems
        assert run.photos == {rider: 1 for rider in riders}, problems
        # (PostgreSQL may skip a number that a killed transaction had drawn.)

        excused = 0
        sent_by_key: dict[str, list[Event]] = defaultdict(list)
        for rider in riders:
            for event in watch.inbox(rider).seen:
                if sent(event) and (match := FILED.match(text_of(event))):
                    sent_by_key[f"confirmation {match[1]}"].append(event)
        for chat_id in groups:
            for event in watch.inbox(chat_id).seen:
                if sent(event) and "photo" in (event.get("message") or {}):
                    number = CARD_NUMBER.search(text_of(event).split("\n", 1)[0])
                    assert number is not None, text_of(event)
                    sent_by_key[f"card {number[1]}"].append(event)
        for event in watch.inbox(supervisors).seen:
            if is_digest(event):
                sent_by_key["digest"].append(event)
        assert len([k for k in sent_by_key if k.startswith("card")]) == RIDERS, problems
        assert len([k for k in sent_by_key if k.startswith("confirmation")]) == RIDERS, problems
        for key, copies in sent_by_key.items():
            if len(copies) > 1:
                assert len(copies) == 2 and run.excused(copies[0]), f"{key} twice; {problems}"
                excused += 1
        print(f"\ncrash test ({database.split(':')[0]}): {KILLS} kills, {excused} excused")
    finally:
        await run.bot.stop()
        await watch.stop()
        await tg.close()


async def file_through_crashes(
    tg: Fakegram, watch: Watch, run: Run, rider: int, point: tuple[float, float]
) -> int:
    """Photo, location, category, Skip; answer whatever the bot asks, until the confirmation."""
    box = watch.inbox(rider)
    category, skip = category_label("sanitation", "zh"), catalogue("zh")["skip_button"]

    def prompt(event: Event) -> bool:
        return sent(event) and (offers(category)(event) or offers(skip)(event) or filed(event))

    mark = box.mark()
    await tg.send_photo(rider, jpeg())
    run.photos[rider] += 1
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            event = await box.expect(mark, lambda e: sent(e), "an answer", NUDGE_S)
        except BenchError:  # the answer was lost in a crash: say where we are again
            mark = box.mark()
            await tg.send_location(rider, *point)
            continue
        mark = box.mark()
        if filed(event):
            match = FILED.match(text_of(event))
            assert match is not None
            return int(match[1])
        if prompt(event):
            label = skip if offers(skip)(event) else category
            data = button_data(event, label)
            assert data is not None
            await tg.press(rider, rider, int(event["message_id"]), data)
        else:  # "where is it?"
            await tg.send_location(rider, *point)
    raise BenchError(f"rider {rider} never saw their report filed")


def is_digest(event: Event) -> bool:
    return sent(event) and "随手报日报" in text_of(event)


def filed(event: Event) -> bool:
    return FILED.match(text_of(event)) is not None


async def everything_sent(tg: Fakegram, database: str) -> None:
    engine = make_engine(database)
    try:

        async def empty() -> bool:
            async with engine.connect() as conn:
                pending = await conn.scalar(
                    sa.text("SELECT count(*) FROM outbox WHERE state = 'pending'")
                )
            return bool(pending == 0)

        await tg.until(empty, timeout=60)
    finally:
        await engine.dispose()


async def reports_by_rider(database: str) -> dict[int, int]:
    engine = make_engine(database)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT riders.telegram_id, count(*) FROM reports"
                    " JOIN riders ON riders.id = reports.rider_id GROUP BY riders.telegram_id"
                )
            )
            return {int(rider): int(n) for rider, n in rows}
    finally:
        await engine.dispose()
