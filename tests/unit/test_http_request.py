"""The aiohttp Bot API transport, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.http import AiohttpRequest

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
ME = {"id": 1, "is_bot": True, "first_name": "bot", "username": "suishoubao_bot"}
CHAT = {"id": 42, "type": "private"}
PHOTO = b"\xff\xd8\xff\xe0 not quite a jpeg \xff\xd9"


@dataclass
class Call:
    """One Bot API call as the server received it."""

    method: str
    user_agent: str
    fields: dict[str, str]
    files: dict[str, tuple[str, bytes, str]]  # name -> (filename, content, content type)


@dataclass
class FakeTelegram:
    """A tiny Bot API: records calls, answers a few methods, and can hang until released."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def method_url(self, method: str) -> str:
        return f"{self.url}/bot{TOKEN}/{method}"

    async def call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "sendDocument":
            return await self.hang(request)
        fields: dict[str, str] = {}
        files: dict[str, tuple[str, bytes, str]] = {}
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files[name] = (value.filename, value.file.read(), value.content_type)
            else:
                fields[name] = str(value)
        self.calls.append(Call(method, request.headers["User-Agent"], fields, files))
        if method == "getMe":
            return _ok(ME)
        if method == "sendMessage":
            return _ok({"message_id": 7, "date": 0, "chat": CHAT, "text": fields["text"]})
        if method == "sendPhoto":
            size = {"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}
            return _ok({"message_id": 8, "date": 0, "chat": CHAT, "photo": [size]})
        return web.json_response(
            {"ok": False, "error_code": 429, "description": "Too Many Requests"}, status=429
        )

    async def hang(self, request: web.Request) -> web.Response:
        """Answer only when the test releases it; the request body is never read."""
        self.arrived.set()
        await self.release.wait()
        return _ok(True)

    async def download(self, request: web.Request) -> web.Response:
        return web.Response(body=PHOTO)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_post("/bot{token}/{method}", fake.call)
    app.router.add_post("/hang", fake.hang)
    app.router.add_get("/file/bot{token}/{path:.*}", fake.download)
    runner = web.AppRunner(app, lingering_time=0)  # no waiting for bodies nobody sent
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    fake.release.set()
    await runner.cleanup()


@pytest.fixture
async def request_() -> AsyncIterator[AiohttpRequest]:
    """A transport with short timeouts, so the tests that wait for one stay fast."""
    request = AiohttpRequest(
        connection_pool_size=1, read_timeout=0.1, connect_timeout=1, pool_timeout=0.05
    )
    await request.initialize()
    yield request
    await request.shutdown()


def bot_on(telegram: FakeTelegram, request: AiohttpRequest) -> Bot:
    """A Bot whose calls go through the given transport to the fake server."""
    return Bot(
        TOKEN, base_url=f"{telegram.url}/bot", request=request, get_updates_request=AiohttpRequest()
    )


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


async def test_a_message_arrives_as_form_fields_with_ptbs_user_agent(
    telegram: FakeTelegram,
) -> None:
    async with bot_on(telegram, AiohttpRequest()) as bot:
        message = await bot.send_message(42, "井盖坏了 & text=1")
    assert message.text == "井盖坏了 & text=1"
    sent = telegram.calls[-1]
    assert sent.method == "sendMessage"
    assert sent.fields == {"chat_id": "42", "text": "井盖坏了 & text=1"}
    assert sent.files == {}
    assert sent.user_agent == BaseRequest.USER_AGENT


async def test_do_request_returns_the_status_and_body_as_sent(
    telegram: FakeTelegram, request_: AiohttpRequest
) -> None:
    status, body = await request_.do_request(telegram.method_url("anything"), "POST", RequestData())
    assert status == 429
    assert body == b'{"ok": false, "error_code": 429, "description": "Too Many Requests"}'


async def test_a_photo_upload_arrives_with_its_bytes_and_file_name(telegram: FakeTelegram) -> None:
    async with bot_on(telegram, AiohttpRequest()) as bot:
        message = await bot.send_photo(
            42, photo=PHOTO, caption="路灯不亮", filename="小区 路灯.jpg"
        )
    assert message.photo[0].file_id == "p"
    sent = telegram.calls[-1]
    assert sent.method == "sendPhoto"
    assert sent.fields == {"chat_id": "42", "caption": "路灯不亮"}
    assert sent.files == {"photo": ("小区 路灯.jpg", PHOTO, "image/jpeg")}


async def test_a_file_downloads_with_get(telegram: FakeTelegram, request_: AiohttpRequest) -> None:
    assert await request_.retrieve(f"{telegram.url}/file/bot{TOKEN}/photos/a.jpg") == PHOTO


async def test_no_answer_within_the_read_timeout_is_timed_out(
    telegram: FakeTelegram, request_: AiohttpRequest
) -> None:
    with pytest.raises(TimedOut) as raised:
        await request_.post(f"{telegram.url}/hang")
    assert "Pool" not in raised.value.message
    # The slot is given back: the next call goes through.
    assert await request_.post(telegram.method_url("getMe")) == ME


async def test_a_call_can_pass_its_own_read_timeout(telegram: FakeTelegram) -> None:
    request = AiohttpRequest(read_timeout=30)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.post(f"{telegram.url}/hang", read_timeout=0.05)
    finally:
        await request.shutdown()


async def test_an_upload_the_server_does_not_take_times_out(telegram: FakeTelegram) -> None:
    """aiohttp has no write timeout; an upload must finish within connect + write + read."""
    request = AiohttpRequest(read_timeout=0.05, write_timeout=0.1, connect_timeout=0.05)
    await request.initialize()
    try:
        async with bot_on(telegram, request) as bot:
            # More than the socket buffers hold, so the writer stalls until the deadline.
            big = b"\0" * (32 * 2**20)
            with pytest.raises(TimedOut):
                await bot.send_document(42, document=big, filename="big.bin", write_timeout=0.1)
    finally:
        await request.shutdown()


async def test_a_refused_connection_is_a_network_error(request_: AiohttpRequest) -> None:
    with pytest.raises(NetworkError, match=r"^aiohttp\.ClientConnectorError: ") as raised:
        await request_.post(f"http://127.0.0.1:{closed_port()}/bot{TOKEN}/getMe")
    assert not isinstance(raised.value, TimedOut)


async def test_a_full_pool_times_out_without_sending(
    telegram: FakeTelegram, request_: AiohttpRequest
) -> None:
    first = asyncio.create_task(request_.post(f"{telegram.url}/hang", read_timeout=None))
    await telegram.arrived.wait()
    with pytest.raises(TimedOut, match=r"^Pool timeout: .*not\* sent"):
        await request_.post(telegram.method_url("getMe"))
    assert telegram.calls == []
    telegram.release.set()
    assert await first is True
    assert await request_.post(telegram.method_url("getMe")) == ME


async def test_it_must_be_initialized_before_use(telegram: FakeTelegram) -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(telegram.method_url("getMe"), "POST")
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(telegram.method_url("getMe"), "POST")


async def test_initialize_and_shutdown_may_be_repeated(telegram: FakeTelegram) -> None:
    request = AiohttpRequest()
    await request.initialize()
    await request.initialize()
    assert await request.post(telegram.method_url("getMe")) == ME
    await request.shutdown()
    await request.shutdown()
    await request.initialize()
    assert await request.post(telegram.method_url("getMe")) == ME
    await request.shutdown()


async def test_a_proxy_named_in_the_environment_carries_the_calls(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where Telegram is blocked, operators reach it through HTTPS_PROXY / HTTP_PROXY."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return _ok(ME)

    app = web.Application()
    app.router.add_route("*", "/{anything:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{runner.addresses[0][1]}")
    try:
        async with bot_on(telegram, AiohttpRequest()) as bot:
            assert (await bot.get_me()).username == "suishoubao_bot"
    finally:
        await runner.cleanup()
    assert seen and all(url.endswith(f"/bot{TOKEN}/getMe") for url in seen)
    assert telegram.calls == [], "the call went around the proxy"


async def test_a_host_in_no_proxy_is_called_directly(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")  # nobody answers there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with bot_on(telegram, AiohttpRequest()) as bot:
        assert (await bot.get_me()).username == "suishoubao_bot"
    assert telegram.calls
