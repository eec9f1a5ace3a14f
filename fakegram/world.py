"""Everything the local Telegram knows: people, chats, messages, bots, their update queues."""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from fakegram.limits import Faults, RateLimiter
from fakegram.media import FileStore

JSON = dict[str, Any]

BOT_FIRST_NAME = "随手报"
BOT_USERNAME = "suishoubao_bot"
FIRST_USER_ID = 1000001
FIRST_SUPERGROUP_ID = -1001000000001
FIRST_GROUP_ID = -4000001

# Telegram's default when a bot never said which updates it wants.
DEFAULT_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
ACTIVE_STATUSES = ("creator", "administrator", "member", "restricted")
# Message keys that make up its content (what copy/forward carry over).
CONTENT_KEYS = (
    "text",
    "entities",
    "link_preview_options",
    "photo",
    "document",
    "sticker",
    "voice",
    "caption",
    "caption_entities",
    "show_caption_above_media",
    "location",
    "venue",
    "contact",
)


def now() -> int:
    return int(time.time())


class Signal:
    """Wakes every waiter when something changed; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> bool:
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            return False
        return True


@dataclass
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    started: set[int] = field(default_factory=set)  # bot ids this user has talked to
    started_all: bool = False  # as if this user had pressed Start with every bot
    blocked: set[int] = field(default_factory=set)  # bot ids this user has blocked

    def json(self) -> JSON:
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value:
                user[key] = value
        return user


@dataclass
class StoredMessage:
    message: JSON
    bot_id: int | None  # the bot that sent it, None for people and service messages
    edits: int = 0
    deleted: bool = False
    history: list[JSON] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.message["message_id"])

    def snapshot(self) -> JSON:
        """The message as Telegram nests it elsewhere (one level of reply only)."""
        nested = copy.deepcopy(self.message)
        nested.pop("reply_to_message", None)
        return nested

    def view(self) -> JSON:
        return copy.deepcopy(self.message) | {
            "from_bot": self.bot_id is not None,
            "edits": self.edits,
            "deleted": self.deleted,
            "history": copy.deepcopy(self.history),
        }

    def edit(self, changes: JSON, removed: tuple[str, ...] = ()) -> None:
        self.history.append(copy.deepcopy(self.message))
        for key in removed:
            self.message.pop(key, None)
        self.message.update(changes)
        self.message["edit_date"] = now()
        self.edits += 1


@dataclass
class Chat:
    id: int
    type: str  # private, group, supergroup
    title: str | None = None
    username: str | None = None
    user: User | None = None  # the other side of a private chat
    members: dict[int, str] = field(default_factory=dict)  # user or bot id -> status
    migrated_to: int | None = None
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    keyboard: JSON | None = None  # the reply keyboard people currently see
    menu_button: JSON | None = None

    def json(self) -> JSON:
        if self.user is not None:
            chat = {"id": self.id, "type": "private", "first_name": self.user.first_name}
            if self.user.last_name:
                chat["last_name"] = self.user.last_name
            if self.user.username:
                chat["username"] = self.user.username
            return chat
        chat = {"id": self.id, "type": self.type, "title": self.title or ""}
        if self.username:
            chat["username"] = self.username
        return chat

    def status_of(self, member_id: int) -> str:
        if self.user is not None:
            return "member"
        return self.members.get(member_id, "left")

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None
    task: asyncio.Task[None] | None = None

    def info(self) -> JSON:
        info: JSON = {"url": self.url, "max_connections": self.max_connections}
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message or ""
        return info


@dataclass
class Bot:
    token: str
    id: int
    updates: list[JSON] = field(default_factory=list)
    allowed_updates: frozenset[str] = DEFAULT_UPDATES
    webhook: Webhook | None = None
    signal: Signal = field(default_factory=Signal)
    poll_generation: int = 0
    commands: dict[tuple[str, str], list[JSON]] = field(default_factory=dict)
    texts: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, lang) -> text
    default_menu_button: JSON | None = None

    def user_json(self) -> JSON:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }


@dataclass
class CallbackRecord:
    id: str
    bot_id: int
    chat_id: int
    message_id: int
    answered: bool = False
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    signal: Signal = field(default_factory=Signal)

    def json(self) -> JSON:
        return {
            "answered": self.answered,
            "text": self.text,
            "show_alert": self.show_alert,
            "url": self.url,
        }


@dataclass
class Stats:
    calls: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    by_chat: dict[int, int] = field(default_factory=dict)

    def count(self, table: dict[Any, int], key: Any, n: int = 1) -> None:
        table[key] = table.get(key, 0) + n


class World:
    def __init__(self, rate_limits: bool = False) -> None:
        self._rate_limits_default = rate_limits
        self.limiter = RateLimiter(enabled=rate_limits)
        self.faults = Faults()
        self.events_signal = Signal()
        # Event numbers survive a reset, so a `since` taken before it stays meaningful.
        self._event_seq = itertools.count(1)
        self.last_seq = 0
        # Update ids too: a bot that keeps polling across a reset keeps a valid offset.
        self._next_update_id: dict[str, int] = {}
        self.closing = False
        self.reset()

    def close(self) -> None:
        """The server is stopping: every long poll answers now instead of at its timeout."""
        self.closing = True
        for bot in self.bots.values():
            bot.signal.notify()
        for record in self.callbacks.values():
            record.signal.notify()
        self.events_signal.notify()

    def reset(self) -> None:
        for bot in getattr(self, "bots", {}).values():
            if bot.webhook is not None and bot.webhook.task is not None:
                bot.webhook.task.cancel()
            bot.signal.notify()  # its pending getUpdates ends (empty) and finds the new world
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.bots: dict[str, Bot] = {}
        self.files = FileStore()
        self.callbacks: dict[str, CallbackRecord] = {}
        self.events: list[JSON] = []
        self.stats = Stats()
        self.faults.clear()
        self.limiter.enabled = self._rate_limits_default
        self.limiter.clear()
        self._user_ids = itertools.count(FIRST_USER_ID)
        self._supergroup_ids = itertools.count(FIRST_SUPERGROUP_ID, -1)
        self._group_ids = itertools.count(FIRST_GROUP_ID, -1)
        self._callback_ids = itertools.count(4_700_000_000_000_000_001, 7919)
        self._media_group_ids = itertools.count(13_900_000_000_000_001)
        self.events_signal.notify()

    # ---- bots ---------------------------------------------------------------------------

    def bot(self, token: str) -> Bot:
        bot = self.bots.get(token)
        if bot is None:
            bot = self.bots[token] = Bot(token, int(token.split(":", 1)[0]))
        return bot

    def bot_by_id(self, bot_id: int) -> Bot | None:
        return next((b for b in self.bots.values() if b.id == bot_id), None)

    def queue_update(self, bot: Bot, kind: str, payload: JSON) -> int | None:
        if kind not in bot.allowed_updates:
            return None
        update_id = self._next_update_id.get(bot.token, 1)
        self._next_update_id[bot.token] = update_id + 1
        bot.updates.append({"update_id": update_id, kind: copy.deepcopy(payload)})
        bot.signal.notify()
        return update_id

    # ---- people and chats ---------------------------------------------------------------

    def add_user(self, user_id: int | None, first_name: str, **extra: Any) -> User:
        if user_id is None:
            user_id = next(self._user_ids)
            while user_id in self.users:
                user_id = next(self._user_ids)
        user = User(user_id, first_name, **extra)
        previous = self.users.get(user_id)
        if previous is not None:  # re-registering a person keeps who they have talked to
            user.started |= previous.started
            user.blocked |= previous.blocked
        self.users[user_id] = user
        old = self.chats.get(user_id)
        chat = Chat(user_id, "private", user=user)
        if old is not None:  # re-registering a person keeps their conversation
            chat.messages, chat.next_message_id = old.messages, old.next_message_id
        self.chats[user_id] = chat
        return user

    def new_group_id(self, kind: str) -> int:
        return next(self._supergroup_ids if kind == "supergroup" else self._group_ids)

    def chat(self, ref: int | str) -> Chat | None:
        if isinstance(ref, int):
            return self.chats.get(ref)
        if ref.startswith("@"):
            name = ref[1:].lower()
            return next(
                (
                    c
                    for c in self.chats.values()
                    if c.user is None and c.username and c.username.lower() == name
                ),
                None,
            )
        return None

    def member_json(self, member_id: int) -> JSON:
        user = self.users.get(member_id)
        if user is not None:
            return user.json()
        bot = self.bot_by_id(member_id)
        if bot is not None:
            return bot.user_json()
        return {"id": member_id, "is_bot": False, "first_name": f"User {member_id}"}

    def new_callback_id(self) -> str:
        return str(next(self._callback_ids))

    def new_media_group_id(self) -> str:
        return str(next(self._media_group_ids))

    # ---- messages -----------------------------------------------------------------------

    def add_message(
        self,
        chat: Chat,
        sender: JSON | None,
        content: JSON,
        *,
        bot_id: int | None = None,
        reply_to: StoredMessage | None = None,
    ) -> StoredMessage:
        message: JSON = {"message_id": chat.take_message_id()}
        if sender is not None:
            message["from"] = sender
        message |= {"chat": chat.json(), "date": now()}
        if reply_to is not None:
            message["reply_to_message"] = reply_to.snapshot()
        message |= content
        stored = StoredMessage(message, bot_id)
        chat.messages[stored.id] = stored
        return stored

    # ---- the test's eyes ----------------------------------------------------------------

    def event(
        self,
        kind: str,
        *,
        chat_id: int | None,
        message_id: int | None,
        method: str,
        message: JSON | None = None,
        **extra: Any,
    ) -> None:
        event: JSON = {
            "seq": (seq := next(self._event_seq)),
            "kind": kind,
            "chat_id": chat_id,
            "message_id": message_id,
            "method": method,
            "time": time.time(),  # when it took effect, for tests that line it up with a crash
        }
        if message is not None:
            event["message"] = copy.deepcopy(message)
        event |= extra
        self.events.append(event)
        self.last_seq = seq
        self.events_signal.notify()

    def stats_json(self) -> JSON:
        return {
            "calls": dict(self.stats.calls),
            "errors": dict(self.stats.errors),
            "rate_limited": self.stats.rate_limited,
            "faults_triggered": self.faults.triggered,
            "by_chat": {str(k): v for k, v in self.stats.by_chat.items()},
            "pending_updates": {t: len(b.updates) for t, b in self.bots.items()},
        }
