"""One chat's updates in order; other chats alongside, not behind them."""

from __future__ import annotations

import asyncio

from telegram import Update

from handlers.ordering import PerChatOrder


def update(update_id: int, chat_id: int) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": chat_id, "type": "private", "first_name": "R"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "R"},
                "text": "hi",
            },
        },
        None,
    )


async def test_a_chat_waits_for_its_own_earlier_update_but_not_for_other_chats() -> None:
    order = PerChatOrder()
    log: list[str] = []
    gate = asyncio.Event()

    async def slow() -> None:
        log.append("rider 1: photo starts")
        await gate.wait()
        log.append("rider 1: photo done")

    async def then(name: str) -> None:
        log.append(name)

    first = asyncio.create_task(order.process_update(update(1, 1), slow()))
    second = asyncio.create_task(order.process_update(update(2, 1), then("rider 1: location")))
    other = asyncio.create_task(order.process_update(update(3, 2), then("rider 2: photo")))
    await other  # not held up by rider 1's slow update
    assert log == ["rider 1: photo starts", "rider 2: photo"]
    gate.set()
    await asyncio.gather(first, second)
    assert log[2:] == ["rider 1: photo done", "rider 1: location"]
