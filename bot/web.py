"""Webhook mode: an ASGI app (Starlette on uvicorn) that receives Telegram's updates.

`serve_webhook` runs the bot with it instead of polling, as PTB's "custom webhook" examples do:
the Application is initialised and started by hand, Telegram is told the URL and the secret,
and each POST to the webhook path puts its update on the Application's update queue. The same
server answers /healthz (do the database and the Bot API answer?) and /metrics (Prometheus).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# This module is Telegram glue, like bot/app.py: it feeds updates to PTB's Application.
from telegram import Update
from telegram.ext import Application

from bot.errors import ConfigError
from bot.observability import Metrics
from bot.settings import Settings
from handlers.inbox import Inbox

if TYPE_CHECKING:
    from bot.app import Suishoubao

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram sends over one connection at a time, so each update is kept in the inbox before the
# next one comes: a chat's updates are kept in order, whichever worker takes them. Keeping one
# is one insert, so one connection carries hundreds of updates a second.
MAX_CONNECTIONS = 1
HEALTH_TIMEOUT_S = 3.0
TELEGRAM_HEALTH_TTL_S = 10.0

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
HealthCheck = Callable[[], Awaitable[dict[str, bool]]]
# Keeps an update (its parsed form and the body as received) before Telegram is answered.
Accept = Callable[[Update, str], Awaitable[None]]


def webhook_path(url: str) -> str:
    """The path of WEBHOOK_URL, as the server sees it (percent-escapes decoded)."""
    return unquote(urlsplit(url).path) or "/"


def build_web_app(
    *,
    application: AnyApplication,
    accept: Accept,
    path: str,
    secret: str,
    health: HealthCheck,
    registry: CollectorRegistry,
    before_metrics: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """The webhook at `path` (POST, with the secret header), /healthz and /metrics.

    accept: keeps each update; Telegram gets 200 only once it returned, and sends the update
    again otherwise (a 500 when the database is away).
    before_metrics: awaited before each scrape (to read the database's figures).
    """
    expected = secret.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER)
        # Starlette decodes headers as latin-1, so this encoding never fails.
        if given is None or not hmac.compare_digest(given.encode("latin-1"), expected):
            log.warning("webhook: refused a request without the right secret token")
            return Response(status_code=401)
        body = await request.body()
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("webhook: refused an update that does not parse (%s)", type(exc).__name__)
            return Response(status_code=400)
        try:
            await accept(update, body.decode())
        except Exception as exc:
            log.error("webhook: could not keep update %s (%s)", update.update_id, exc)
            return Response(status_code=500)  # Telegram sends it again
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        checks = await health()
        return JSONResponse(checks, status_code=200 if all(checks.values()) else 503)

    async def metrics(request: Request) -> Response:
        if before_metrics is not None:
            await before_metrics()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route(path, receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


class Health:
    """Whether the database answers `SELECT 1` and the Bot API answers getMe.

    Telegram's answer is kept for a few seconds, so frequent probes do not become Bot API calls.
    """

    def __init__(
        self,
        bot: Suishoubao,
        *,
        timeout_s: float = HEALTH_TIMEOUT_S,
        telegram_ttl_s: float = TELEGRAM_HEALTH_TTL_S,
    ) -> None:
        self.bot = bot
        self.timeout_s = timeout_s
        self.telegram_ttl_s = telegram_ttl_s
        self._telegram: tuple[float, bool] | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> dict[str, bool]:
        database, telegram = await asyncio.gather(self.database(), self.telegram())
        return {"database": database, "telegram": telegram}

    async def database(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout_s), self.bot.store.tx() as tx:
                await tx.conn.execute(sa.text("SELECT 1"))
        except Exception as exc:
            log.warning("healthz: the database does not answer (%s)", type(exc).__name__)
            return False
        return True

    async def telegram(self) -> bool:
        async with self._lock:
            now = time.monotonic()
            if self._telegram is not None and now - self._telegram[0] < self.telegram_ttl_s:
                return self._telegram[1]
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self.bot.application.bot.get_me()
                ok = True
            except Exception as exc:
                log.warning("healthz: the Bot API does not answer (%s)", type(exc).__name__)
                ok = False
            self._telegram = (time.monotonic(), ok)
            return ok


def metrics_of(bot: Suishoubao) -> Metrics:
    """The bot's Metrics, which bot/app.py also gave the Bot API requests to count calls."""
    return bot.metrics


def listen(host: str, port: int) -> socket.socket:
    """Bind WEBHOOK_LISTEN before anything else, so a taken port fails start-up at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"WEBHOOK_LISTEN {host}:{port} cannot be used: {reason}.") from None


async def serve_webhook(
    bot: Suishoubao, settings: Settings, *, stop: asyncio.Event | None = None
) -> None:
    """Run the bot in webhook mode until SIGTERM/SIGINT (or until `stop` is set).

    Start: bind the port, initialise the Application, open the bot (schema, delivery worker),
    set the commands, start the Application, then setWebhook with the secret and every update
    type. Stop: the server stops taking updates, the Application handles those it has queued
    and stops, the bot closes, the Application shuts down.
    """
    if settings.webhook_url is None or settings.webhook_secret is None:
        raise ValueError("serve_webhook() needs settings.webhook_url and settings.webhook_secret")
    application = bot.application
    stop = stop if stop is not None else asyncio.Event()
    metrics = metrics_of(bot)
    metrics.install(application)
    metrics.watch_store(bot.store)
    path = webhook_path(settings.webhook_url)
    host, port = settings.webhook_listen
    updates = Inbox(application, bot.store, bot.delivery.clock, holder=settings.worker_name)
    app = build_web_app(
        application=application,
        accept=updates.receive,
        path=path,
        secret=settings.webhook_secret,
        health=Health(bot),
        registry=metrics.registry,
        before_metrics=metrics.refresh,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # our logging (bot/logs.py) formats and redacts uvicorn's lines
            access_log=False,  # one line per update is noise, and the path may be private
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )
    sock = listen(host, port)
    restore = _on_signals(asyncio.get_running_loop(), stop)
    try:
        await application.initialize()
        try:
            await bot.open()
            try:
                await bot.set_commands()
                await application.start()
                try:
                    await updates.start()
                    try:
                        await application.bot.set_webhook(
                            url=settings.webhook_url,
                            secret_token=settings.webhook_secret,
                            allowed_updates=Update.ALL_TYPES,
                            max_connections=MAX_CONNECTIONS,
                        )
                        log.info("webhook: listening on %s:%s for updates at %s", host, port, path)
                        await _serve(server, sock, stop)
                    finally:
                        await updates.stop()
                finally:
                    await application.stop()
            finally:
                await bot.close()
        finally:
            await application.shutdown()
    finally:
        sock.close()
        restore()
    log.info("webhook: stopped")


async def _serve(server: uvicorn.Server, sock: socket.socket, stop: asyncio.Event) -> None:
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="webhook-server")
    stopping = asyncio.create_task(stop.wait(), name="webhook-stop")
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        await serving


def _on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set `stop`. uvicorn catches them itself while it serves and raises
    them again when it is done; they then land here, so the shutdown above still runs."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
