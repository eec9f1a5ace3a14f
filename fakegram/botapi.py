"""The Bot API methods with real behaviour; every other documented method answers 400."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from fakegram import formatting
from fakegram.errors import ApiError, bad_request, forbidden
from fakegram.media import MAX_DOCUMENT_UPLOAD, MAX_DOWNLOAD, StoredFile
from fakegram.spec import ApiSpec, Upload
from fakegram.world import (
    ACTIVE_STATUSES,
    BOT_FIRST_NAME,
    CONTENT_KEYS,
    DEFAULT_UPDATES,
    JSON,
    Bot,
    Chat,
    StoredMessage,
    Webhook,
    World,
    now,
)

log = logging.getLogger("fakegram")

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
MEDIA_KEYS = ("photo", "document", "sticker", "voice")
MEMBER_TYPES = {
    "creator": "ChatMemberOwner",
    "administrator": "ChatMemberAdministrator",
    "member": "ChatMemberMember",
    "restricted": "ChatMemberRestricted",
    "left": "ChatMemberLeft",
    "kicked": "ChatMemberBanned",
}


@dataclass
class Call:
    bot: Bot
    method: str
    params: dict[str, Any]
    uploads: dict[str, Upload] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Any]]


class BotApi:
    def __init__(self, world: World, spec: ApiSpec) -> None:
        self.world = world
        self.spec = spec
        self._http: aiohttp.ClientSession | None = None
        self.handlers: dict[str, Handler] = {
            "getMe": self.get_me,
            "logOut": self.true,
            "close": self.true,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendMessage": self.send_message,
            "sendPhoto": self.send_photo,
            "sendDocument": self.send_document,
            "sendLocation": self.send_location,
            "sendMediaGroup": self.send_media_group,
            "copyMessage": self.copy_message,
            "forwardMessage": self.forward_message,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "editMessageMedia": self.edit_message_media,
            "deleteMessage": self.delete_message,
            "deleteMessages": self.delete_messages,
            "answerCallbackQuery": self.answer_callback_query,
            "getFile": self.get_file,
            "getChat": self.get_chat,
            "getChatMember": self.get_chat_member,
            "getChatAdministrators": self.get_chat_administrators,
            "getChatMemberCount": self.get_chat_member_count,
            "leaveChat": self.leave_chat,
            "sendChatAction": self.send_chat_action,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setMyDescription": self.set_my_description,
            "getMyDescription": self.get_my_description,
            "setMyShortDescription": self.set_my_short_description,
            "getMyShortDescription": self.get_my_short_description,
            "setMyName": self.set_my_name,
            "getMyName": self.get_my_name,
            "setChatMenuButton": self.set_chat_menu_button,
            "getChatMenuButton": self.get_chat_menu_button,
        }

    async def close(self) -> None:
        for bot in self.world.bots.values():
            self._stop_webhook(bot)
        if self._http is not None:
            await self._http.close()

    # ---- shapes shared with the control API ---------------------------------------------

    def chat_member(self, status: str, user: JSON) -> JSON:
        type_name = MEMBER_TYPES[status]
        known: JSON = {"status": status, "user": user}
        for spec_field in self.spec.types[type_name].fields or ():
            if spec_field.types != ("Boolean",) or spec_field.name in known:
                continue
            if status == "administrator":
                known[spec_field.name] = spec_field.name.startswith("can_") and (
                    spec_field.name != "can_be_edited"
                )
            elif status == "restricted":
                known[spec_field.name] = spec_field.name in ("is_member", "can_send_messages")
        return self.spec.skeleton(type_name, **known)

    def member_update(
        self, bot: Bot, chat: Chat, by: JSON, old: str, new: str, member_id: int | None = None
    ) -> int | None:
        """Queue my_chat_member (the bot itself changed) or chat_member (someone else did)."""
        target = bot.id if member_id is None else member_id
        user = self.world.member_json(target)
        payload = {
            "chat": chat.json(),
            "from": by,
            "date": now(),
            "old_chat_member": self.chat_member(old, user),
            "new_chat_member": self.chat_member(new, user),
        }
        kind = "my_chat_member" if target == bot.id else "chat_member"
        return self.world.queue_update(bot, kind, payload)

    # ---- chats and messages -------------------------------------------------------------

    def known_chat(self, ref: Any) -> Chat:
        chat = self.world.chat(ref)
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise bad_request(
                "group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        return chat

    def writable_chat(self, bot: Bot, ref: Any, *, initiating: bool = True) -> Chat:
        chat = self.known_chat(ref)
        if chat.user is not None:
            if bot.id in chat.user.blocked:
                raise forbidden("bot was blocked by the user")
            if initiating and not (chat.user.started_all or bot.id in chat.user.started):
                raise forbidden("bot can't initiate conversation with a user")
            return chat
        status = chat.status_of(bot.id)
        if status == "kicked":
            raise forbidden(f"bot was kicked from the {chat.type} chat")
        if status not in ACTIVE_STATUSES:
            raise forbidden(f"bot is not a member of the {chat.type} chat")
        return chat

    def _reply_target(self, chat: Chat, params: dict[str, Any]) -> StoredMessage | None:
        reply = params.get("reply_parameters")
        if not reply:
            return None
        where = chat if reply.get("chat_id") is None else self.known_chat(reply["chat_id"])
        target = where.messages.get(reply["message_id"])
        if target is None or target.deleted or where is not chat:
            if reply.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return target

    def _deliver(
        self, call: Call, chat: Chat, content: JSON, reply_to: StoredMessage | None = None
    ) -> StoredMessage:
        stored = self.world.add_message(
            chat, call.bot.user_json(), content, bot_id=call.bot.id, reply_to=reply_to
        )
        self._apply_markup(chat, stored, call.params.get("reply_markup"))
        self.world.stats.count(self.world.stats.by_chat, chat.id)
        self.world.event(
            "sent",
            chat_id=chat.id,
            message_id=stored.id,
            method=call.method,
            message=stored.message,
            bot_id=call.bot.id,
        )
        return stored

    @staticmethod
    def _apply_markup(chat: Chat, stored: StoredMessage, markup: JSON | None) -> None:
        if not markup:
            return
        if "inline_keyboard" in markup:
            inline = _inline(markup)
            if inline is not None:
                stored.message["reply_markup"] = inline
        elif "keyboard" in markup:
            chat.keyboard = copy.deepcopy(markup)
        elif markup.get("remove_keyboard"):
            chat.keyboard = None

    def _message_to_edit(self, call: Call) -> tuple[Chat, StoredMessage]:
        params = call.params
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not supported by the local Telegram")
        if "chat_id" not in params:
            raise bad_request("chat_id is empty")
        if "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self.writable_chat(call.bot, params["chat_id"], initiating=False)
        stored = chat.messages.get(params["message_id"])
        if stored is None or stored.deleted:
            raise bad_request("message to edit not found")
        if stored.bot_id != call.bot.id:
            raise bad_request("message can't be edited")
        return chat, stored

    def _edited(
        self, call: Call, chat: Chat, stored: StoredMessage, changes: JSON, removed: list[str]
    ) -> JSON:
        stored.edit(changes, tuple(removed))
        self.world.event(
            "edited",
            chat_id=chat.id,
            message_id=stored.id,
            method=call.method,
            message=stored.message,
            bot_id=call.bot.id,
        )
        return copy.deepcopy(stored.message)

    # ---- files --------------------------------------------------------------------------

    def _upload(self, call: Call, value: Any) -> Upload | None:
        if isinstance(value, Upload):
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            upload = call.uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"file {value} not found in the request")
            return upload
        return None

    def _stored(self, value: str, kinds: tuple[str, ...]) -> StoredFile:
        if value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        stored = self.world.files.get(value.strip())
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind not in kinds:
            raise bad_request("type of file mismatch")
        return stored

    def photo(self, call: Call, value: Any) -> list[JSON]:
        upload = self._upload(call, value)
        if upload is not None:
            return self.world.files.add_photo(upload.data)
        return self.world.files.photo_of(self._stored(value, ("photo",)))

    def document(self, call: Call, value: Any) -> JSON:
        upload = self._upload(call, value)
        if upload is not None:
            if len(upload.data) > MAX_DOCUMENT_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            return self.world.files.add_document(upload.data, upload.filename, upload.content_type)
        return self.world.files.document_of(self._stored(value, ("document",)))

    # ---- content ------------------------------------------------------------------------

    @staticmethod
    def _text(params: dict[str, Any]) -> JSON:
        text, entities = formatting.formatted(
            params["text"], params.get("parse_mode"), params.get("entities")
        )
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        if params.get("link_preview_options"):
            content["link_preview_options"] = params["link_preview_options"]
        return content

    @staticmethod
    def _caption(params: dict[str, Any]) -> JSON:
        caption = params.get("caption")
        if not caption:
            return {}
        text, entities = formatting.formatted(
            caption, params.get("parse_mode"), params.get("caption_entities")
        )
        content: JSON = {"caption": text} if text else {}
        if entities:
            content["caption_entities"] = entities
        if params.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return content

    def _media_content(self, call: Call, media: JSON) -> JSON:
        kind = media["type"]
        if kind == "photo":
            content: JSON = {"photo": self.photo(call, media["media"])}
            if media.get("has_spoiler"):
                content["has_media_spoiler"] = True
        elif kind == "document":
            content = {"document": self.document(call, media["media"])}
        else:
            raise bad_request(f"media of type {kind} is not supported by the local Telegram")
        return content | self._caption(media)

    # ---- methods: the bot itself --------------------------------------------------------

    async def true(self, call: Call) -> Any:
        return True

    async def get_me(self, call: Call) -> Any:
        return self.spec.skeleton(
            "User",
            **call.bot.user_json(),
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
        )

    async def get_updates(self, call: Call) -> Any:
        bot, params = call.bot, call.params
        if bot.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in params:
            self._allow(bot, params["allowed_updates"])
        offset = params.get("offset", 0)
        if offset > 0:
            bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
        elif offset < 0:
            bot.updates = bot.updates[offset:]
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = min(max(params.get("timeout", 0), 0), 600)
        bot.poll_generation += 1
        generation = bot.poll_generation
        deadline = time.monotonic() + timeout
        while True:
            if self.world.bots.get(bot.token) is not bot:  # the world was reset meanwhile
                return []
            if generation != bot.poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure "
                    "that only one bot instance is running",
                )
            remaining = deadline - time.monotonic()
            if bot.updates or remaining <= 0 or self.world.closing:
                return copy.deepcopy(bot.updates[:limit])
            await bot.signal.wait(remaining)

    @staticmethod
    def _allow(bot: Bot, allowed: list[str]) -> None:
        bot.allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATES
        bot.updates = [
            u for u in bot.updates if next(k for k in u if k != "update_id") in bot.allowed_updates
        ]

    async def set_webhook(self, call: Call) -> Any:
        bot, params = call.bot, call.params
        url = params.get("url", "")
        if not url:
            return await self.delete_webhook(call)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if params.get("drop_pending_updates"):
            bot.updates.clear()
        if "allowed_updates" in params:
            self._allow(bot, params["allowed_updates"])
        self._stop_webhook(bot)
        hook = Webhook(url, params.get("secret_token") or None, params.get("max_connections", 40))
        bot.webhook = hook
        bot.poll_generation += 1  # a pending getUpdates ends with a conflict
        bot.signal.notify()
        hook.task = asyncio.create_task(self._deliver_webhook(bot, hook))
        return True

    async def delete_webhook(self, call: Call) -> Any:
        if call.params.get("drop_pending_updates"):
            call.bot.updates.clear()
        self._stop_webhook(call.bot)
        return True

    def _stop_webhook(self, bot: Bot) -> None:
        if bot.webhook is not None and bot.webhook.task is not None:
            bot.webhook.task.cancel()
        bot.webhook = None

    async def get_webhook_info(self, call: Call) -> Any:
        bot = call.bot
        info: JSON = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if bot.webhook is not None:
            info |= bot.webhook.info()
            if bot.allowed_updates != DEFAULT_UPDATES:
                info["allowed_updates"] = sorted(bot.allowed_updates)
        return info

    async def _deliver_webhook(self, bot: Bot, hook: Webhook) -> None:
        """POST each update in order, one at a time, retrying until the bot answers 2xx."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        backoff = 0.05
        while bot.webhook is hook:
            if not bot.updates:
                await bot.signal.wait(30)
                continue
            update = bot.updates[0]
            headers = {"Content-Type": "application/json"}
            if hook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
            body = json.dumps(update, ensure_ascii=False).encode()
            try:
                async with self._http.post(hook.url, data=body, headers=headers) as response:
                    await response.read()
                    error = (
                        None
                        if 200 <= response.status < 300
                        else (
                            f"Wrong response from the webhook: {response.status} {response.reason}"
                        )
                    )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"Connection failed: {exc or type(exc).__name__}"
            if error is None:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.pop(0)
                backoff = 0.05
                continue
            log.info("webhook delivery to %s failed: %s", hook.url, error)
            hook.last_error_date, hook.last_error_message = now(), error
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    # ---- methods: sending ---------------------------------------------------------------

    async def send_message(self, call: Call) -> Any:
        chat = self.writable_chat(call.bot, call.params["chat_id"])
        content = self._text(call.params)
        reply_to = self._reply_target(chat, call.params)
        return copy.deepcopy(self._deliver(call, chat, content, reply_to).message)

    async def send_photo(self, call: Call) -> Any:
        chat = self.writable_chat(call.bot, call.params["chat_id"])
        reply_to = self._reply_target(chat, call.params)
        content: JSON = {"photo": self.photo(call, call.params["photo"])}
        if call.params.get("has_spoiler"):
            content["has_media_spoiler"] = True
        content |= self._caption(call.params)
        return copy.deepcopy(self._deliver(call, chat, content, reply_to).message)

    async def send_document(self, call: Call) -> Any:
        chat = self.writable_chat(call.bot, call.params["chat_id"])
        reply_to = self._reply_target(chat, call.params)
        content = {"document": self.document(call, call.params["document"])}
        content |= self._caption(call.params)
        return copy.deepcopy(self._deliver(call, chat, content, reply_to).message)

    async def send_location(self, call: Call) -> Any:
        params = call.params
        chat = self.writable_chat(call.bot, params["chat_id"])
        reply_to = self._reply_target(chat, params)
        location = {"latitude": params["latitude"], "longitude": params["longitude"]}
        for key in ("horizontal_accuracy", "live_period", "heading", "proximity_alert_radius"):
            if key in params:
                location[key] = params[key]
        return copy.deepcopy(self._deliver(call, chat, {"location": location}, reply_to).message)

    async def send_media_group(self, call: Call) -> Any:
        chat = self.writable_chat(call.bot, call.params["chat_id"])
        reply_to = self._reply_target(chat, call.params)
        items: list[JSON] = call.params["media"]
        documents = sum(1 for item in items if item["type"] == "document")
        if documents and documents != len(items):
            raise bad_request("documents can't be mixed with other media types in an album")
        contents = [self._media_content(call, item) for item in items]
        group_id = self.world.new_media_group_id()
        sent = [
            self._deliver(call, chat, content | {"media_group_id": group_id}, reply_to).message
            for content in contents
        ]
        return copy.deepcopy(sent)

    def _source(self, params: dict[str, Any], missing: str) -> StoredMessage:
        chat = self.known_chat(params["from_chat_id"])
        source = chat.messages.get(params["message_id"])
        if source is None or source.deleted:
            raise bad_request(missing)
        return source

    async def copy_message(self, call: Call) -> Any:
        params = call.params
        source = self._source(params, "message to copy not found")
        content = {k: copy.deepcopy(v) for k, v in source.message.items() if k in CONTENT_KEYS}
        if not content:
            raise bad_request("message can't be copied")
        if "caption" in params and any(k in content for k in MEDIA_KEYS):
            for key in ("caption", "caption_entities", "show_caption_above_media"):
                content.pop(key, None)
            content |= self._caption(params)
        chat = self.writable_chat(call.bot, params["chat_id"])
        reply_to = self._reply_target(chat, params)
        return {"message_id": self._deliver(call, chat, content, reply_to).id}

    async def forward_message(self, call: Call) -> Any:
        params = call.params
        source = self._source(params, "message to forward not found")
        content = {k: copy.deepcopy(v) for k, v in source.message.items() if k in CONTENT_KEYS}
        if not content:
            raise bad_request("message can't be forwarded")
        origin = source.message.get("forward_origin") or {
            "type": "user",
            "sender_user": source.message.get("from", {}),
            "date": source.message["date"],
        }
        chat = self.writable_chat(call.bot, params["chat_id"])
        stored = self._deliver(call, chat, {"forward_origin": origin} | content)
        return copy.deepcopy(stored.message)

    # ---- methods: editing ---------------------------------------------------------------

    async def edit_message_text(self, call: Call) -> Any:
        chat, stored = self._message_to_edit(call)
        message = stored.message
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        content = self._text(call.params)
        markup = _inline(call.params.get("reply_markup"))
        if (
            message["text"] == content["text"]
            and message.get("entities") == content.get("entities")
            and message.get("reply_markup") == markup
        ):
            raise bad_request(NOT_MODIFIED)
        # Telegram drops an inline keyboard the edit does not repeat.
        removed = [k for k in ("entities", "reply_markup") if k not in content]
        if markup is not None:
            content["reply_markup"] = markup
            removed.remove("reply_markup")
        return self._edited(call, chat, stored, content, removed)

    async def edit_message_caption(self, call: Call) -> Any:
        chat, stored = self._message_to_edit(call)
        message = stored.message
        if not any(k in message for k in MEDIA_KEYS):
            raise bad_request("there is no caption in the message to edit")
        content = self._caption(call.params)
        markup = _inline(call.params.get("reply_markup"))
        if (
            message.get("caption") == content.get("caption")
            and message.get("caption_entities") == content.get("caption_entities")
            and message.get("reply_markup") == markup
        ):
            raise bad_request(NOT_MODIFIED)
        if markup is not None:
            content["reply_markup"] = markup
        removed = [
            k
            for k in ("caption", "caption_entities", "show_caption_above_media", "reply_markup")
            if k not in content
        ]
        return self._edited(call, chat, stored, content, removed)

    async def edit_message_media(self, call: Call) -> Any:
        chat, stored = self._message_to_edit(call)
        message = stored.message
        if not any(k in message for k in ("photo", "document")):
            raise bad_request("there is no media in the message to edit")
        content = self._media_content(call, call.params["media"])
        markup = _inline(call.params.get("reply_markup"))
        if (
            _file_key(message) == _file_key(content)
            and message.get("caption") == content.get("caption")
            and message.get("caption_entities") == content.get("caption_entities")
            and message.get("reply_markup") == markup
        ):
            raise bad_request(NOT_MODIFIED)
        if markup is not None:
            content["reply_markup"] = markup
        removed = [
            k
            for k in (
                "photo",
                "document",
                "caption",
                "caption_entities",
                "has_media_spoiler",
                "reply_markup",
            )
            if k not in content
        ]
        return self._edited(call, chat, stored, content, removed)

    async def edit_message_reply_markup(self, call: Call) -> Any:
        chat, stored = self._message_to_edit(call)
        markup = _inline(call.params.get("reply_markup"))
        if stored.message.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED)
        if markup is None:
            return self._edited(call, chat, stored, {}, ["reply_markup"])
        return self._edited(call, chat, stored, {"reply_markup": markup}, [])

    async def delete_message(self, call: Call) -> Any:
        chat = self.writable_chat(call.bot, call.params["chat_id"], initiating=False)
        self._delete(call, chat, call.params["message_id"], strict=True)
        return True

    async def delete_messages(self, call: Call) -> Any:
        chat = self.writable_chat(call.bot, call.params["chat_id"], initiating=False)
        for message_id in call.params["message_ids"]:
            self._delete(call, chat, message_id, strict=False)
        return True

    def _delete(self, call: Call, chat: Chat, message_id: int, *, strict: bool) -> None:
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            if strict:
                raise bad_request("message to delete not found")
            return
        if (
            stored.bot_id != call.bot.id
            and chat.user is None
            and chat.status_of(call.bot.id) not in ("administrator", "creator")
        ):
            raise bad_request("message can't be deleted")
        stored.deleted = True
        self.world.event(
            "deleted",
            chat_id=chat.id,
            message_id=message_id,
            method=call.method,
            message=stored.message,
            bot_id=call.bot.id,
        )

    async def answer_callback_query(self, call: Call) -> Any:
        params = call.params
        record = self.world.callbacks.get(params["callback_query_id"])
        if record is None or record.answered or record.bot_id != call.bot.id:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        record.answered = True
        record.text = params.get("text")
        record.show_alert = bool(params.get("show_alert", False))
        record.url = params.get("url")
        record.signal.notify()
        self.world.event(
            "answered",
            chat_id=record.chat_id,
            message_id=record.message_id,
            method=call.method,
            callback_query_id=record.id,
            text=record.text,
            show_alert=record.show_alert,
            bot_id=call.bot.id,
        )
        return True

    # ---- methods: files and chats -------------------------------------------------------

    async def get_file(self, call: Call) -> Any:
        stored = self.world.files.get(call.params["file_id"].strip())
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return stored.file()

    async def get_chat(self, call: Call) -> Any:
        chat = self.known_chat(call.params["chat_id"])
        return self.spec.skeleton(
            "ChatFullInfo", **chat.json(), accent_color_id=0, max_reaction_count=11
        )

    async def get_chat_member(self, call: Call) -> Any:
        chat = self.known_chat(call.params["chat_id"])
        user_id = call.params["user_id"]
        if chat.user is not None:
            status = "member" if user_id in (chat.id, call.bot.id) else "left"
        else:
            status = chat.status_of(user_id)
        return self.chat_member(status, self.world.member_json(user_id))

    async def get_chat_administrators(self, call: Call) -> Any:
        chat = self.known_chat(call.params["chat_id"])
        if chat.user is not None:
            raise bad_request("there are no administrators in the private chat")
        ranked = sorted(
            (s != "creator", i)
            for i, s in chat.members.items()
            if s in ("creator", "administrator")
        )
        return [self.chat_member(chat.members[i], self.world.member_json(i)) for _, i in ranked]

    async def get_chat_member_count(self, call: Call) -> Any:
        chat = self.known_chat(call.params["chat_id"])
        if chat.user is not None:
            return 2
        return sum(1 for s in chat.members.values() if s in ACTIVE_STATUSES)

    async def leave_chat(self, call: Call) -> Any:
        chat = self.known_chat(call.params["chat_id"])
        if chat.user is not None:
            raise bad_request("chat member status can't be changed in private chats")
        old = chat.status_of(call.bot.id)
        if old not in ACTIVE_STATUSES:
            raise forbidden(f"bot is not a member of the {chat.type} chat")
        chat.members[call.bot.id] = "left"
        self.member_update(call.bot, chat, call.bot.user_json(), old, "left")
        return True

    async def send_chat_action(self, call: Call) -> Any:
        self.writable_chat(call.bot, call.params["chat_id"])
        return True

    # ---- methods: commands, descriptions, menu ------------------------------------------

    def _scope_key(self, call: Call) -> tuple[str, str]:
        scope = call.params.get("scope") or {"type": "default"}
        if "chat_id" in scope:
            scope = scope | {"chat_id": self.known_chat(scope["chat_id"]).id}
        return json.dumps(scope, sort_keys=True), call.params.get("language_code", "")

    async def set_my_commands(self, call: Call) -> Any:
        call.bot.commands[self._scope_key(call)] = call.params["commands"]
        return True

    async def get_my_commands(self, call: Call) -> Any:
        return call.bot.commands.get(self._scope_key(call), [])

    async def delete_my_commands(self, call: Call) -> Any:
        call.bot.commands.pop(self._scope_key(call), None)
        return True

    def _set_text(self, call: Call, kind: str) -> bool:
        key = (kind, call.params.get("language_code", ""))
        value = call.params.get(kind, "")
        if value:
            call.bot.texts[key] = value
        else:
            call.bot.texts.pop(key, None)
        return True

    def _get_text(self, call: Call, kind: str, default: str = "") -> JSON:
        return {kind: call.bot.texts.get((kind, call.params.get("language_code", "")), default)}

    async def set_my_description(self, call: Call) -> Any:
        return self._set_text(call, "description")

    async def get_my_description(self, call: Call) -> Any:
        return self._get_text(call, "description")

    async def set_my_short_description(self, call: Call) -> Any:
        return self._set_text(call, "short_description")

    async def get_my_short_description(self, call: Call) -> Any:
        return self._get_text(call, "short_description")

    async def set_my_name(self, call: Call) -> Any:
        return self._set_text(call, "name")

    async def get_my_name(self, call: Call) -> Any:
        return self._get_text(call, "name", BOT_FIRST_NAME)

    async def set_chat_menu_button(self, call: Call) -> Any:
        button = call.params.get("menu_button")
        if "chat_id" in call.params:
            chat = self.known_chat(call.params["chat_id"])
            if chat.user is None:
                raise bad_request("chat not found")
            chat.menu_button = button
        else:
            call.bot.default_menu_button = button
        return True

    async def get_chat_menu_button(self, call: Call) -> Any:
        button = call.bot.default_menu_button
        if "chat_id" in call.params:
            button = self.known_chat(call.params["chat_id"]).menu_button or button
        return button or {"type": "default"}


def _inline(markup: JSON | None) -> JSON | None:
    """The reply_markup a message carries: an inline keyboard with at least one button."""
    if not markup or not any(markup.get("inline_keyboard", [])):
        return None
    return {"inline_keyboard": copy.deepcopy(markup["inline_keyboard"])}


def _file_key(content: JSON) -> str | None:
    if "photo" in content:
        return str(content["photo"][-1]["file_unique_id"])
    if "document" in content:
        return str(content["document"]["file_unique_id"])
    return None
