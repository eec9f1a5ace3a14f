"""Flood limits: PTB's AIORateLimiter paces the overall rate; we pace each group and rider."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.ext import AIORateLimiter

# Calls that put a new message in a chat; edits and callback answers are not paced by Telegram.
SENDS = ("send", "copymessage", "forwardmessage")
# Chats remembered at once; a pace unused for a while is as good as new anyway.
REMEMBERED = 20_000


class GroupPace:
    """At most `limit` messages in any `window_s` seconds in one group, as Telegram counts them.

    A quiet group gets its first messages at once; once half the window's budget is used, its
    messages start one every window_s / limit, evenly spaced, so a message that jumps the
    delivery queue (a flooded group's list of waiting reports) waits one slot, not the rest of a
    window. The window counts a message from when Telegram answered it, never before Telegram
    counted it, so network delays cannot make a window look emptier than Telegram sees it.
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.lock = asyncio.Lock()  # one message at a time, first come first served
        self.sent: deque[float] = deque()  # when Telegram answered each message of the window
        self.started = -math.inf  # when the latest message was handed to Telegram

    def wait_s(self, now: float) -> float:
        """How long the next message must wait (zero or less: it may go now)."""
        self._forget(now)
        wait = 0.0
        if len(self.sent) >= self.limit:
            wait = self.sent[-self.limit] + self.window_s - now
        if len(self.sent) >= self.limit // 2:
            wait = max(wait, self.started + self.window_s / self.limit - now)
        return wait

    def idle(self, now: float) -> bool:
        self._forget(now)
        return not self.sent and not self.lock.locked()

    def _forget(self, now: float) -> None:
        while self.sent and self.sent[0] <= now - self.window_s:
            self.sent.popleft()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self.lock:
            # Only the lock's holder adds to `sent`, so one wait is enough.
            await asyncio.sleep(max(0.0, self.wait_s(time.monotonic())))
            self.started = time.monotonic()
            try:
                yield
            finally:
                self.sent.append(time.monotonic())


class FloodLimiter(AIORateLimiter):
    """Telegram's limits: ~30 messages/s overall, 20/min per group, ~1/s per private chat.

    The defaults are Telegram's; tests that run time faster pass every limit scaled alike.
    """

    def __init__(
        self,
        *,
        overall_per_s: float = 30,
        group_per_window: int = 20,
        group_window_s: float = 60,
        private_burst: int = 3,
        private_interval_s: float = 1.1,
    ) -> None:
        # PTB's own group limiter is a leaky bucket that lets a 21st message through three
        # seconds after a burst of 20, which Telegram's per-minute count refuses; GroupPace
        # replaces it. A 429 that still comes back is not retried here but handed to the
        # delivery worker.
        super().__init__(overall_max_rate=overall_per_s, group_max_rate=0, max_retries=0)
        self._group_limit = group_per_window
        self._group_window_s = group_window_s
        self._burst = private_burst
        self._interval = private_interval_s
        self._private: OrderedDict[int, AsyncLimiter] = OrderedDict()
        self._groups: OrderedDict[int | str, GroupPace] = OrderedDict()

    def _limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._private.pop(chat_id, None)
        if limiter is None:
            limiter = AsyncLimiter(self._burst, self._burst * self._interval)
        self._private[chat_id] = limiter
        # Keep the riders seen lately; a bucket unused for a while is full again anyway.
        while len(self._private) > REMEMBERED:
            self._private.popitem(last=False)
        return limiter

    def _pace(self, chat_id: int | str) -> GroupPace:
        pace = self._groups.pop(chat_id, None)
        if pace is None:
            pace = GroupPace(self._group_limit, self._group_window_s)
        self._groups[chat_id] = pace
        if len(self._groups) > REMEMBERED:
            now = time.monotonic()
            for old in [c for c, p in self._groups.items() if c != chat_id and p.idle(now)]:
                del self._groups[old]
        return pace

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        async def overall() -> bool | dict[str, Any] | list[dict[str, Any]]:
            return await super(FloodLimiter, self).process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )

        if not endpoint.lower().startswith(SENDS) or endpoint == "sendChatAction":
            return await overall()
        chat = _chat(data.get("chat_id"))
        if isinstance(chat, int) and chat > 0:
            async with self._limiter(chat):
                return await overall()
        if chat is not None:  # a group or channel, by id or @username
            async with self._pace(chat).slot():
                return await overall()
        return await overall()


def _chat(chat_id: object) -> int | str | None:
    if chat_id is None:
        return None
    try:
        return int(str(chat_id))
    except ValueError:
        return str(chat_id)
