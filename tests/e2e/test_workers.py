"""Three workers behind a round-robin balancer, one PostgreSQL: 200 riders file at once.

The local Telegram delivers webhooks one at a time, as Telegram does, to a balancer that hands
each to the next worker in turn, so a rider's photo, location and taps land on different
workers. Each worker is `python -m bot`, its own process.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from itertools import cycle
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from bench._common import BOT_TOKEN, BenchError, BotProcess, Watch, file_report
from fakegram.client import Fakegram, text_of
from fakegram.images import jpeg
from tests.conftest import new_postgres_database
from tests.e2e.grid import centre, grid
from tests.e2e.test_webhook import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

RIDERS = 200
COMMUNITIES = 25  # a 5 x 5 grid, so 200 cards fit in each group's 20 per minute
SECRET = "three-workers-secret"
CARD = re.compile(r"#(\d+)")


class Balancer:
    """Round robin over the workers, like a load balancer without stickiness. A worker that
    does not answer gets the request's 502, and Telegram sends the update again."""

    def __init__(self, ports: list[int]) -> None:
        self.next = cycle(ports)
        self.port = free_port()
        self.runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None
        self.served: Counter[int] = Counter()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def forward(self, request: web.Request) -> web.Response:
        assert self.http is not None
        port = next(self.next)
        try:
            async with self.http.post(
                f"http://127.0.0.1:{port}{request.path}",
                data=await request.read(),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            ) as answer:
                self.served[port] += 1
                return web.Response(status=answer.status, body=await answer.read())
        except aiohttp.ClientError:
            return web.Response(status=502)


@pytest.fixture
async def postgres_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    async with new_postgres_database(request.node.nodeid) as url:
        yield url


async def test_three_workers_file_every_report_once_in_order(
    fakegram_url: str, postgres_url: str, tmp_path: Path
) -> None:
    tg = Fakegram(fakegram_url, BOT_TOKEN)
    await tg.reset()
    watch = Watch(tg)
    await watch.start()
    boss = await tg.user("张主任", language_code="zh-hans")
    supervisors = int((await tg.group("街道督办", members=[(boss["id"], "creator")]))["id"])
    groups = []
    for index in range(COMMUNITIES):
        admin = await tg.user(f"站长{index}", language_code="zh-hans")
        group = await tg.group(f"第{index}社区工作群", members=[(admin["id"], "administrator")])
        groups.append(int(group["id"]))
        watch.groups.add(int(group["id"]))
    communities = tmp_path / "grid.geojson"
    communities.write_text(json.dumps(grid(groups), ensure_ascii=False), "utf-8")

    ports = [free_port() for _ in range(3)]
    balancer = Balancer(ports)
    await balancer.start()
    workers = [
        BotProcess(
            fakegram_url,
            tmp_path / "unused.db",
            tmp_path / f"worker{n}.log",
            DATABASE_URL=postgres_url,
            COMMUNITIES_FILE=str(communities),
            SUPERVISOR_CHAT_IDS=str(supervisors),
            DIGEST_TIME="00:00",  # yesterday's digest is due at once: all three will try
            WEBHOOK_URL=f"http://127.0.0.1:{balancer.port}/tg/hook",
            WEBHOOK_LISTEN=f"127.0.0.1:{port}",
            WEBHOOK_SECRET=SECRET,
        )
        for n, port in enumerate(ports)
    ]
    try:
        # The first creates the schema; the others start once it answers.
        await workers[0].start()
        await ready(tg, workers[0], ports[0])
        await asyncio.gather(*(w.start() for w in workers[1:]))
        for worker, port in zip(workers[1:], ports[1:], strict=True):
            await ready(tg, worker, port)

        riders = [await tg.user(f"骑手{i}", language_code="zh-hans") for i in range(RIDERS)]
        photo = jpeg()
        try:
            filed = await asyncio.gather(
                *(
                    file_report(
                        tg,
                        watch,
                        int(rider["id"]),
                        f"c{i % COMMUNITIES:02}",
                        "sanitation",
                        photo,
                        timeout=60,
                        point=centre(i % COMMUNITIES),
                    )
                    for i, rider in enumerate(riders)
                )
            )
        except BenchError as exc:
            raise AssertionError(f"{exc}\n{workers[0].tail()}") from None
        numbers = sorted(f.number for f in filed)
        assert numbers == sorted(set(numbers)) and len(numbers) == RIDERS, "one report each"
        assert min(balancer.served.values()) > RIDERS, "every worker took its share"

        await watch.cards_of(numbers, timeout=60)
        await sent_everything(tg, postgres_url)
        cards: Counter[int] = Counter()
        for index, chat_id in enumerate(groups):
            for message in await tg.bot_messages(chat_id):
                if "photo" in message:
                    number = int(CARD.findall(text_of(message))[0])
                    cards[number] += 1
                    assert number in {f.number for f in filed if f.community == f"c{index:02}"}
        assert sorted(cards) == numbers and set(cards.values()) == {1}, "every card once"
        for rider in riders:
            said = [text_of(m) for m in await tg.bot_messages(int(rider["id"]))]
            confirmations = [t for t in said if t.startswith("✅ 已上报 #")]
            assert len(confirmations) == 1, said
        digests = [m for m in await tg.bot_messages(supervisors) if "随手报日报" in text_of(m)]
        assert len(digests) == 1
        stats = await tg.stats()
        assert not stats.get("errors"), stats.get("errors")
        for worker in workers:
            assert not [p for p in worker.problems() if p.startswith(("ERROR", "Traceback"))], (
                worker.tail()
            )
    finally:
        await asyncio.gather(*(w.stop() for w in workers))
        await balancer.stop()
        await watch.stop()
        await tg.close()


async def sent_everything(tg: Fakegram, postgres_url: str) -> None:
    """Wait until no worker has anything left to send (the digest included)."""
    conn = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:

        async def empty() -> bool:
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending'")
            return bool(pending == 0)

        await tg.until(empty, timeout=30)
    finally:
        await conn.close()


async def ready(tg: Fakegram, worker: BotProcess, port: int) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:

        async def answers() -> bool:
            if not worker.alive():
                raise AssertionError(f"the worker on {port} stopped:\n{worker.tail()}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await tg.until(answers, timeout=30)
