"""Drive the local Telegram from tests and the demo: start it, act as people, watch the bot.

    async with FakegramProcess.start() as server, Fakegram(server.url, TOKEN) as tg:
        rider = await tg.user("小王")
        await tg.send_text(rider["id"], "/start")
        (greeting,) = await tg.wait_for_bot_messages(rider["id"], 1)

Point python-telegram-bot at it with `ApplicationBuilder().base_url(server.base_url)
.base_file_url(server.base_file_url)`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")
JSON = dict[str, Any]

# A well-formed token; any `<digits>:<20-80 of [A-Za-z0-9_-]>` works, each its own bot.
DEFAULT_TOKEN = "7000000001:AAFakegramLocalTelegramBotToken000001"
_REPO = Path(__file__).resolve().parents[1]


class FakegramError(Exception):
    """The control API refused a request (a mistake in the test, usually)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class FakegramProcess:
    """`python -m fakegram` as a child process on a free port."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, host: str) -> None:
        self.process = process
        self.port = port
        self.url = f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """For ApplicationBuilder().base_url(...): the token is appended by PTB."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        rate_limits: bool = False,
        env: dict[str, str] | None = None,
        *,
        startup_timeout: float = 20.0,
    ) -> AsyncIterator[FakegramProcess]:
        server = await asyncio.to_thread(
            cls.spawn, rate_limits, env, startup_timeout=startup_timeout
        )
        try:
            yield server
        finally:
            await asyncio.to_thread(server.stop)

    @classmethod
    def spawn(
        cls,
        rate_limits: bool = False,
        env: dict[str, str] | None = None,
        *,
        startup_timeout: float = 20.0,
        host: str = "127.0.0.1",
    ) -> FakegramProcess:
        """Blocking variant of start(), for session-wide fixtures; call stop() when done."""
        command = [sys.executable, "-m", "fakegram", "--host", host, "--port", "0"]
        if rate_limits:
            command.append("--rate-limits")
        child_env = dict(os.environ) | (env or {})
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_REPO), child_env.get("PYTHONPATH", "")) if p
        )
        process = subprocess.Popen(command, stdout=subprocess.PIPE, env=child_env)
        try:
            port = _read_ready(process, startup_timeout)
        except BaseException:
            _terminate(process)
            raise
        return cls(process, port, host)

    def stop(self, timeout: float = 5.0) -> None:
        _terminate(self.process, timeout)


def _read_ready(process: subprocess.Popen[bytes], timeout: float) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"fakegram did not report ready within {timeout:.0f}s")
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if not readable:
            continue
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"fakegram exited with code {process.wait()} before it was ready")
        try:
            ready = json.loads(line)
        except ValueError:
            continue  # not the ready line
        if isinstance(ready, dict) and ready.get("ready"):
            return int(ready["port"])


def _terminate(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _drop_none(body: JSON) -> JSON:
    return {k: v for k, v in body.items() if v is not None}


class Fakegram:
    """The control API for one bot token."""

    def __init__(self, url: str, bot_token: str = DEFAULT_TOKEN) -> None:
        self.url = url.rstrip("/")
        self.bot_token = bot_token
        self.bot_id = int(bot_token.split(":", 1)[0])
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fakegram:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=150))
        return self._session

    async def _call(
        self, method: str, path: str, body: JSON | None = None, query: dict[str, str] | None = None
    ) -> Any:
        async with self._http().request(
            method, f"{self.url}/control/{path}", json=body, params=query
        ) as response:
            payload = await response.json(content_type=None)
            if response.status >= 400:
                message = payload.get("error") if isinstance(payload, dict) else payload
                raise FakegramError(response.status, str(message))
            return payload

    async def _post(self, path: str, body: JSON | None = None) -> Any:
        return await self._call("POST", path, body or {})

    async def _get(self, path: str, **query: Any) -> Any:
        return await self._call("GET", path, query={k: str(v) for k, v in query.items()})

    # ---- the world ----------------------------------------------------------------------

    async def reset(self) -> None:
        await self._post("reset")

    async def user(self, first_name: str, language_code: str = "zh-hans", **extra: Any) -> JSON:
        """A person; extra: id, last_name, username, started (may the bot write first?)."""
        return dict(
            await self._post(
                "users", {"first_name": first_name, "language_code": language_code, **extra}
            )
        )

    async def block(self, user_id: int, blocked: bool = True) -> None:
        await self._post(
            f"users/{user_id}/block", {"bot_token": self.bot_token, "blocked": blocked}
        )

    async def group(
        self,
        title: str,
        members: list[tuple[int, str]] | None = None,
        type: str = "supergroup",
        bot_status: str | None = "administrator",
        username: str | None = None,
    ) -> JSON:
        """A group with these (user_id, status) members; bot_status None leaves the bot out.

        A username makes the group public: anyone can read it and press its buttons.
        """
        body: JSON = {
            "title": title,
            "type": type,
            "members": [{"user_id": u, "status": s} for u, s in members or []],
        }
        if username is not None:
            body["username"] = username
        if bot_status is not None:
            body |= {"bot_token": self.bot_token, "bot_status": bot_status}
        return dict(await self._post("groups", body))

    async def set_member(self, chat_id: int, user_id: int, status: str) -> JSON:
        return dict(
            await self._post(f"groups/{chat_id}/members", {"user_id": user_id, "status": status})
        )

    async def migrate(self, chat_id: int) -> JSON:
        return dict(await self._post(f"groups/{chat_id}/migrate", {"bot_token": self.bot_token}))

    async def remove_bot(self, chat_id: int, by_user_id: int | None = None) -> None:
        await self._post(
            f"groups/{chat_id}/remove_bot",
            _drop_none({"bot_token": self.bot_token, "by_user_id": by_user_id}),
        )

    async def upload_file(
        self,
        data: bytes,
        file_name: str | None = None,
        mime_type: str | None = None,
        kind: str = "document",
    ) -> JSON:
        """Store a file the bot may then send by file_id ("photo" kind for sendPhoto)."""
        return dict(
            await self._post(
                "files",
                _drop_none(
                    {
                        "data_b64": _b64(data),
                        "file_name": file_name,
                        "mime_type": mime_type,
                        "kind": kind,
                    }
                ),
            )
        )

    async def download(self, file_id: str) -> bytes:
        """The bytes behind a file_id, fetched the way the bot would (getFile, then the path)."""
        base = f"{self.url}/bot{self.bot_token}/getFile"
        async with self._http().get(base, params={"file_id": file_id}) as response:
            answer = await response.json(content_type=None)
        if not answer.get("ok"):
            raise FakegramError(int(answer.get("error_code", 400)), str(answer.get("description")))
        path = answer["result"]["file_path"]
        async with self._http().get(f"{self.url}/file/bot{self.bot_token}/{path}") as response:
            if response.status != 200:
                raise FakegramError(response.status, f"cannot download {path}")
            return await response.read()

    # ---- people act ---------------------------------------------------------------------

    async def send(
        self, user_id: int, chat_id: int | None = None, reply_to: int | None = None, **content: Any
    ) -> JSON:
        """Any message (see POST /control/send); returns the Message as the bot receives it."""
        body = _drop_none(
            {
                "bot_token": self.bot_token,
                "user_id": user_id,
                "chat_id": chat_id,
                "reply_to_message_id": reply_to,
                **content,
            }
        )
        return dict((await self._post("send", body))["message"])

    async def send_text(
        self, user_id: int, text: str, chat_id: int | None = None, reply_to: int | None = None
    ) -> JSON:
        return await self.send(user_id, chat_id, reply_to, text=text)

    async def send_photo(
        self,
        user_id: int,
        image: bytes,
        caption: str | None = None,
        chat_id: int | None = None,
        reply_to: int | None = None,
    ) -> JSON:
        return await self.send(user_id, chat_id, reply_to, photo_b64=_b64(image), caption=caption)

    async def send_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        size: int | None = None,
        chat_id: int | None = None,
        reply_to: int | None = None,
    ) -> JSON:
        return await self.send(
            user_id,
            chat_id,
            reply_to,
            document_b64=_b64(data),
            file_name=file_name,
            mime_type=mime_type,
            caption=caption,
            document_size=size,
        )

    async def send_location(
        self,
        user_id: int,
        lat: float,
        lon: float,
        live_period: int | None = None,
        chat_id: int | None = None,
        reply_to: int | None = None,
    ) -> JSON:
        location = _drop_none({"latitude": lat, "longitude": lon, "live_period": live_period})
        return await self.send(user_id, chat_id, reply_to, location=location)

    async def edit_location(
        self, user_id: int, message_id: int, lat: float, lon: float, chat_id: int | None = None
    ) -> JSON:
        body = _drop_none(
            {
                "bot_token": self.bot_token,
                "user_id": user_id,
                "chat_id": chat_id,
                "message_id": message_id,
                "latitude": lat,
                "longitude": lon,
            }
        )
        return dict((await self._post("edit_location", body))["message"])

    async def send_venue(
        self,
        user_id: int,
        lat: float,
        lon: float,
        title: str,
        address: str,
        chat_id: int | None = None,
    ) -> JSON:
        venue = {"latitude": lat, "longitude": lon, "title": title, "address": address}
        return await self.send(user_id, chat_id, venue=venue)

    async def send_sticker(self, user_id: int, chat_id: int | None = None) -> JSON:
        return await self.send(user_id, chat_id, sticker=True)

    async def send_voice(self, user_id: int, chat_id: int | None = None) -> JSON:
        return await self.send(user_id, chat_id, voice=True)

    async def send_contact(
        self, user_id: int, phone: str, first_name: str, chat_id: int | None = None
    ) -> JSON:
        return await self.send(
            user_id, chat_id, contact={"phone_number": phone, "first_name": first_name}
        )

    async def press(self, user_id: int, chat_id: int, message_id: int, data: str) -> str:
        """Press the inline button carrying `data`; returns the callback_query_id."""
        body = {
            "bot_token": self.bot_token,
            "user_id": user_id,
            "chat_id": chat_id,
            "message_id": message_id,
            "data": data,
        }
        return str((await self._post("press", body))["callback_query_id"])

    async def press_button(self, user_id: int, message: JSON, label_contains: str) -> str:
        """Press the button whose label contains this text, on a message from the bot."""
        data = button_data(message, label_contains)
        return await self.press(user_id, message["chat"]["id"], message["message_id"], data)

    # ---- the test's eyes ----------------------------------------------------------------

    async def callback_answer(
        self,
        callback_query_id: str,
        timeout: float = 5,  # noqa: ASYNC109 - the server long-polls for this long
    ) -> JSON:
        return dict(await self._get(f"callback_answer/{callback_query_id}", timeout=timeout))

    async def messages(self, chat_id: int) -> list[JSON]:
        return list(await self._get(f"chats/{chat_id}/messages"))

    async def bot_messages(self, chat_id: int) -> list[JSON]:
        return [m for m in await self.messages(chat_id) if m["from_bot"] and not m["deleted"]]

    async def keyboard(self, chat_id: int) -> JSON | None:
        keyboard = await self._get(f"chats/{chat_id}/keyboard")
        return dict(keyboard) if keyboard else None

    async def stats(self) -> JSON:
        return dict(await self._get("stats"))

    async def events(
        self,
        since: int = 0,
        timeout: float = 0,  # noqa: ASYNC109 - the server long-polls for this long
    ) -> JSON:
        return dict(await self._get("events", since=since, timeout=timeout))

    async def fault(
        self,
        method: str,
        kind: str,
        count: int = 1,
        chat_id: int | None = None,
        retry_after: int | None = None,
        delay: float | None = None,
    ) -> None:
        await self._post(
            "faults",
            _drop_none(
                {
                    "method": method,
                    "kind": kind,
                    "count": count,
                    "chat_id": chat_id,
                    "retry_after": retry_after,
                    "delay": delay,
                }
            ),
        )

    async def clear_faults(self) -> None:
        await self._call("DELETE", "faults")

    async def rate_limits(self, enabled: bool, **limits: float) -> JSON:
        """Turn flood limits on/off; limits: overall_per_s, private_per_s, private_burst,
        group_per_min, group_window_s (60: group_per_min is per this many seconds)."""
        return dict(await self._post("rate_limits", {"enabled": enabled, **limits}))

    # ---- waiting without sleeping -------------------------------------------------------

    async def wait_for(
        self,
        probe: Callable[[], Awaitable[T | None]],
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline across many server long-polls
        what: str = "condition",
    ) -> T:
        """Re-run `probe` after every bot action until it returns something other than None
        or False; raises AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        cursor = int((await self.events(since=-1))["last"])
        while True:
            result = await probe()
            if result is not None and result is not False:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{what} not reached within {timeout}s")
            # Capped so that state changes which are not bot actions are still noticed.
            batch = await self.events(since=cursor, timeout=min(remaining, 0.5))
            cursor = int(batch["last"])

    async def until(
        self,
        check: Callable[[], Awaitable[bool]],
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline across many server long-polls
    ) -> None:
        async def probe() -> bool | None:
            return True if await check() else None

        await self.wait_for(probe, timeout, what=getattr(check, "__name__", "condition"))

    async def wait_for_bot_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline across many server long-polls
    ) -> list[JSON]:
        """The chat's live bot messages once there are at least `count` of them."""

        async def probe() -> list[JSON] | None:
            messages = await self.bot_messages(chat_id)
            return messages if len(messages) >= count else None

        try:
            return await self.wait_for(probe, timeout)
        except AssertionError:
            held = await self.messages(chat_id)
            lines = [
                f"  {'bot' if m['from_bot'] else 'person'}"
                f"{' (deleted)' if m['deleted'] else ''}: {text_of(m)[:120]!r}"
                for m in held
            ]
            raise AssertionError(
                f"chat {chat_id} has {len(await self.bot_messages(chat_id))} bot message(s) "
                f"after {timeout}s, wanted {count}; it holds:\n" + "\n".join(lines or ["  -"])
            ) from None


def text_of(message: JSON) -> str:
    return str(message.get("text") or message.get("caption") or "")


def buttons_of(message: JSON) -> list[list[str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [[str(button["text"]) for button in row] for row in rows]


def button_data(message: JSON, label_contains: str) -> str:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    for row in rows:
        for button in row:
            if label_contains.lower() in str(button["text"]).lower() and "callback_data" in button:
                return str(button["callback_data"])
    raise AssertionError(f"no button containing {label_contains!r}; buttons: {buttons_of(message)}")
