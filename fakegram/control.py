"""The control API under /control/: the simulated people, and the test's eyes."""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import io
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from PIL import Image

from fakegram.botapi import BotApi
from fakegram.errors import ApiError
from fakegram.limits import FAULT_KINDS, Fault
from fakegram.world import ACTIVE_STATUSES, JSON, Bot, CallbackRecord, Chat, StoredMessage, User

TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]{20,80}$")
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
TELEGRAM_SERVICE = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?")


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


Route = Callable[[web.Request], Awaitable[Any]]


def _json_route(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return web.json_response(await route(request))
        except ControlError as error:
            return web.json_response({"ok": False, "error": error.message}, status=error.status)
        except ApiError as error:
            return web.json_response({"ok": False, "error": error.description}, status=400)
        except KeyError as error:
            return web.json_response({"ok": False, "error": f"missing field {error}"}, status=400)
        except (TypeError, ValueError) as error:
            return web.json_response({"ok": False, "error": str(error)}, status=400)

    return handler


async def _body(request: web.Request) -> JSON:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ControlError("the body must be JSON") from None
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


def _b64(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ControlError(f"{name} is not valid base64") from None


class Control:
    def __init__(self, api: BotApi) -> None:
        self.api = api
        self.world = api.world
        self._sticker_file: str | None = None

    def register(self, router: web.UrlDispatcher) -> None:
        routes: list[tuple[str, str, Route]] = [
            ("POST", "/control/reset", self.reset),
            ("POST", "/control/users", self.add_user),
            ("POST", "/control/users/{user_id}/block", self.block),
            ("POST", "/control/groups", self.add_group),
            ("POST", "/control/groups/{chat_id}/members", self.set_member),
            ("POST", "/control/groups/{chat_id}/migrate", self.migrate),
            ("POST", "/control/groups/{chat_id}/remove_bot", self.remove_bot),
            ("POST", "/control/send", self.send),
            ("POST", "/control/edit_location", self.edit_location),
            ("POST", "/control/press", self.press),
            ("GET", "/control/callback_answer/{callback_query_id}", self.callback_answer),
            ("GET", "/control/chats/{chat_id}/messages", self.messages),
            ("GET", "/control/chats/{chat_id}/keyboard", self.keyboard),
            ("GET", "/control/events", self.events),
            ("GET", "/control/stats", self.stats),
            ("GET", "/control/faults", self.list_faults),
            ("POST", "/control/faults", self.add_fault),
            ("DELETE", "/control/faults", self.clear_faults),
            ("POST", "/control/rate_limits", self.rate_limits),
            ("POST", "/control/files", self.add_file),
        ]
        for method, path, route in routes:
            router.add_route(method, path, _json_route(route))

    # ---- lookups ------------------------------------------------------------------------

    def _bot(self, body: JSON) -> Bot:
        token = body.get("bot_token")
        if not isinstance(token, str) or not TOKEN.match(token):
            raise ControlError("bot_token must look like <digits>:<secret>")
        return self.world.bot(token)

    def _user(self, user_id: Any) -> User:
        user = self.world.users.get(int(user_id))
        if user is None:
            raise ControlError(f"no user {user_id}; create it with POST /control/users", 404)
        return user

    def _chat(self, chat_id: Any) -> Chat:
        chat = self.world.chats.get(int(chat_id))
        if chat is None:
            raise ControlError(f"no chat {chat_id}", 404)
        return chat

    def _group(self, chat_id: Any) -> Chat:
        chat = self._chat(chat_id)
        if chat.user is not None:
            raise ControlError(f"chat {chat_id} is a private chat, not a group")
        return chat

    def _chat_of(self, user: User, chat_id: Any, *, viewer: bool = False) -> Chat:
        """The chat a person writes in: their private chat with the bot, or a group of theirs.

        A viewer (pressing a button) may also be anyone at all in a public group (one with a
        username), which Telegram lets people read and tap without joining.
        """
        if chat_id is None or int(chat_id) == user.id:
            return self.world.chats[user.id]
        chat = self._chat(chat_id)
        if chat.user is not None:
            raise ControlError(f"user {user.id} can't write in the private chat of {chat.id}")
        if chat.migrated_to is not None:
            raise ControlError(f"chat {chat.id} was migrated to {chat.migrated_to}")
        public = viewer and getattr(chat, "username", None) is not None
        if chat.status_of(user.id) not in ACTIVE_STATUSES and not public:
            raise ControlError(f"user {user.id} is not a member of chat {chat.id}")
        return chat

    def _actor(self, chat: Chat, by_user_id: Any = None) -> JSON:
        if by_user_id is not None:
            return self._user(by_user_id).json()
        for wanted in ("creator", "administrator", "member"):
            for member_id, status in chat.members.items():
                if status == wanted and member_id in self.world.users:
                    return self.world.users[member_id].json()
        return dict(TELEGRAM_SERVICE)

    def _bots_in(self, chat: Chat) -> list[Bot]:
        return [b for b in self.world.bots.values() if chat.status_of(b.id) in ACTIVE_STATUSES]

    # ---- setup --------------------------------------------------------------------------

    async def reset(self, request: web.Request) -> Any:
        self.world.reset()
        self._sticker_file = None
        return {"ok": True}

    async def add_user(self, request: web.Request) -> Any:
        body = await _body(request)
        if not body.get("first_name"):
            raise ControlError("first_name is required")
        user = self.world.add_user(
            int(body["id"]) if body.get("id") is not None else None,
            str(body["first_name"]),
            last_name=body.get("last_name"),
            username=body.get("username"),
            language_code=body.get("language_code"),
            started_all=bool(body.get("started", False)),
        )
        return user.json()

    async def block(self, request: web.Request) -> Any:
        body = await _body(request)
        user = self._user(request.match_info["user_id"])
        bot = self._bot(body)
        blocked = bool(body.get("blocked", True))
        was = bot.id in user.blocked
        if blocked:
            user.blocked.add(bot.id)
        else:
            user.blocked.discard(bot.id)
        if was != blocked:
            self.api.member_update(
                bot,
                self.world.chats[user.id],
                user.json(),
                "kicked" if was else "member",
                "kicked" if blocked else "member",
            )
        return {"ok": True, "blocked": blocked}

    async def add_group(self, request: web.Request) -> Any:
        body = await _body(request)
        kind = body.get("type", "supergroup")
        if kind not in ("group", "supergroup"):
            raise ControlError('type must be "group" or "supergroup"')
        chat = Chat(
            self.world.new_group_id(kind),
            kind,
            title=str(body.get("title") or "Group"),
            username=body.get("username"),
        )
        for member in body.get("members", []):
            user = self._user(member["user_id"])
            chat.members[user.id] = _status(member.get("status", "member"))
        self.world.chats[chat.id] = chat
        if body.get("bot_token") is not None:
            bot = self._bot(body)
            status = _status(body.get("bot_status", "administrator"))
            chat.members[bot.id] = status
            self.api.member_update(bot, chat, self._actor(chat), "left", status)
        return chat.json()

    async def set_member(self, request: web.Request) -> Any:
        body = await _body(request)
        chat = self._group(request.match_info["chat_id"])
        member_id = int(body["user_id"])
        status = _status(body["status"])
        bot = self.world.bot_by_id(member_id)
        if bot is None:
            self._user(member_id)
        old = chat.status_of(member_id)
        chat.members[member_id] = status
        actor = self._actor(chat, body.get("by_user_id"))
        if bot is not None:
            self.api.member_update(bot, chat, actor, old, status)
        else:
            for admin_bot in self._bots_in(chat):
                if chat.status_of(admin_bot.id) == "administrator":
                    self.api.member_update(admin_bot, chat, actor, old, status, member_id)
        return self.api.chat_member(status, self.world.member_json(member_id))

    async def migrate(self, request: web.Request) -> Any:
        body = await _body(request)
        old = self._group(request.match_info["chat_id"])
        if body.get("bot_token") is not None:
            self._bot(body)
        if old.type != "group" or old.migrated_to is not None:
            raise ControlError(f"chat {old.id} is not a basic group that can be migrated")
        new = Chat(
            self.world.new_group_id("supergroup"),
            "supergroup",
            title=old.title,
            members=dict(old.members),
        )
        self.world.chats[new.id] = new
        actor = self._actor(old)
        bots = self._bots_in(old)
        old.migrated_to = new.id
        farewell = self.world.add_message(old, actor, {"migrate_to_chat_id": new.id})
        welcome = self.world.add_message(new, actor, {"migrate_from_chat_id": old.id})
        for bot in bots:
            self.world.queue_update(bot, "message", farewell.message)
            self.world.queue_update(bot, "message", welcome.message)
        return new.json()

    async def remove_bot(self, request: web.Request) -> Any:
        body = await _body(request)
        chat = self._group(request.match_info["chat_id"])
        bot = self._bot(body)
        old = chat.status_of(bot.id)
        if old not in ACTIVE_STATUSES:
            raise ControlError(f"the bot is not in chat {chat.id}")
        chat.members[bot.id] = "kicked"
        update_id = self.api.member_update(
            bot, chat, self._actor(chat, body.get("by_user_id")), old, "kicked"
        )
        return {"ok": True, "update_id": update_id}

    # ---- people act ---------------------------------------------------------------------

    async def send(self, request: web.Request) -> Any:
        body = await _body(request)
        bot = self._bot(body)
        user = self._user(body["user_id"])
        chat = self._chat_of(user, body.get("chat_id"))
        content = self._content(body)
        reply_to: StoredMessage | None = None
        if body.get("reply_to_message_id") is not None:
            reply_to = chat.messages.get(int(body["reply_to_message_id"]))
            if reply_to is None or reply_to.deleted:
                raise ControlError(f"no message {body['reply_to_message_id']} in chat {chat.id}")
        stored = self.world.add_message(chat, user.json(), content, reply_to=reply_to)
        if chat.user is not None:
            user.started.add(bot.id)
            user.blocked.discard(bot.id)
        _hide_one_time_keyboard(chat, content)
        update_id = self._dispatch(bot, chat, stored, "message")
        return {"message": copy.deepcopy(stored.message), "update_id": update_id}

    def _content(self, body: JSON) -> JSON:
        kinds = [
            k
            for k in (
                "text",
                "photo_b64",
                "document_b64",
                "location",
                "venue",
                "sticker",
                "voice",
                "contact",
            )
            if body.get(k)
        ]
        if len(kinds) != 1:
            raise ControlError(
                "give exactly one of text, photo_b64, document_b64, location, "
                f"venue, sticker, voice, contact (got {kinds or 'none'})"
            )
        kind = kinds[0]
        files = self.world.files
        content: JSON
        if kind == "text":
            content = {"text": str(body["text"])}
            entities = body.get("entities")
            if entities is None and (match := _COMMAND.match(content["text"])):
                entities = [{"type": "bot_command", "offset": 0, "length": len(match.group(0))}]
            if entities:
                content["entities"] = entities
            return content
        if kind == "photo_b64":
            content = {"photo": files.add_photo(_b64(body["photo_b64"], "photo_b64"))}
        elif kind == "document_b64":
            data = _b64(body["document_b64"], "document_b64")
            size = body.get("document_size")
            content = {
                "document": files.add_document(
                    data,
                    body.get("file_name") or "file",
                    body.get("mime_type"),
                    int(size) if size is not None else None,
                )
            }
        elif kind == "location":
            content = {"location": _location(body["location"], live=True)}
        elif kind == "venue":
            venue = body["venue"]
            location = _location(venue, live=False)
            content = {
                "venue": {
                    "location": location,
                    "title": str(venue["title"]),
                    "address": str(venue["address"]),
                },
                "location": location,
            }
        elif kind == "sticker":
            sticker = self._sticker()
            content = {
                "sticker": {
                    "file_id": sticker.file_id,
                    "file_unique_id": sticker.file_unique_id,
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "emoji": "👍",
                    "file_size": sticker.size,
                }
            }
        elif kind == "voice":
            voice = files.add("voice", b"OggS" + bytes(2000), mime_type="audio/ogg")
            content = {
                "voice": {
                    "file_id": voice.file_id,
                    "file_unique_id": voice.file_unique_id,
                    "duration": 2,
                    "mime_type": "audio/ogg",
                    "file_size": voice.size,
                }
            }
        else:
            contact = body["contact"]
            content = {
                "contact": {
                    k: contact[k]
                    for k in ("phone_number", "first_name", "last_name", "user_id", "vcard")
                    if k in contact
                }
            }
        if body.get("caption") and kind in ("photo_b64", "document_b64"):
            content["caption"] = str(body["caption"])
            if body.get("caption_entities"):
                content["caption_entities"] = body["caption_entities"]
        return content

    def _sticker(self) -> Any:
        stored = self.world.files.get(self._sticker_file or "")
        if stored is None:
            out = io.BytesIO()
            Image.new("RGBA", (512, 512), (255, 200, 0, 255)).save(out, "WEBP")
            stored = self.world.files.add(
                "sticker", out.getvalue(), mime_type="image/webp", width=512, height=512
            )
            self._sticker_file = stored.file_id
        return stored

    def _dispatch(self, bot: Bot, chat: Chat, stored: StoredMessage, kind: str) -> int | None:
        """Queue the update for every bot that would see it; the update id of `bot`'s copy."""
        if chat.user is not None:
            return self.world.queue_update(bot, kind, stored.message)
        mine: int | None = None
        for member_bot in self._bots_in(chat):
            if chat.status_of(member_bot.id) == "member" and not _addressed(member_bot, stored):
                continue  # privacy mode: a non-admin bot sees commands and replies to it only
            update_id = self.world.queue_update(member_bot, kind, stored.message)
            if member_bot is bot:
                mine = update_id
        return mine

    async def edit_location(self, request: web.Request) -> Any:
        body = await _body(request)
        bot = self._bot(body)
        user = self._user(body["user_id"])
        chat = self._chat_of(user, body.get("chat_id"), viewer=True)
        stored = chat.messages.get(int(body["message_id"]))
        if stored is None or stored.deleted or stored.message.get("from", {}).get("id") != user.id:
            raise ControlError(f"user {user.id} has no message {body['message_id']} here")
        location = stored.message.get("location")
        if not location or not location.get("live_period"):
            raise ControlError("only a live location (sent with live_period) can be edited")
        stored.edit({"location": location | _location(body, live=False)})
        update_id = self._dispatch(bot, chat, stored, "edited_message")
        return {"message": copy.deepcopy(stored.message), "update_id": update_id}

    async def press(self, request: web.Request) -> Any:
        body = await _body(request)
        bot = self._bot(body)
        user = self._user(body["user_id"])
        chat = self._chat_of(user, body.get("chat_id"), viewer=True)
        stored = chat.messages.get(int(body["message_id"]))
        if stored is None or stored.deleted:
            raise ControlError(f"no message {body['message_id']} in chat {chat.id}")
        if stored.bot_id != bot.id:
            raise ControlError(f"message {stored.id} was not sent by this bot")
        data = str(body["data"])
        offered = [
            b.get("callback_data")
            for row in stored.message.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
        ]
        # Data the message does not (or no longer) offer is still sent: that is a stale screen
        # or a forged press, both of which a bot must survive. `offered` tells the test which.
        record = CallbackRecord(self.world.new_callback_id(), bot.id, chat.id, stored.id)
        self.world.callbacks[record.id] = record
        if chat.user is not None:
            user.started.add(bot.id)
        update_id = self.world.queue_update(
            bot,
            "callback_query",
            {
                "id": record.id,
                "from": user.json(),
                "message": stored.message,
                "chat_instance": str(abs(chat.id) * 7919 + 104729),
                "data": data,
            },
        )
        return {
            "callback_query_id": record.id,
            "update_id": update_id,
            "offered": data in offered,
        }

    # ---- the test's eyes ----------------------------------------------------------------

    async def callback_answer(self, request: web.Request) -> Any:
        record = self.world.callbacks.get(request.match_info["callback_query_id"])
        if record is None:
            raise ControlError("no such callback query", 404)
        deadline = time.monotonic() + _timeout(request, 5.0)
        while (
            not (record.answered or self.world.closing)
            and (remaining := deadline - time.monotonic()) > 0
        ):
            await record.signal.wait(remaining)
        return record.json()

    async def messages(self, request: web.Request) -> Any:
        chat = self._chat(request.match_info["chat_id"])
        return [m.view() for m in chat.messages.values()]

    async def keyboard(self, request: web.Request) -> Any:
        return copy.deepcopy(self._chat(request.match_info["chat_id"]).keyboard)

    async def events(self, request: web.Request) -> Any:
        since = int(request.query.get("since", "0"))
        if since < 0:  # "where are we?": just the current position, for a later long-poll
            return {"events": [], "last": self.world.last_seq}
        deadline = time.monotonic() + _timeout(request, 0.0)
        world = self.world
        while True:
            start = bisect.bisect_right(world.events, since, key=lambda e: int(e["seq"]))
            fresh = world.events[start:]
            remaining = deadline - time.monotonic()
            if fresh or remaining <= 0 or world.closing:
                return {"events": copy.deepcopy(fresh), "last": max(world.last_seq, since)}
            await world.events_signal.wait(remaining)

    async def stats(self, request: web.Request) -> Any:
        return self.world.stats_json()

    # ---- knobs --------------------------------------------------------------------------

    async def list_faults(self, request: web.Request) -> Any:
        return {"faults": [f.describe() for f in self.world.faults.pending]}

    async def add_fault(self, request: web.Request) -> Any:
        body = await _body(request)
        kind = str(body.get("kind"))
        if kind not in FAULT_KINDS:
            raise ControlError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        method = str(body.get("method", "*"))
        if method != "*":
            canonical = self.api.spec.canonical(method)
            if canonical is None:
                raise ControlError(f"unknown Bot API method {method}")
            method = canonical
        fault = Fault(
            method=method,
            kind=kind,
            count=int(body.get("count", 1)),
            chat_id=int(body["chat_id"]) if body.get("chat_id") is not None else None,
            retry_after=int(body.get("retry_after") or 5),
            delay=float(body.get("delay") or 1.0),
        )
        self.world.faults.add(fault)
        return {"ok": True, "faults": [f.describe() for f in self.world.faults.pending]}

    async def clear_faults(self, request: web.Request) -> Any:
        self.world.faults.clear()
        return {"ok": True}

    async def rate_limits(self, request: web.Request) -> Any:
        self.world.limiter.configure(await _body(request))
        return self.world.limiter.settings()

    async def add_file(self, request: web.Request) -> Any:
        body = await _body(request)
        data = _b64(body["data_b64"], "data_b64")
        if body.get("kind", "document") == "photo":
            size = self.world.files.add_photo(data)[-1]
        else:
            size = self.world.files.add_document(data, body.get("file_name"), body.get("mime_type"))
        return {k: size[k] for k in ("file_id", "file_unique_id", "file_size")}


def _status(value: Any) -> str:
    if value not in MEMBER_STATUSES:
        raise ControlError(f"status must be one of {', '.join(MEMBER_STATUSES)}")
    return str(value)


def _location(raw: JSON, *, live: bool) -> JSON:
    location = {"latitude": float(raw["latitude"]), "longitude": float(raw["longitude"])}
    if live and raw.get("live_period"):
        location["live_period"] = int(raw["live_period"])
    for key in ("horizontal_accuracy", "heading"):
        if raw.get(key) is not None:
            location[key] = raw[key]
    return location


def _timeout(request: web.Request, default: float) -> float:
    return min(max(float(request.query.get("timeout", default)), 0.0), 120.0)


def _addressed(bot: Bot, stored: StoredMessage) -> bool:
    message = stored.message
    text = message.get("text") or message.get("caption") or ""
    command = _COMMAND.match(text)
    if command:
        mention = command.group(1)
        return mention is None or mention[1:].lower() == bot.user_json()["username"].lower()
    reply = message.get("reply_to_message")
    return bool(reply and reply.get("from", {}).get("id") == bot.id)


def _hide_one_time_keyboard(chat: Chat, content: JSON) -> None:
    keyboard = chat.keyboard
    if not keyboard or not keyboard.get("one_time_keyboard"):
        return
    buttons = [b for row in keyboard.get("keyboard", []) for b in row]
    pressed = any(
        content.get("text") == b.get("text")
        or ("location" in content and "venue" not in content and b.get("request_location"))
        or ("contact" in content and b.get("request_contact"))
        for b in buttons
    )
    if pressed:
        chat.keyboard = None
