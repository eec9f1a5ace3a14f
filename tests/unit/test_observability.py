"""Webhook settings, the webhook app, health, metrics, and the counting Bot API transport."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import sqlalchemy as sa
from aiohttp import web
from telegram import Update
from telegram.error import BadRequest, NetworkError
from telegram.ext import Application, CommandHandler, TypeHandler

from bot.__main__ import main
from bot.app import Suishoubao, press_router
from bot.errors import ConfigError
from bot.observability import InstrumentedRequest, Metrics, api_method, handler_name
from bot.settings import Settings
from bot.web import SECRET_HEADER, Health, build_web_app, listen, webhook_path
from storage.db import make_engine
from storage.store import Store
from storage.tables import events, outbox, reports, riders

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
SECRET = "s3cret_-X"
UPDATE = {
    "update_id": 5,
    "message": {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": 77, "type": "private"},
        "from": {"id": 77, "is_bot": False, "first_name": "小王"},
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    },
}

# ---- settings -------------------------------------------------------------------------------


def test_webhook_settings_default_to_polling() -> None:
    settings = Settings.from_mapping({})
    assert settings.webhook_url is None and settings.webhook_secret is None
    assert settings.webhook_listen == ("127.0.0.1", 8080)
    assert settings.log_format == "text"


def test_webhook_settings_are_read() -> None:
    settings = Settings.from_mapping(
        {
            "WEBHOOK_URL": "https://bot.example.org/tg/hook",
            "WEBHOOK_LISTEN": "0.0.0.0:8443",
            "WEBHOOK_SECRET": SECRET,
            "LOG_FORMAT": "JSON",
        }
    )
    assert settings.webhook_url == "https://bot.example.org/tg/hook"
    assert settings.webhook_listen == ("0.0.0.0", 8443)
    assert settings.webhook_secret == SECRET
    assert settings.log_format == "json"
    assert Settings.from_mapping({"WEBHOOK_LISTEN": "[::1]:80"}).webhook_listen == ("::1", 80)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WEBHOOK_URL": "https://bot.example.org/tg"}, "WEBHOOK_SECRET must be set"),
        ({"WEBHOOK_URL": "ftp://bot.example.org/tg", "WEBHOOK_SECRET": "x"}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "bot.example.org/tg", "WEBHOOK_SECRET": "x"}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://h/a{b}", "WEBHOOK_SECRET": "x"}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://h/metrics", "WEBHOOK_SECRET": "x"}, "WEBHOOK_URL"),
        ({"WEBHOOK_SECRET": "has space"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "ü"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "x" * 257}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_LISTEN": "8080"}, "WEBHOOK_LISTEN"),
        ({"WEBHOOK_LISTEN": "localhost:http"}, "WEBHOOK_LISTEN"),
        ({"WEBHOOK_LISTEN": "0.0.0.0:70000"}, "WEBHOOK_LISTEN"),
        ({"WEBHOOK_LISTEN": ":8080"}, "WEBHOOK_LISTEN"),
        ({"LOG_FORMAT": "yaml"}, "LOG_FORMAT"),
    ],
)
def test_each_bad_webhook_setting_is_one_sentence_naming_it(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(env)
    message = str(caught.value)
    assert message.startswith(named) and message.endswith(".")
    assert "\n" not in message


def test_the_webhook_path_is_the_urls_path() -> None:
    assert webhook_path("https://bot.example.org/tg/hook?x=1") == "/tg/hook"
    assert webhook_path("https://bot.example.org") == "/"
    assert webhook_path("https://bot.example.org/a%20b") == "/a b"


# ---- the webhook app ------------------------------------------------------------------------


def application() -> Application[Any, Any, Any, Any, Any, Any]:
    return Application.builder().token(TOKEN).build()


async def healthy() -> dict[str, bool]:
    return {"database": True, "telegram": True}


async def db_down() -> dict[str, bool]:
    return {"database": False, "telegram": True}


class Kept(list[tuple[Update, str]]):
    """What the webhook handed over to be kept; `fail` makes keeping fail (database away)."""

    fail = False

    async def __call__(self, update: Update, body: str) -> None:
        if self.fail:
            raise ConnectionError("the database does not answer")
        self.append((update, body))


def web_app(kept: Kept | None = None, **overrides: Any) -> Any:
    """The webhook app on /tg/hook, healthy, with its own registry, unless a test says else."""
    options: dict[str, Any] = {
        "application": application(),
        "accept": kept if kept is not None else Kept(),
        "path": "/tg/hook",
        "secret": SECRET,
        "health": healthy,
        "registry": Metrics().registry,
    }
    return build_web_app(**(options | overrides))


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")


async def test_the_webhook_keeps_updates_that_carry_the_secret() -> None:
    ptb = application()
    metrics = Metrics()
    kept = Kept()
    app = web_app(kept, application=ptb, registry=metrics.registry)
    async with client(app) as http:
        answer = await http.post("/tg/hook", json=UPDATE, headers={SECRET_HEADER: SECRET})
    assert answer.status_code == 200
    [(update, body)] = kept
    assert json.loads(body) == UPDATE
    assert update.update_id == 5 and update.effective_chat is not None
    assert update.effective_chat.id == 77
    assert update.get_bot() is ptb.bot


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, json.dumps(UPDATE), 401),
        ({SECRET_HEADER: "wrong"}, json.dumps(UPDATE), 401),
        ({SECRET_HEADER: SECRET + "x"}, json.dumps(UPDATE), 401),
        ({SECRET_HEADER: "\xfc"}, json.dumps(UPDATE), 401),
        ({SECRET_HEADER: SECRET}, "{not json", 400),
        ({SECRET_HEADER: SECRET}, "[1, 2]", 400),
        ({SECRET_HEADER: SECRET}, '{"message": {}}', 400),
        ({SECRET_HEADER: SECRET}, "\xff\xfe", 400),
    ],
)
async def test_the_webhook_refuses_the_wrong_secret_and_bad_bodies(
    headers: dict[str, str], body: str, status: int
) -> None:
    sent = {name.encode(): value.encode("latin-1") for name, value in headers.items()}
    kept = Kept()
    app = web_app(kept)
    async with client(app) as http:
        answer = await http.post("/tg/hook", content=body.encode("latin-1"), headers=sent)
    assert answer.status_code == status
    assert not kept


async def test_an_update_that_cannot_be_kept_is_refused_so_telegram_sends_it_again() -> None:
    kept = Kept()
    kept.fail = True
    app = web_app(kept)
    async with client(app) as http:
        answer = await http.post("/tg/hook", json=UPDATE, headers={SECRET_HEADER: SECRET})
    assert answer.status_code == 500


async def test_healthz_is_503_unless_everything_answers() -> None:
    registry = Metrics().registry
    for check, status in ((healthy, 200), (db_down, 503)):
        app = web_app(health=check, registry=registry)
        async with client(app) as http:
            answer = await http.get("/healthz")
        assert answer.status_code == status
        assert answer.json() == await check()


async def test_metrics_are_prometheus_text_read_after_a_refresh() -> None:
    metrics = Metrics()
    metrics.count_update(Update.de_json(UPDATE, None))
    refreshed: list[bool] = []

    async def refresh() -> None:
        refreshed.append(True)

    app = web_app(registry=metrics.registry, before_metrics=refresh)
    async with client(app) as http:
        answer = await http.get("/metrics")
    assert answer.status_code == 200 and refreshed == [True]
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert 'suishoubao_updates_total{type="message"} 1.0' in text
    for family in ("bot_api_calls_total counter", "bot_api_errors_total counter"):
        assert f"# TYPE suishoubao_{family}" in text
    assert "# TYPE suishoubao_handler_seconds histogram" in text


# ---- health ---------------------------------------------------------------------------------


class FakeBot:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls = 0
        self.fail = False
        self.application = self
        self.bot = self

    async def get_me(self) -> None:
        self.calls += 1
        if self.fail:
            raise NetworkError("down")


@pytest.fixture
async def unreachable() -> AsyncIterator[Store]:
    """A database that does not answer: nothing listens on port 1."""
    store = Store(make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    yield store
    await store.close()


async def test_health_asks_the_database_and_caches_telegrams_answer(
    store: Store, unreachable: Store
) -> None:
    fake = FakeBot(store)
    health = Health(cast(Suishoubao, fake), telegram_ttl_s=60)
    assert await health() == {"database": True, "telegram": True}
    fake.fail = True
    assert await health() == {"database": True, "telegram": True}  # cached
    assert fake.calls == 1
    health.telegram_ttl_s = 0
    fake.store = unreachable
    assert await health() == {"database": False, "telegram": False}


# ---- handlers and updates -------------------------------------------------------------------


async def test_install_counts_updates_and_times_every_handler_once(api_server: str) -> None:
    ptb = Application.builder().token(TOKEN).base_url(f"{api_server}/bot").build()
    seen: list[int] = []

    async def start(update: Update, context: Any) -> None:
        seen.append(update.update_id)

    ptb.add_handler(CommandHandler("start", start))
    metrics = Metrics()
    metrics.install(ptb)
    metrics.install(ptb)
    assert len(ptb.handlers[-1]) == 1 and isinstance(ptb.handlers[-1][0], TypeHandler)
    async with ptb:
        await ptb.process_update(Update.de_json(UPDATE, ptb.bot))
    assert seen == [5]
    name = "test_install_counts_updates_and_times_every_handler_once.start"
    assert metrics.registry.get_sample_value("suishoubao_updates_total", {"type": "message"}) == 1
    assert (
        metrics.registry.get_sample_value("suishoubao_handler_seconds_count", {"handler": name})
        == 1
    )


def test_handler_names_are_short_and_stable() -> None:
    route = press_router(cast(Any, None), cast(Any, None), cast(Any, None))
    assert handler_name(route) == "press_router.route"
    assert handler_name(FakeBot.get_me) == "FakeBot.get_me"


# ---- the database's figures -----------------------------------------------------------------


async def test_reports_transitions_and_backlog_are_read_from_the_database(
    store: Store, unreachable: Store
) -> None:
    now = datetime.now(UTC)
    async with store.tx() as tx:
        rider = await tx.conn.execute(
            sa.insert(riders).values(
                telegram_id=1, language="zh", language_chosen=False, created_at=now
            )
        )
        assert rider.inserted_primary_key is not None
        report: dict[str, Any] = {
            "rider_id": rider.inserted_primary_key[0],
            "lat": 36.1,
            "lon": 113.2,
            "route_kind": "inside",
            "route_distance_m": 0.0,
            "filed_at": now,
            "updated_at": now,
        }
        for category, status in (("fire", "open"), ("fire", "open"), ("sanitation", "claimed")):
            await tx.conn.execute(
                sa.insert(reports).values(report | {"category": category, "status": status})
            )
        for action in ("filed", "filed", "filed", "claim"):
            await tx.conn.execute(
                sa.insert(events).values(
                    report_id=1, at=now, to_status="open", actor="rider", action=action
                )
            )
        for n, (chat, state) in enumerate(
            (
                (-100, "pending"),
                (-100, "pending"),
                (-200, "pending"),
                (-300, "sent"),
                (None, "waiting"),
            )
        ):
            await tx.conn.execute(
                sa.insert(outbox).values(
                    key=f"k{n}",
                    kind="text",
                    chat_id=chat,
                    payload={},
                    state=state,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    metrics = Metrics()
    metrics.watch_store(store)
    await metrics.refresh()
    value = metrics.registry.get_sample_value
    assert value("suishoubao_reports", {"category": "fire", "state": "open"}) == 2
    assert value("suishoubao_reports", {"category": "sanitation", "state": "claimed"}) == 1
    assert value("suishoubao_reports_filed_total", {"category": "fire"}) == 2
    assert value("suishoubao_report_transitions_total", {"action": "filed"}) == 3
    assert value("suishoubao_report_transitions_total", {"action": "claim"}) == 1
    assert value("suishoubao_delivery_backlog", {"chat": "-100"}) == 2
    assert value("suishoubao_delivery_backlog", {"chat": "-200"}) == 1
    assert value("suishoubao_delivery_backlog", {"chat": "-300"}) is None
    assert value("suishoubao_delivery_waiting") == 1

    metrics.watch_store(unreachable)
    await metrics.refresh()  # the database is gone: its figures are left out, nothing fails
    assert value("suishoubao_reports", {"category": "fire", "state": "open"}) is None


# ---- the Bot API transport ------------------------------------------------------------------


def test_the_api_method_is_the_last_segment_never_the_token() -> None:
    root = "https://api.telegram.org"
    assert api_method(f"{root}/bot{TOKEN}/sendMessage") == "sendMessage"
    assert api_method(f"{root}/file/bot{TOKEN}/photos/file_1.jpg") == "file"
    assert api_method(f"{root}/bot{TOKEN}/") == "other"
    assert api_method(f"{root}/bot{TOKEN}/send%20x") == "other"


@pytest.fixture
async def api_server() -> AsyncIterator[str]:
    """A tiny Bot API: getMe answers, sendMessage is refused, /file serves bytes."""

    async def call(request: web.Request) -> web.Response:
        if request.match_info["method"] == "getMe":
            me = {"id": 1, "is_bot": True, "first_name": "bot", "username": "suishoubao_bot"}
            return web.json_response({"ok": True, "result": me})
        return web.json_response(
            {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
            status=400,
        )

    async def download(request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8")

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", call)
    app.router.add_get("/file/bot{token}/{path:.*}", download)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_instrumented_request_counts_calls_and_errors_by_method(api_server: str) -> None:
    metrics = Metrics()
    request = InstrumentedRequest(metrics)
    await request.initialize()
    try:
        await request.post(f"{api_server}/bot{TOKEN}/getMe")
        await request.post(f"{api_server}/bot{TOKEN}/getMe")
        with pytest.raises(BadRequest):
            await request.post(f"{api_server}/bot{TOKEN}/sendMessage")
        assert await request.retrieve(f"{api_server}/file/bot{TOKEN}/photos/a.jpg") == b"\xff\xd8"
        with pytest.raises(NetworkError):
            await request.post(f"http://127.0.0.1:1/bot{TOKEN}/getMe")
    finally:
        await request.shutdown()
    value = metrics.registry.get_sample_value
    assert value("suishoubao_bot_api_calls_total", {"method": "getMe"}) == 3
    assert value("suishoubao_bot_api_calls_total", {"method": "sendMessage"}) == 1
    assert value("suishoubao_bot_api_calls_total", {"method": "file"}) == 1
    assert value("suishoubao_bot_api_errors_total", {"method": "sendMessage", "code": "400"}) == 1
    assert value("suishoubao_bot_api_errors_total", {"method": "getMe", "code": "network"}) == 1
    assert value("suishoubao_bot_api_errors_total", {"method": "getMe", "code": "400"}) is None
    text = (await asyncio.to_thread(_exposition, metrics)).decode()
    assert TOKEN.split(":")[1] not in text


def _exposition(metrics: Metrics) -> bytes:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry)


# ---- start-up -------------------------------------------------------------------------------


def test_a_port_in_use_is_one_sentence_naming_webhook_listen() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"^WEBHOOK_LISTEN 127.0.0.1:{port} cannot be used"):
            listen("127.0.0.1", port)


def test_python_m_bot_refuses_a_webhook_without_its_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org/tg")
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    assert main() == 2
    assert capsys.readouterr().err.startswith("Configuration error: WEBHOOK_SECRET must be set")
