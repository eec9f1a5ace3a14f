"""Prometheus metrics of the running bot, served at /metrics in webhook mode (bot/web.py).

Counted as they happen: updates by type, Bot API calls and errors by method (InstrumentedRequest),
handler latency. Read from the database at each scrape, so they hold across restarts and need
no hooks in the core: reports by category and state, reports filed by category, report
transitions by action (the event log), and the delivery backlog per chat (the outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# This module is Telegram glue, like bot/app.py: it wraps PTB's request and handlers.
from telegram import Update
from telegram.error import NetworkError, TimedOut
from telegram.ext import Application, TypeHandler

from bot.http import AiohttpRequest
from bot.logs import bind
from storage.store import OutboxState, Store
from storage.tables import events, outbox, reports

log = logging.getLogger(__name__)

NAMESPACE = "suishoubao"
STORE_TIMEOUT_S = 5.0
_METHOD = re.compile(r"[A-Za-z]{1,64}")

Callback = Callable[[Any, Any], Coroutine[Any, Any, Any]]


@dataclass
class StoreSnapshot:
    """What the database says at a scrape."""

    reports: dict[tuple[str, str], int] = field(default_factory=dict)  # (category, state) -> n
    filed: dict[str, int] = field(default_factory=dict)  # category -> reports ever filed
    transitions: dict[str, int] = field(default_factory=dict)  # action -> events
    backlog: dict[int, int] = field(default_factory=dict)  # chat -> messages still to send
    waiting: int = 0  # messages waiting for a community's group to be linked


async def read_store(store: Store) -> StoreSnapshot:
    """A few GROUP BY counts; cheap at a town's scale, read-only."""
    snapshot = StoreSnapshot()
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(reports.c.category, reports.c.status, sa.func.count()).group_by(
                reports.c.category, reports.c.status
            )
        )
        for category, state, count in rows:
            snapshot.reports[(category, state)] = count
            snapshot.filed[category] = snapshot.filed.get(category, 0) + count
        rows = await conn.execute(
            sa.select(events.c.action, sa.func.count()).group_by(events.c.action)
        )
        snapshot.transitions = {action: count for action, count in rows}
        rows = await conn.execute(
            sa.select(outbox.c.chat_id, sa.func.count())
            .where(outbox.c.state == OutboxState.PENDING, outbox.c.chat_id.is_not(None))
            .group_by(outbox.c.chat_id)
        )
        snapshot.backlog = {int(chat): count for chat, count in rows}
        waiting = await conn.execute(
            sa.select(sa.func.count()).where(outbox.c.state == OutboxState.WAITING)
        )
        snapshot.waiting = int(waiting.scalar_one())
    return snapshot


class _StoreCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        snapshot = self.metrics.snapshot
        if snapshot is None:
            return
        reports_now = GaugeMetricFamily(
            f"{NAMESPACE}_reports",
            "Reports by category and current state.",
            labels=["category", "state"],
        )
        for (category, state), count in sorted(snapshot.reports.items()):
            reports_now.add_metric([category, state], count)
        filed = CounterMetricFamily(
            f"{NAMESPACE}_reports_filed", "Reports filed, by category.", labels=["category"]
        )
        for category, count in sorted(snapshot.filed.items()):
            filed.add_metric([category], count)
        transitions = CounterMetricFamily(
            f"{NAMESPACE}_report_transitions",
            "Report state changes (the event log), by action.",
            labels=["action"],
        )
        for action, count in sorted(snapshot.transitions.items()):
            transitions.add_metric([action], count)
        backlog = GaugeMetricFamily(
            f"{NAMESPACE}_delivery_backlog",
            "Messages queued for a chat and not yet sent.",
            labels=["chat"],
        )
        for chat, count in sorted(snapshot.backlog.items()):
            backlog.add_metric([str(chat)], count)
        waiting = GaugeMetricFamily(
            f"{NAMESPACE}_delivery_waiting",
            "Messages waiting for their community's staff group to be linked.",
            value=snapshot.waiting,
        )
        yield from (reports_now, filed, transitions, backlog, waiting)


class Metrics:
    """The bot's metrics, in a registry of their own (so tests can build several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.updates = Counter(
            "updates",
            "Updates received from Telegram, by type.",
            ["type"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.api_calls = Counter(
            "bot_api_calls",
            "Bot API requests made, by method (file downloads are 'file').",
            ["method"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.api_errors = Counter(
            "bot_api_errors",
            "Bot API requests that failed, by method and HTTP status (or timeout, network).",
            ["method", "code"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "handler_seconds",
            "Time to handle one update, by handler.",
            ["handler"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.store: Store | None = None
        self.snapshot: StoreSnapshot | None = None
        self.registry.register(_StoreCollector(self))

    # ---- the database's figures, read at each scrape ----------------------------------

    def watch_store(self, store: Store) -> None:
        self.store = store

    async def refresh(self) -> None:
        """Read the database's figures; without an answer they are left out of the scrape."""
        if self.store is None:
            return
        try:
            async with asyncio.timeout(STORE_TIMEOUT_S):
                self.snapshot = await read_store(self.store)
        except Exception as exc:
            log.warning("metrics: could not read the database (%s)", type(exc).__name__)
            self.snapshot = None

    # ---- updates and handlers -----------------------------------------------------------

    def count_update(self, update: Update) -> None:
        self.updates.labels(update_type(update)).inc()

    async def on_update(self, update: Update, context: Any) -> None:
        """TypeHandler(Update) callback for group -1: count the update, and tag every log line
        of its handling with its chat."""
        self.count_update(update)
        chat = update.effective_chat
        bind(chat=chat.id if chat is not None else None)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time a block into handler_seconds{handler=name}, whether it succeeds or fails."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.handler_seconds.labels(name).observe(time.perf_counter() - started)

    def wrap(self, name: str, callback: Callback) -> Callback:
        """A handler callback timed into handler_seconds{handler=name}."""

        @functools.wraps(callback)
        async def timed_callback(update: Any, context: Any) -> Any:
            with self.timed(name):
                return await callback(update, context)

        timed_callback.__dict__["_suishoubao_timed"] = True
        return timed_callback

    def install(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Count updates (a TypeHandler in group -1) and time every registered handler.

        Call it once every handler is registered; calling it again changes nothing.
        """
        for handlers in application.handlers.values():
            for handler in handlers:
                if getattr(handler.callback, "_suishoubao_timed", False):
                    continue
                if handler.callback == self.on_update:
                    continue
                handler.callback = self.wrap(handler_name(handler.callback), handler.callback)
        if not any(h.callback == self.on_update for h in application.handlers.get(-1, [])):
            application.add_handler(TypeHandler(Update, self.on_update), group=-1)


def update_type(update: Update) -> str:
    for kind in Update.ALL_TYPES:
        if getattr(update, kind, None) is not None:
            return str(kind)
    return "other"


def handler_name(callback: Callable[..., Any]) -> str:
    """`RiderHandlers.photo`, `press_router.route`: stable, few, and free of any data."""
    name = getattr(callback, "__qualname__", None) or type(callback).__qualname__
    return str(name).replace(".<locals>", "")


@functools.lru_cache(maxsize=256)  # a handful of methods, each URL seen many times
def api_method(url: str) -> str:
    """The Bot API method a request URL calls, never any part of the token.

    `{root}/bot<token>/sendMessage` is sendMessage; `{root}/file/bot<token>/<path>` is a file
    download, "file"; anything else is "other".
    """
    parts = [part for part in urlsplit(url).path.split("/") if part]
    if len(parts) >= 2 and parts[-2].startswith("bot") and _METHOD.fullmatch(parts[-1]):
        return parts[-1]
    return "file" if "file" in parts[:-1] else "other"


class InstrumentedRequest(AiohttpRequest):
    """The Bot API transport (bot/http.py), counting calls by method and failures by status.

    It never logs or labels anything with the URL: the URL holds the bot token.
    """

    __slots__ = ("_metrics",)

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        name = api_method(url)
        self._metrics.api_calls.labels(name).inc()
        try:
            code, payload = await super().do_request(url, method, *args, **kwargs)
        except TimedOut:
            self._metrics.api_errors.labels(name, "timeout").inc()
            raise
        except NetworkError:
            self._metrics.api_errors.labels(name, "network").inc()
            raise
        if not 200 <= code < 300:
            self._metrics.api_errors.labels(name, str(code)).inc()
        return code, payload
