"""End-to-end: the local Telegram runs as its own process; the real bot talks to it over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Suishoubao, assemble, utcnow
from bot.settings import Settings
from fakegram.client import Fakegram
from fakegram.images import jpeg
from handlers.ratelimit import FloodLimiter

TOKEN = "710001234:AAFakeTokenForTheLocalTelegramOnly00"
ROOT = Path(__file__).resolve().parents[2]

# Points in the bundled demo communities of 壶关县 龙泉镇.
LONGQUAN = (36.115, 113.207)
CHENGBEI = (36.125, 113.207)
RIVERSIDE = (36.100, 113.220)  # the English-speaking community
NORTH_OF_CHENGBEI = (36.1309, 113.207)  # about 100 m outside its northern edge
NOWHERE = (36.300, 113.500)


@pytest.fixture(scope="session")
def fakegram_url() -> Iterator[str]:
    """One local Telegram for the whole run, as its own process; each test resets it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fakegram", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        ready = json.loads(line)
    except json.JSONDecodeError:
        process.kill()
        raise RuntimeError(f"the local Telegram did not start: {line!r}") from None
    yield f"http://127.0.0.1:{ready['port']}"
    process.terminate()
    process.wait(timeout=10)
    process.stdout.close()


@pytest.fixture
async def tg(fakegram_url: str) -> AsyncIterator[Fakegram]:
    client = Fakegram(fakegram_url, TOKEN)
    await client.reset()
    yield client
    await client.close()


BotFactory = Callable[..., Awaitable[Suishoubao]]


@pytest.fixture
async def start_bot(
    fakegram_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[BotFactory]:
    """Start the real bot against the local Telegram; several starts mean restarts."""
    running: list[Suishoubao] = []
    database = getattr(request, "param", None) or f"sqlite+aiosqlite:///{tmp_path}/bot.db"

    async def start(
        telegram_pacing: bool = False, clock: Callable[[], datetime] | None = None, **env: str
    ) -> Suishoubao:
        """telegram_pacing: pace private chats as Telegram requires (slow); otherwise quickly."""
        settings = Settings.from_mapping(
            {
                "BOT_TOKEN": TOKEN,
                "TELEGRAM_API_URL": fakegram_url,
                "DATABASE_URL": database,
                **env,
            }
        )
        limiter = None if telegram_pacing else FloodLimiter(private_interval_s=0.01)
        bot = assemble(settings, limiter=limiter, clock=clock or utcnow)
        await bot.start_polling(poll_timeout=1)
        running.append(bot)
        return bot

    yield start
    for bot in running:
        if bot.application.running:
            await bot.stop()


class ShiftedClock:
    """Real time, shifted: reports filed "yesterday", then the digest of yesterday today."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Town:
    """The people of a test: riders, a linked staff group, a supervisors' chat."""

    tg: Fakegram
    bot: Suishoubao
    rider: dict[str, Any]
    staff: dict[str, Any]
    group: dict[str, Any]
    supervisors: dict[str, Any]
    riders: list[dict[str, Any]] = field(default_factory=list)


async def link_group(tg: Fakegram, admin_id: int, chat_id: int, community: str) -> str:
    sent = await tg.send_text(admin_id, f"/link {community}", chat_id=chat_id)
    replies = await tg.wait_for_bot_messages(chat_id, 1)
    assert sent
    return str(replies[-1]["text"])


@pytest.fixture
async def town(tg: Fakegram, start_bot: BotFactory, request: pytest.FixtureRequest) -> Town:
    rider = await tg.user("小王", language_code="zh-hans")
    staff = await tg.user("李姐", language_code="zh-hans")
    supervisors = await tg.group("街道督办", members=[(staff["id"], "creator")])
    group = await tg.group("龙泉社区工作群", members=[(staff["id"], "administrator")])
    pacing = request.node.get_closest_marker("telegram_pacing") is not None
    bot = await start_bot(telegram_pacing=pacing, SUPERVISOR_CHAT_IDS=str(supervisors["id"]))
    reply = await link_group(tg, staff["id"], group["id"], "longquan")
    assert "龙泉社区" in reply
    return Town(tg, bot, rider, staff, group, supervisors)


def image(**kw: Any) -> bytes:
    return jpeg(**kw)
