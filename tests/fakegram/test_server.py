"""The local Telegram answers like the real one: shapes, validation, updates, files, faults."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from fakegram.client import Fakegram, FakegramProcess, button_data, buttons_of, text_of
from fakegram.images import has_gps, jpeg, png, size_of

TOKEN = "7000000001:AAFakegramLocalTelegramBotToken000001"
NOT_MODIFIED = "Bad Request: message is not modified"


class BotHttp:
    """Calls the Bot API the way python-telegram-bot does: form fields, objects as JSON text."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str = TOKEN) -> None:
        self.session = session
        self.base = f"{url}/bot{token}"
        self.files = f"{url}/file/bot{token}"

    @staticmethod
    def _form(params: dict[str, Any]) -> dict[str, str]:
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}

    async def call(self, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
        async with self.session.post(f"{self.base}/{method}", data=self._form(params)) as resp:
            return resp.status, await resp.json()

    async def ok(self, method: str, **params: Any) -> Any:
        status, body = await self.call(method, **params)
        assert status == 200 and body["ok"], body
        return body["result"]

    async def upload(
        self, method: str, files: dict[str, tuple[str, bytes, str]], **params: Any
    ) -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        for key, value in self._form(params).items():
            form.add_field(key, value)
        for key, (name, data, mime) in files.items():
            form.add_field(key, data, filename=name, content_type=mime)
        async with self.session.post(f"{self.base}/{method}", data=form) as resp:
            return resp.status, await resp.json()


@pytest.fixture(scope="module")
def server() -> Iterator[FakegramProcess]:
    process = FakegramProcess.spawn()
    yield process
    process.stop()


@pytest.fixture
async def tg(server: FakegramProcess) -> AsyncIterator[Fakegram]:
    async with Fakegram(server.url, TOKEN) as client:
        await client.reset()
        yield client


@pytest.fixture
async def api(server: FakegramProcess) -> AsyncIterator[BotHttp]:
    async with aiohttp.ClientSession() as session:
        yield BotHttp(session, server.url)


async def rider(tg: Fakegram, name: str = "小王") -> int:
    """A person who has opened the bot, so it may write to them."""
    user = await tg.user(name)
    await tg.send_text(user["id"], "/start")
    return int(user["id"])


async def test_get_me_names_the_bot(tg: Fakegram, api: BotHttp) -> None:
    me = await api.ok("getMe")
    assert me["id"] == 7000000001 and me["is_bot"] and me["username"] == "suishoubao_bot"


@pytest.mark.parametrize(
    ("method", "params", "code", "description"),
    [
        ("sendPigeon", {"chat_id": 1}, 404, "Not Found"),
        (
            "sendMessage",
            {"chat_id": 1, "text": "hi", "colour": "red"},
            400,
            "Bad Request: unknown parameter colour",
        ),
        ("sendMessage", {"chat_id": 1}, 400, "Bad Request: message text is empty"),
        (
            "sendMessage",
            {"chat_id": 1, "text": "hi", "disable_notification": "perhaps"},
            400,
            'Bad Request: wrong type of the parameter "disable_notification"',
        ),
        (
            "deleteMessage",
            {"chat_id": 1, "message_id": "first"},
            400,
            'Bad Request: wrong type of the parameter "message_id"',
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "长" * 4097},
            400,
            "Bad Request: message is too long",
        ),
        (
            "sendMessage",
            {
                "chat_id": 1,
                "text": "x",
                "reply_markup": {
                    "inline_keyboard": [[{"text": "Claim", "callback_data": "c" * 65}]]
                },
            },
            400,
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "Claim"}]]}},
            400,
            "Bad Request: can't parse inline keyboard button",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "<b>bold</i>", "parse_mode": "HTML"},
            400,
            "Bad Request: can't parse entities: Unmatched end tag",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "<blink>x</blink>", "parse_mode": "HTML"},
            400,
            'Bad Request: can\'t parse entities: Unsupported start tag "blink"',
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "#12 done.", "parse_mode": "MarkdownV2"},
            400,
            "Bad Request: can't parse entities: Character '#' is reserved",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": "{not json"},
            400,
            "Bad Request: can't parse reply_markup JSON object",
        ),
        (
            "setMyCommands",
            {"commands": [{"command": "Start", "description": "go"}]},
            400,
            "Bad Request: BOT_COMMAND_INVALID",
        ),
        (
            "sendGame",
            {"chat_id": 1, "game_short_name": "x"},
            400,
            "Bad Request: method sendGame is not supported by the local Telegram",
        ),
    ],
)
async def test_bad_requests_are_refused_in_telegrams_shape(
    tg: Fakegram,
    api: BotHttp,
    method: str,
    params: dict[str, Any],
    code: int,
    description: str,
) -> None:
    status, body = await api.call(method, **params)
    assert status == code
    assert body["ok"] is False and body["error_code"] == code
    assert body["description"].startswith(description), body["description"]


async def test_text_limit_counts_characters_after_html_parsing(tg: Fakegram, api: BotHttp) -> None:
    chat = await rider(tg)
    sent = await api.ok(
        "sendMessage", chat_id=chat, parse_mode="HTML", text="<b>" + "长" * 4094 + "</b>&lt;&gt;"
    )
    assert sent["text"] == "长" * 4094 + "<>"
    assert sent["entities"] == [{"type": "bold", "offset": 0, "length": 4094}]
    status, body = await api.call(
        "sendMessage", chat_id=chat, parse_mode="HTML", text="<b>" + "长" * 4096 + "</b>&amp;"
    )
    assert (status, body["description"]) == (400, "Bad Request: message is too long")


async def test_private_chat_needs_the_person_to_start_the_bot(tg: Fakegram, api: BotHttp) -> None:
    stranger = await tg.user("陌生人")
    status, body = await api.call("sendMessage", chat_id=stranger["id"], text="hi")
    assert (status, body["description"]) == (
        403,
        "Forbidden: bot can't initiate conversation with a user",
    )
    status, body = await api.call("sendMessage", chat_id=424242, text="hi")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")


async def test_long_poll_returns_as_soon_as_an_update_arrives(tg: Fakegram, api: BotHttp) -> None:
    user = await tg.user("小王")
    poll = asyncio.create_task(api.ok("getUpdates", timeout=10))
    for _ in range(3):  # other calls come and go while the poll waits
        await tg.stats()
    assert not poll.done()
    await tg.send_text(user["id"], "/start")
    started = time.monotonic()
    updates = await poll
    assert time.monotonic() - started < 2
    (update,) = updates
    message = update["message"]
    assert message["text"] == "/start"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert message["chat"] == {"id": user["id"], "type": "private", "first_name": "小王"}

    # Asking again without an offset repeats it; the offset confirms it.
    assert (await api.ok("getUpdates"))[0]["update_id"] == update["update_id"]
    assert await api.ok("getUpdates", offset=update["update_id"] + 1) == []
    assert (await tg.stats())["pending_updates"][TOKEN] == 0


async def test_allowed_updates_filters_what_the_bot_receives(tg: Fakegram, api: BotHttp) -> None:
    user = await tg.user("小王")
    assert await api.ok("getUpdates", allowed_updates=["callback_query"]) == []
    await tg.send_text(user["id"], "hello")
    assert await api.ok("getUpdates") == []


async def test_photo_upload_comes_back_as_sizes_and_downloads(tg: Fakegram, api: BotHttp) -> None:
    chat = await rider(tg)
    status, body = await api.upload(
        "sendPhoto",
        {"photo": ("report.jpg", jpeg(1600, 1200, exif=True), "image/jpeg")},
        chat_id=chat,
        caption="<b>#7</b> 🧹 环境卫生",
        parse_mode="HTML",
    )
    assert status == 200, body
    message = body["result"]
    sizes = message["photo"]
    assert len(sizes) >= 2
    assert sizes[-1]["width"] * sizes[-1]["height"] > sizes[0]["width"] * sizes[0]["height"]
    assert (sizes[-1]["width"], sizes[-1]["height"]) == (1280, 960)
    assert message["caption"] == "#7 🧹 环境卫生"
    assert message["caption_entities"] == [{"type": "bold", "offset": 0, "length": 2}]

    file = await api.ok("getFile", file_id=sizes[-1]["file_id"])
    async with api.session.get(f"{api.files}/{file['file_path']}") as response:
        data = await response.read()
    assert response.status == 200 and len(data) == file["file_size"]
    assert size_of(data) == (1280, 960)
    assert not has_gps(data)  # Telegram recompresses photos and drops their metadata

    # The same photo again by file_id, to a group.
    group = await tg.group("龙泉社区工作群")
    again = await api.ok("sendPhoto", chat_id=group["id"], photo=sizes[-1]["file_id"])
    assert again["photo"] == sizes
    status, body = await api.call("sendPhoto", chat_id=group["id"], photo="no-such-file")
    assert body["description"] == "Bad Request: wrong file identifier/HTTP URL specified"


async def test_a_riders_document_keeps_its_bytes_and_huge_files_cannot_be_fetched(
    tg: Fakegram,
    api: BotHttp,
) -> None:
    user = await tg.user("小王")
    original = jpeg(exif=True)
    sent = await tg.send_document(user["id"], original, "IMG_0001.jpg", "image/jpeg")
    file = await api.ok("getFile", file_id=sent["document"]["file_id"])
    async with api.session.get(f"{api.files}/{file['file_path']}") as response:
        assert await response.read() == original  # a file is not recompressed: GPS included
    huge = await tg.send_document(user["id"], b"x", "video.mp4", "video/mp4", size=30 << 20)
    status, body = await api.call("getFile", file_id=huge["document"]["file_id"])
    assert (status, body["description"]) == (400, "Bad Request: file is too big")


async def test_edits_are_real_and_an_unchanged_edit_is_refused(tg: Fakegram, api: BotHttp) -> None:
    chat = await rider(tg)
    keyboard = {"inline_keyboard": [[{"text": "接单 Claim", "callback_data": "v1:claim:7"}]]}
    sent = await api.ok("sendMessage", chat_id=chat, text="#7 open", reply_markup=keyboard)
    assert sent["reply_markup"] == keyboard

    edited = await api.ok(
        "editMessageText",
        chat_id=chat,
        message_id=sent["message_id"],
        text="#7 claimed",
        reply_markup=keyboard,
    )
    assert edited["text"] == "#7 claimed" and "edit_date" in edited
    status, body = await api.call(
        "editMessageText",
        chat_id=chat,
        message_id=sent["message_id"],
        text="#7 claimed",
        reply_markup=keyboard,
    )
    assert status == 400 and body["description"].startswith(NOT_MODIFIED)

    # An edit that does not repeat the keyboard removes it, as on Telegram.
    await api.ok("editMessageText", chat_id=chat, message_id=sent["message_id"], text="#7 done")
    (shown,) = await tg.bot_messages(chat)
    assert shown["edits"] == 2 and "reply_markup" not in shown
    assert [v["text"] for v in shown["history"]] == ["#7 open", "#7 claimed"]

    status, body = await api.call("editMessageText", chat_id=chat, message_id=999, text="x")
    assert body["description"] == "Bad Request: message to edit not found"
    assert await api.ok("deleteMessage", chat_id=chat, message_id=sent["message_id"])
    status, body = await api.call("deleteMessage", chat_id=chat, message_id=sent["message_id"])
    assert body["description"] == "Bad Request: message to delete not found"
    assert (await tg.messages(chat))[-1]["deleted"] is True


async def test_ptb_style_multipart_with_a_keyboard_and_a_button_press(
    tg: Fakegram,
    api: BotHttp,
) -> None:
    staff = await tg.user("李姐")
    group = await tg.group("龙泉社区工作群", members=[(staff["id"], "administrator")])
    markup = {
        "inline_keyboard": [
            [
                {"text": "接单 Claim", "callback_data": "v1:claim:7"},
                {"text": "退回 Reject", "callback_data": "v1:reject:7"},
            ]
        ]
    }
    status, body = await api.upload(
        "sendPhoto",
        {"photo": ("photo.jpg", jpeg(), "application/octet-stream")},
        chat_id=str(group["id"]),
        caption="#7 <i>overflowing bin</i>",
        parse_mode="HTML",
        reply_markup=markup,
        disable_notification=True,
    )
    assert status == 200, body
    card = body["result"]
    assert buttons_of(card) == [["接单 Claim", "退回 Reject"]]
    query = await tg.press(staff["id"], group["id"], card["message_id"], button_data(card, "Claim"))

    updates = await api.ok("getUpdates")
    press = next(u["callback_query"] for u in updates if "callback_query" in u)
    assert press["id"] == query and press["data"] == "v1:claim:7"
    assert press["message"]["message_id"] == card["message_id"]
    assert await api.ok("answerCallbackQuery", callback_query_id=query, text="已接单")
    assert await tg.callback_answer(query) == {
        "answered": True,
        "text": "已接单",
        "show_alert": False,
        "url": None,
    }
    status, body = await api.call("answerCallbackQuery", callback_query_id=query)
    assert status == 400  # a query is answered once


async def test_json_bodies_are_accepted_with_real_objects(
    tg: Fakegram, server: FakegramProcess, api: BotHttp
) -> None:
    chat = await rider(tg)
    body = {
        "chat_id": chat,
        "text": "请发送位置",
        "reply_markup": {
            "keyboard": [[{"text": "📍 发送位置", "request_location": True}], ["取消"]],
            "one_time_keyboard": True,
            "resize_keyboard": True,
        },
    }
    async with api.session.post(f"{api.base}/SENDMESSAGE", json=body) as response:
        assert response.status == 200, await response.text()
    keyboard = await tg.keyboard(chat)
    assert keyboard is not None and keyboard["keyboard"][1] == [{"text": "取消"}]
    await tg.send_location(chat, 36.115, 113.207)
    assert await tg.keyboard(chat) is None  # one-time keyboards hide once used


async def test_a_migrated_group_answers_with_its_new_id(tg: Fakegram, api: BotHttp) -> None:
    staff = await tg.user("李姐")
    old = await tg.group("旧群", members=[(staff["id"], "creator")], type="group")
    assert old["id"] < 0 and old["type"] == "group"
    new = await tg.migrate(old["id"])
    status, body = await api.call("sendMessage", chat_id=old["id"], text="hi")
    assert status == 400
    assert body["description"] == "Bad Request: group chat was upgraded to a supergroup chat"
    assert body["parameters"] == {"migrate_to_chat_id": new["id"]}
    kinds = [next(k for k in u if k != "update_id") for u in await api.ok("getUpdates")]
    assert kinds == ["my_chat_member", "message", "message"]
    assert await api.ok("sendMessage", chat_id=new["id"], text="hi")


async def test_a_kicked_bot_is_told_so(tg: Fakegram, api: BotHttp) -> None:
    staff = await tg.user("李姐")
    group = await tg.group("龙泉社区工作群", members=[(staff["id"], "creator")])
    member = await api.ok("getChatMember", chat_id=group["id"], user_id=staff["id"])
    assert member["status"] == "creator" and member["user"]["id"] == staff["id"]
    assert (await api.ok("getChatMember", chat_id=group["id"], user_id=5))["status"] == "left"
    await tg.remove_bot(group["id"])
    status, body = await api.call("sendMessage", chat_id=group["id"], text="hi")
    assert (status, body["description"]) == (
        403,
        "Forbidden: bot was kicked from the supergroup chat",
    )
    changes = [u["my_chat_member"] for u in await api.ok("getUpdates")]
    assert [(c["old_chat_member"]["status"], c["new_chat_member"]["status"]) for c in changes] == [
        ("left", "administrator"),
        ("administrator", "kicked"),
    ]


async def test_injected_faults(tg: Fakegram, api: BotHttp) -> None:
    chat = await rider(tg)
    await tg.fault("sendMessage", "429", retry_after=3)
    status, body = await api.call("sendMessage", chat_id=chat, text="a")
    assert status == 429 and body["parameters"] == {"retry_after": 3}
    assert body["description"] == "Too Many Requests: retry after 3"

    await tg.fault("*", "500", chat_id=chat)
    status, body = await api.call("sendMessage", chat_id=chat, text="b")
    assert (status, body["description"]) == (500, "Internal Server Error")

    await tg.fault("sendMessage", "drop")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("sendMessage", chat_id=chat, text="dropped before")
    await tg.fault("sendMessage", "drop_after")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("sendMessage", chat_id=chat, text="dropped after")
    assert [m["text"] for m in await tg.bot_messages(chat)] == ["dropped after"]

    await tg.fault("sendMessage", "slow", delay=0.3)
    started = time.monotonic()
    assert await api.ok("sendMessage", chat_id=chat, text="late")
    assert time.monotonic() - started >= 0.3
    stats = await tg.stats()
    assert stats["errors"] == {"429": 1, "500": 1}
    assert stats["by_chat"] == {str(chat): 2}


async def test_a_group_gets_twenty_messages_a_minute(tg: Fakegram, api: BotHttp) -> None:
    group = await tg.group("龙泉社区工作群")
    await tg.rate_limits(True)
    for n in range(20):
        await api.ok("sendMessage", chat_id=group["id"], text=f"#{n}")
    status, body = await api.call("sendMessage", chat_id=group["id"], text="#21")
    assert status == 429
    assert 1 <= body["parameters"]["retry_after"] <= 60
    # Edits are not counted against the group's 20 a minute.
    first = (await tg.bot_messages(group["id"]))[0]
    await api.ok(
        "editMessageText", chat_id=group["id"], message_id=first["message_id"], text="#0 edited"
    )
    assert (await tg.stats())["rate_limited"] == 1


async def test_updates_are_pushed_to_a_webhook_with_the_secret(tg: Fakegram, api: BotHttp) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    arrived = asyncio.Event()
    attempts = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return web.Response(status=500)  # the bot stumbles once; Telegram retries
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        arrived.set()
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        user = await tg.user("小王")
        await api.ok("setWebhook", url=f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        status, body = await api.call("getUpdates")
        assert status == 409 and body["description"].startswith("Conflict:")
        await tg.send_text(user["id"], "hello")
        await asyncio.wait_for(arrived.wait(), 5)
        ((secret, update),) = received
        assert secret == "s3cret" and update["message"]["text"] == "hello"
        info = await api.ok("getWebhookInfo")
        assert info["last_error_message"].startswith("Wrong response from the webhook: 500")
        assert await api.ok("deleteWebhook")
    finally:
        await runner.cleanup()


async def test_waiting_for_bot_messages_follows_events(tg: Fakegram, api: BotHttp) -> None:
    chat = await rider(tg)

    reply = asyncio.create_task(api.ok("sendMessage", chat_id=chat, text="收到 #1"))
    (message,) = await tg.wait_for_bot_messages(chat, 1, timeout=5)
    await reply
    assert text_of(message) == "收到 #1"
    with pytest.raises(AssertionError, match="wanted 2"):
        await tg.wait_for_bot_messages(chat, 2, timeout=0.2)


async def test_query_strings_and_get_work_too(
    tg: Fakegram, server: FakegramProcess, api: BotHttp
) -> None:
    group = await tg.group("龙泉社区工作群")
    async with api.session.get(f"{api.base}/getChat", params={"chat_id": group["id"]}) as resp:
        chat = (await resp.json())["result"]
    assert (chat["id"], chat["type"]) == (group["id"], "supergroup")
    assert chat["title"] == "龙泉社区工作群"


async def test_a_bot_without_admin_rights_sees_commands_and_replies_only(
    tg: Fakegram,
    api: BotHttp,
) -> None:
    staff = await tg.user("李姐")
    group = await tg.group("随便一个群", members=[(staff["id"], "member")], bot_status="member")
    (joined,) = await api.ok("getUpdates")
    assert joined["my_chat_member"]["new_chat_member"]["status"] == "member"
    await api.ok("getUpdates", offset=joined["update_id"] + 1)
    prompt = await api.ok("sendMessage", chat_id=group["id"], text="请回复办结说明")
    await tg.send_text(staff["id"], "大家好", chat_id=group["id"])
    await tg.send_text(staff["id"], "/link@suishoubao_bot longquan", chat_id=group["id"])
    await tg.send_text(staff["id"], "已清理", chat_id=group["id"], reply_to=prompt["message_id"])
    updates = await api.ok("getUpdates")
    seen = [u["message"] for u in updates]
    assert [m["text"] for m in seen] == ["/link@suishoubao_bot longquan", "已清理"]
    assert seen[0]["entities"][0] == {"type": "bot_command", "offset": 0, "length": 20}
    assert seen[1]["reply_to_message"]["message_id"] == prompt["message_id"]
    assert len(await tg.messages(group["id"])) == 4  # the chat itself holds everything


async def test_a_private_chat_allows_a_short_burst_then_one_a_second(
    tg: Fakegram, api: BotHttp
) -> None:
    chat = await rider(tg)
    await tg.rate_limits(True)
    for n in range(3):
        await api.ok("sendMessage", chat_id=chat, text=f"{n}")
    status, body = await api.call("sendMessage", chat_id=chat, text="too fast")
    assert (status, body["parameters"]) == (429, {"retry_after": 1})
    await tg.rate_limits(False)
    assert await api.ok("sendMessage", chat_id=chat, text="fine")


async def test_an_album_and_a_replaced_photo(tg: Fakegram, api: BotHttp) -> None:
    group = await tg.group("龙泉社区工作群")
    media = [
        {"type": "photo", "media": "attach://one", "caption": "before"},
        {"type": "photo", "media": "attach://two"},
    ]
    status, body = await api.upload(
        "sendMediaGroup",
        {
            "one": ("1.jpg", jpeg(color=(1, 1, 1)), "image/jpeg"),
            "two": ("2.jpg", jpeg(color=(2, 2, 2)), "image/jpeg"),
        },
        chat_id=group["id"],
        media=media,
    )
    assert status == 200, body
    first, second = body["result"]
    assert first["media_group_id"] == second["media_group_id"] and first["caption"] == "before"
    status, body = await api.upload(
        "editMessageMedia",
        {"fix": ("fix.png", png(), "image/png")},
        chat_id=group["id"],
        message_id=first["message_id"],
        media={"type": "photo", "media": "attach://fix", "caption": "after"},
    )
    assert status == 200, body
    assert body["result"]["caption"] == "after"
    assert body["result"]["photo"][-1]["file_id"] != first["photo"][-1]["file_id"]
    assert await tg.download(body["result"]["photo"][-1]["file_id"])


async def test_a_blocked_bot_is_forbidden(tg: Fakegram, api: BotHttp) -> None:
    chat = await rider(tg)
    await tg.block(chat)
    status, body = await api.call("sendMessage", chat_id=chat, text="hi")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")


async def test_a_stale_or_forged_press_still_reaches_the_bot(tg: Fakegram, api: BotHttp) -> None:
    chat = await rider(tg)
    sent = await api.ok(
        "sendMessage",
        chat_id=chat,
        text="选择类别",
        reply_markup={"inline_keyboard": [[{"text": "🧹", "callback_data": "v1:cat:sanitation"}]]},
    )
    await api.ok("editMessageReplyMarkup", chat_id=chat, message_id=sent["message_id"])
    await tg.press(chat, chat, sent["message_id"], "v1:cat:sanitation")
    updates = await api.ok("getUpdates")
    press = updates[-1]["callback_query"]
    assert press["data"] == "v1:cat:sanitation" and "reply_markup" not in press["message"]
