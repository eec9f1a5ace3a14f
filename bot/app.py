"""The one place that assembles everything: settings, storage, the desk, handlers, delivery."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Opt in to PTB 23's behaviour now: RetryAfter.retry_after as a timedelta (silences a warning).
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from telegram import Update as TelegramUpdate
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import callbacks
from bot.categories import load_categories
from bot.core import Core
from bot.delivery import Delivery
from bot.desk import ReportDesk
from bot.geo import Router, load_communities
from bot.i18n import Texts
from bot.observability import InstrumentedRequest, Metrics
from bot.settings import Settings
from bot.staffdesk import StaffDesk
from bot.supervision import Supervision
from bot.workflow import Workflow
from handlers.group import GroupHandlers
from handlers.ordering import PerChatOrder
from handlers.ratelimit import FloodLimiter
from handlers.rider import RiderHandlers
from handlers.staff import Membership, StaffHandlers
from handlers.supervisor import SupervisorHandlers, minute
from handlers.transport import TelegramTransport
from storage.db import make_engine, migrate
from storage.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


# Bot API connections at once. A request built by hand gets one, and then every chat's sends
# queue for it; Telegram's ~30 messages a second need far fewer than PTB builder's 256, each of
# which keeps its buffers. A send waits up to POOL_WAIT_S for a free one.
CONNECTIONS = 32
POOL_WAIT_S = 15.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Suishoubao:
    """Everything the running bot is made of, so a test can reach any part of it."""

    settings: Settings
    application: Application  # type: ignore[type-arg]
    store: Store
    desk: ReportDesk
    delivery: Delivery
    texts: Texts
    supervision: Supervision
    metrics: Metrics = field(default_factory=Metrics)
    _delivery_task: asyncio.Task[None] | None = field(default=None, init=False)

    async def open(self) -> None:
        """Services that need the event loop: the schema, the links, the delivery worker."""
        await migrate(self.store.engine)
        await self.desk.seed_links(self.desk.router.areas)
        self._delivery_task = asyncio.create_task(self.delivery.run(), name="delivery")

    async def close(self) -> None:
        self.delivery.stop()
        if self._delivery_task is not None:
            await self._delivery_task
            self._delivery_task = None
        await self.store.close()

    async def start_polling(self, poll_timeout: int = 10) -> None:
        """Run against Telegram in the background (tests and the demo); stop() ends it."""
        await self.application.initialize()
        await self.open()
        await self.set_commands()
        await self.application.start()
        assert self.application.updater is not None
        await self.application.updater.start_polling(
            timeout=poll_timeout, allowed_updates=TelegramUpdate.ALL_TYPES
        )

    async def stop(self) -> None:
        assert self.application.updater is not None
        if self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.close()
        await self.application.shutdown()

    def run_polling(self) -> None:
        """The production loop: PTB owns the event loop and calls our hooks around it."""
        self.application.run_polling(allowed_updates=TelegramUpdate.ALL_TYPES)

    async def set_commands(self) -> None:
        lang = self.settings.default_language
        describe = self.texts.catalogues[lang]
        await self.application.bot.set_my_commands(
            [
                BotCommand("start", describe["cmd_start"]),
                BotCommand("my", describe["cmd_my"]),
                BotCommand("cancel", describe["cmd_cancel"]),
                BotCommand("lang", describe["cmd_lang"]),
            ],
            scope=BotCommandScopeAllPrivateChats(),
        )
        await self.application.bot.set_my_commands(
            [
                BotCommand("queue", describe["cmd_queue"]),
                BotCommand("report", describe["cmd_report"]),
                BotCommand("link", describe["cmd_link"]),
            ],
            scope=BotCommandScopeAllGroupChats(),
        )
        for chat_id in self.settings.supervisor_chat_ids:
            try:
                await self.application.bot.set_my_commands(
                    [
                        BotCommand("digest", describe["cmd_digest"]),
                        BotCommand("stats", describe["cmd_stats"]),
                        BotCommand("export", describe["cmd_export"]),
                        BotCommand("unrouted", describe["cmd_unrouted"]),
                    ],
                    scope=BotCommandScopeChat(chat_id),
                )
            except TelegramError as exc:
                # A chat the bot is not in yet: the commands still work there once it is.
                log.warning("SUPERVISOR_CHAT_IDS: cannot reach chat %s (%s)", chat_id, exc)


def assemble(
    settings: Settings, *, clock: Clock = utcnow, limiter: FloodLimiter | None = None
) -> Suishoubao:
    """Build the bot; configuration files are read here, so their errors stop start-up.

    limiter: Telegram's flood limits by default; tests that do not measure pacing pass a
    quicker one (the local Telegram enforces limits only when asked to).
    """
    if settings.bot_token is None:
        raise ValueError("assemble() needs settings.bot_token")
    areas = load_communities(settings.communities_file, default_language=settings.default_language)
    categories = load_categories(settings.categories_file)
    router = Router(areas, tolerance_m=settings.routing_tolerance_m)
    texts = Texts.load()
    store = Store(make_engine(settings.database_url))

    holder: dict[str, Suishoubao] = {}
    metrics = Metrics()

    async def post_init(_: Application) -> None:  # type: ignore[type-arg]
        await holder["bot"].open()
        await holder["bot"].set_commands()

    async def post_shutdown(_: Application) -> None:  # type: ignore[type-arg]
        await holder["bot"].close()

    application = (
        Application.builder()
        .token(settings.bot_token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .rate_limiter(limiter or FloodLimiter())
        .concurrent_updates(PerChatOrder())
        .request(
            InstrumentedRequest(metrics, connection_pool_size=CONNECTIONS, pool_timeout=POOL_WAIT_S)
        )
        .get_updates_request(InstrumentedRequest(metrics, connection_pool_size=1))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    transport = TelegramTransport(application.bot)
    delivery = Delivery(
        store=store,
        transport=transport,
        router=router,
        categories=categories,
        texts=texts,
        settings=settings,
        clock=clock,
        holder=settings.worker_name,
    )
    core = Core(store, router, categories, texts, settings, clock, notify=delivery.wake)
    workflow = Workflow(core)
    desk = ReportDesk(core, workflow)
    staff_desk = StaffDesk(core, workflow, is_member=Membership(application.bot))
    supervision = Supervision(core, workflow)
    delivery.on_chat_gone = desk.bot_left
    register(
        application,
        RiderHandlers(desk),
        GroupHandlers(desk),
        StaffHandlers(staff_desk),
        SupervisorHandlers(supervision),
        texts,
        settings,
    )
    assert application.job_queue is not None
    # Deadlines and digests are checked every minute (and once right after start, so a digest
    # missed while the bot was down goes out at once); what was sent is recorded, not remembered.
    application.job_queue.run_repeating(minute, interval=60, first=1, data=supervision)
    bot = Suishoubao(settings, application, store, desk, delivery, texts, supervision, metrics)
    holder["bot"] = bot
    return bot


def press_router(
    rider: RiderHandlers, staff: StaffHandlers, supervisor: SupervisorHandlers
) -> Callable[[TelegramUpdate, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    async def route(update: TelegramUpdate, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is not None and isinstance(callbacks.decode(query.data), callbacks.Dispatch):
            await supervisor.press(update, context)
        elif (
            query is not None and query.message is not None and query.message.chat.type != "private"
        ):
            await staff.press(update, context)
        else:
            await rider.press(update, context)

    return route


def register(
    application: Application,  # type: ignore[type-arg]
    rider: RiderHandlers,
    group: GroupHandlers,
    staff: StaffHandlers,
    supervisor: SupervisorHandlers,
    texts: Texts,
    settings: Settings,
) -> None:
    """The handler table. Order matters within a group: the first match wins."""
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    # Live locations send their later points as edited messages; only new messages file anything.
    new = filters.UpdateType.MESSAGE
    application.add_handlers(
        [
            CommandHandler("start", rider.start, private),
            CommandHandler("help", rider.help, private),
            CommandHandler("cancel", rider.cancel, private),
            CommandHandler("my", rider.my, private),
            CommandHandler("queue", staff.queue, groups),
            CommandHandler("report", staff.report, groups),
            CommandHandler("lang", rider.lang, private),
            CommandHandler("link", group.link, groups),
            CommandHandler("digest", supervisor.digest),
            CommandHandler("stats", supervisor.stats),
            CommandHandler("export", supervisor.export),
            CommandHandler("unrouted", supervisor.unrouted),
            CommandHandler("link", group.link_in_private, private),
            MessageHandler(filters.StatusUpdate.MIGRATE, group.migrated),
            # With privacy mode on, these are the only group messages the bot receives.
            MessageHandler(
                groups & new & filters.REPLY & (filters.PHOTO | (filters.TEXT & ~filters.COMMAND)),
                staff.reply,
            ),
            MessageHandler(private & new & filters.PHOTO, rider.photo),
            MessageHandler(private & new & filters.Document.ALL, rider.document),
            MessageHandler(private & new & (filters.LOCATION | filters.VENUE), rider.location),
            MessageHandler(private & new & filters.TEXT & ~filters.COMMAND, rider.text),
            # Must stay last among private messages: everything else gets a hint.
            MessageHandler(private & new, rider.other),
            # Buttons in private chats belong to riders; in groups, to staff.
            CallbackQueryHandler(press_router(rider, staff, supervisor)),
            ChatMemberHandler(group.membership, ChatMemberHandler.MY_CHAT_MEMBER),
        ]
    )

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("update failed", exc_info=context.error)
        chat = update.effective_chat if isinstance(update, TelegramUpdate) else None
        if chat is not None and chat.type == "private":
            try:
                await chat.send_message(
                    texts(settings.default_language, "error_generic"), parse_mode=ParseMode.HTML
                )
            except Exception:
                log.exception("could not tell the rider about the error")

    application.add_error_handler(on_error)
