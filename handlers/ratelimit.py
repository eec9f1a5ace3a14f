"""Flood limits: PTB's AIORateLimiter paces overall and per group; we add per private chat."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.ext import AIORateLimiter

# Calls that put a new message in a chat; edits and callback answers are not paced by Telegram.
SENDS = ("send", "copymessage", "forwardmessage")


class FloodLimiter(AIORateLimiter):
    """Telegram's limits: ~30 messages/s overall, 20/min per group, ~1/s per private chat."""

    def __init__(self, *, private_burst: int = 3, private_interval_s: float = 1.1) -> None:
        # A 429 that still comes back is not retried here but handed to the delivery worker.
        super().__init__(max_retries=0)
        self._burst = private_burst
        self._interval = private_interval_s
        self._private: OrderedDict[int, AsyncLimiter] = OrderedDict()

    def _limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._private.pop(chat_id, None)
        if limiter is None:
            limiter = AsyncLimiter(self._burst, self._burst * self._interval)
        self._private[chat_id] = limiter
        # Keep the riders seen lately; a bucket unused for a while is full again anyway.
        while len(self._private) > 20_000:
            self._private.popitem(last=False)
        return limiter

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = _private_chat(data.get("chat_id"))
        if (
            chat_id is not None
            and endpoint.lower().startswith(SENDS)
            and endpoint != "sendChatAction"
        ):
            async with self._limiter(chat_id):
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


def _private_chat(chat_id: object) -> int | None:
    try:
        value = int(str(chat_id))
    except ValueError:
        return None
    return value if value > 0 else None
