"""The HTTP side: Bot API requests in every encoding Telegram accepts, faults, flood limits."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from aiohttp import web

from fakegram.botapi import BotApi, Call
from fakegram.control import Control
from fakegram.errors import ApiError, bad_request
from fakegram.limits import Fault, Reservation, is_sending
from fakegram.media import MAX_DOCUMENT_UPLOAD
from fakegram.spec import ApiSpec, Upload
from fakegram.world import Bot, World

log = logging.getLogger("fakegram")

TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]{20,80}$")
# Room for a 50 MB document plus the multipart envelope; anything larger is Telegram's 413.
MAX_REQUEST = MAX_DOCUMENT_UPLOAD + 2 * 1024 * 1024
FAULT_ERRORS = {
    "500": (500, "Internal Server Error"),
    "502": (502, "Bad Gateway"),
}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class Server:
    def __init__(self, spec: ApiSpec, *, rate_limits: bool = False) -> None:
        self.spec = spec
        self.world = World(rate_limits=rate_limits)
        self.api = BotApi(self.world, spec)
        self.control = Control(self.api)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST)
        app.router.add_route("*", "/bot{token}/{method}", self.bot_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self.download)
        self.control.register(app.router)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, app: web.Application) -> None:
        self.world.close()
        await self.api.close()

    # ---- Bot API ------------------------------------------------------------------------

    async def bot_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if not TOKEN.match(token):
            return _answer(ApiError(401, "Unauthorized"))
        bot = self.world.bot(token)
        asked = request.match_info["method"]
        method = self.spec.canonical(asked)
        self.world.stats.count(self.world.stats.calls, method or asked)
        try:
            raw, uploads = await _read_params(request)
        except ApiError as error:
            return self._fail(bot, method or asked, None, error)
        chat_id = _loose_chat_id(raw.get("chat_id"))
        if method is None:
            return self._fail(bot, asked, chat_id, ApiError(404, "Not Found"))

        fault = self.world.faults.take(method, chat_id)
        if fault is not None:
            log.info("fault %s on %s", fault.kind, method)
            early = await self._early_fault(request, bot, method, chat_id, fault)
            if early is not None:
                return early

        try:
            result = await self._execute(bot, method, raw, uploads)
        except ApiError as error:
            response = self._fail(bot, method, chat_id, error)
        else:
            response = web.json_response({"ok": True, "result": result}, dumps=_dumps)
        if fault is not None and fault.kind == "drop_after":
            _drop(request)  # it took effect; the bot never hears so
        return response

    async def _early_fault(
        self, request: web.Request, bot: Bot, method: str, chat_id: int | None, fault: Fault
    ) -> web.StreamResponse | None:
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            return None
        if fault.kind == "drop":
            _drop(request)  # before anything happened
            return web.Response()
        if fault.kind == "429":
            retry = fault.retry_after
            return self._fail(
                bot,
                method,
                chat_id,
                ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}),
            )
        if fault.kind in FAULT_ERRORS:
            code, text = FAULT_ERRORS[fault.kind]
            return self._fail(bot, method, chat_id, ApiError(code, text))
        return None

    async def _execute(
        self, bot: Bot, method: str, raw: dict[str, Any], uploads: dict[str, Upload]
    ) -> Any:
        params = self.spec.validate(method, raw, uploads)
        handler = self.api.handlers.get(method)
        if handler is None:
            raise bad_request(f"method {method} is not supported by the local Telegram")
        reservation: Reservation | None = None
        if is_sending(method):
            chat = self.world.chat(params["chat_id"]) if "chat_id" in params else None
            count = len(params.get("media") or params.get("message_ids") or [None])
            try:
                reservation = self.world.limiter.reserve(
                    bot.id, chat.id if chat else None, chat.type if chat else None, count
                )
            except ApiError:
                self.world.stats.rate_limited += 1
                raise
        try:
            return await handler(Call(bot, method, params, uploads))
        except ApiError:
            if reservation is not None:
                self.world.limiter.refund(reservation)
            raise
        except Exception as exc:
            if reservation is not None:
                self.world.limiter.refund(reservation)
            log.exception("%s crashed", method)
            raise ApiError(500, f"Internal Server Error: {exc!r}") from exc

    def _fail(self, bot: Bot, method: str, chat_id: int | None, error: ApiError) -> web.Response:
        self.world.stats.count(self.world.stats.errors, str(error.code))
        self.world.event(
            "api_error",
            chat_id=chat_id,
            message_id=None,
            method=method,
            error_code=error.code,
            description=error.description,
            bot_id=bot.id,
        )
        log.info("%s -> %s %s", method, error.code, error.description)
        return _answer(error)

    # ---- files --------------------------------------------------------------------------

    async def download(self, request: web.Request) -> web.StreamResponse:
        if not TOKEN.match(request.match_info["token"]):
            return _answer(ApiError(401, "Unauthorized"))
        stored = self.world.files.by_path.get(request.match_info["path"])
        if stored is None:
            return _answer(ApiError(404, "Not Found"))
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )


def _answer(error: ApiError) -> web.Response:
    return web.json_response(error.payload(), status=error.code, dumps=_dumps)


def _drop(request: web.Request) -> None:
    """Close the connection without an HTTP answer, as a network failure would."""
    transport = request.transport
    if transport is not None:
        transport.close()


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    raw: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if not request.can_read_body:
        return raw, uploads
    try:
        if request.content_type == "application/json":
            text = await request.text()
            if text.strip():
                try:
                    body = json.loads(text)
                except ValueError:
                    raise bad_request("can't parse JSON request body") from None
                if not isinstance(body, dict):
                    raise bad_request("the JSON request body must be an object")
                raw.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = Upload(
                        key, value.filename, value.content_type, value.file.read()
                    )
                elif isinstance(value, bytes | bytearray):
                    uploads[key] = Upload(key, key, "application/octet-stream", bytes(value))
                else:
                    raw[key] = value
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "Request Entity Too Large") from None
    return raw, uploads


def _loose_chat_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None
