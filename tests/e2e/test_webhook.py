"""Webhook mode: the local Telegram POSTs updates to the bot's own server; nothing polls."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Suishoubao, assemble
from bot.observability import InstrumentedRequest
from bot.settings import Settings
from bot.web import SECRET_HEADER, serve_webhook
from fakegram.client import Fakegram, text_of
from handlers.ratelimit import FloodLimiter
from tests.e2e.conftest import TOKEN
from tests.e2e.people import Phone

SECRET = "webhook-secret_0123456789"
PATH = "/tg/hook-7f3a"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Hooked:
    bot: Suishoubao
    base: str  # http://127.0.0.1:<port>
    http: aiohttp.ClientSession
    served: asyncio.Task[None]
    stop: asyncio.Event

    async def bot_api(self, fakegram_url: str, method: str) -> Any:
        async with self.http.post(f"{fakegram_url}/bot{TOKEN}/{method}") as response:
            return (await response.json())["result"]

    async def metrics(self) -> str:
        async with self.http.get(f"{self.base}/metrics") as response:
            assert response.status == 200
            return await response.text()


@pytest.fixture
async def hooked(fakegram_url: str, tg: Fakegram, tmp_path: Path) -> AsyncIterator[Hooked]:
    port = free_port()
    settings = Settings.from_mapping(
        {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": fakegram_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            "WEBHOOK_URL": f"http://127.0.0.1:{port}{PATH}",
            "WEBHOOK_LISTEN": f"127.0.0.1:{port}",
            "WEBHOOK_SECRET": SECRET,
        }
    )
    bot = assemble(settings, limiter=FloodLimiter(private_interval_s=0.01))
    stop = asyncio.Event()
    served = asyncio.create_task(serve_webhook(bot, settings, stop=stop))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        hooked = Hooked(bot, f"http://127.0.0.1:{port}", http, served, stop)

        async def webhook_set() -> bool:
            if served.done():
                served.result()  # start-up failed: say why
            info = await hooked.bot_api(fakegram_url, "getWebhookInfo")
            return bool(info["url"])

        await tg.until(webhook_set, timeout=10)
        yield hooked
        stop.set()
        await asyncio.wait_for(served, timeout=10)


async def test_updates_arrive_by_webhook_and_are_answered(
    hooked: Hooked, tg: Fakegram, fakegram_url: str
) -> None:
    info = await hooked.bot_api(fakegram_url, "getWebhookInfo")
    assert info["url"] == f"{hooked.base}{PATH}"
    assert set(info["allowed_updates"]) >= {"message", "callback_query", "my_chat_member"}

    rider = Phone(tg, await tg.user("小王", language_code="zh-hans"))
    welcome = await rider.text("/start")
    assert text_of(welcome)
    ask = await rider.photo()
    assert "位置" in text_of(ask)

    stats = await tg.stats()
    assert stats["calls"].get("setWebhook") == 1
    assert not stats["calls"].get("getUpdates"), "webhook mode must not poll"
    assert hooked.bot.application.updater is not None
    assert not hooked.bot.application.updater.running

    text = await hooked.metrics()
    assert sample(text, "suishoubao_updates_total", type="message") >= 2
    assert sample(text, "suishoubao_handler_seconds_count", handler="RiderHandlers.photo") == 1
    assert "suishoubao_delivery_backlog" in text
    assert "suishoubao_reports" in text


async def test_the_webhook_refuses_requests_without_the_secret(hooked: Hooked) -> None:
    url = f"{hooked.base}{PATH}"
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1}}}
    async with hooked.http.post(url, json=update) as response:
        assert response.status == 401
    async with hooked.http.post(url, json=update, headers={SECRET_HEADER: "wrong"}) as response:
        assert response.status == 401
    async with hooked.http.post(
        url, data=b"{not json", headers={SECRET_HEADER: SECRET}
    ) as response:
        assert response.status == 400
    # None of these reached the handlers.
    assert "suishoubao_updates_total{" not in await hooked.metrics()


async def test_healthz_says_the_database_and_telegram_answer(hooked: Hooked) -> None:
    async with hooked.http.get(f"{hooked.base}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"database": True, "telegram": True}


async def test_bot_api_calls_are_counted_by_method(hooked: Hooked, tg: Fakegram) -> None:
    assert isinstance(hooked.bot.application.bot.request, InstrumentedRequest)
    text = await hooked.metrics()
    assert sample(text, "suishoubao_bot_api_calls_total", method="setWebhook") == 1
    assert sample(text, "suishoubao_bot_api_calls_total", method="getMe") >= 1
    assert 'bot_api_calls_total{method="getUpdates"}' not in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text


async def test_stopping_ends_the_server_cleanly(hooked: Hooked) -> None:
    hooked.stop.set()
    await asyncio.wait_for(hooked.served, timeout=10)
    assert not hooked.bot.application.running
    with pytest.raises(aiohttp.ClientConnectionError):
        async with hooked.http.get(f"{hooked.base}/healthz"):
            pass


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format (0 if it is not there)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match[1].split(","))) == wanted:
            return float(match[2])
    return 0.0
