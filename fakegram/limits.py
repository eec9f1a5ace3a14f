"""Telegram's flood limits and the injected faults, both consulted before a call takes effect.

Rate limits (per bot), as the Bot API FAQ states them:
- at most `overall_per_s` (30) sending calls per second overall: a sliding one-second window;
- at most `private_per_s` (1) message per second in one private chat. Telegram tolerates short
  bursts there, so this is a token bucket refilled at 1/s holding `private_burst` (3) tokens;
- at most `group_per_min` (20) messages per minute in one group or supergroup: a sliding
  sixty-second window (`group_window_s`, which tests shorten to run Telegram's limits faster).
"Sending calls" are send*/copy*/forward* (not sendChatAction); an album counts one per item.
Edits, deletions and callback answers are not counted: Telegram throttles floods of edits with
its own undocumented budget, and counting them against the 20/min would make the fake stricter
than the real service for a bot that edits its cards in place.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fakegram.errors import ApiError

FAULT_KINDS = ("429", "500", "502", "slow", "drop", "drop_after")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def is_sending(method: str) -> bool:
    return method.startswith(("send", "copy", "forward")) and method != "sendChatAction"


@dataclass
class Reservation:
    """What one call took from the budgets, so a call that fails can give it back."""

    windows: list[tuple[deque[float], float]] = field(default_factory=list)
    bucket: tuple[list[float], float] | None = None


@dataclass
class RateLimiter:
    enabled: bool = False
    overall_per_s: int = 30
    private_per_s: float = 1.0
    private_burst: float = 3.0
    group_per_min: int = 20
    group_window_s: float = 60.0
    _overall: dict[int, deque[float]] = field(default_factory=dict)
    _groups: dict[tuple[int, int], deque[float]] = field(default_factory=dict)
    _private: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # [tokens, at]

    def configure(self, settings: dict[str, Any]) -> None:
        self.enabled = bool(settings.get("enabled", self.enabled))
        self.overall_per_s = int(settings.get("overall_per_s", self.overall_per_s))
        self.private_per_s = float(settings.get("private_per_s", self.private_per_s))
        self.private_burst = float(settings.get("private_burst", self.private_burst))
        self.group_per_min = int(settings.get("group_per_min", self.group_per_min))
        self.group_window_s = float(settings.get("group_window_s", self.group_window_s))
        self.clear()

    def clear(self) -> None:
        self._overall.clear()
        self._groups.clear()
        self._private.clear()

    def settings(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "overall_per_s": self.overall_per_s,
            "private_per_s": self.private_per_s,
            "private_burst": self.private_burst,
            "group_per_min": self.group_per_min,
            "group_window_s": self.group_window_s,
        }

    def reserve(
        self, bot_id: int, chat_id: int | None, chat_type: str | None, count: int
    ) -> Reservation:
        """Take `count` messages from every budget that applies, or raise the 429."""
        reservation = Reservation()
        if not self.enabled:
            return reservation
        now = time.monotonic()
        overall = self._overall.setdefault(bot_id, deque())
        waits = [_window_wait(overall, now, 1.0, self.overall_per_s, count)]
        group: deque[float] | None = None
        bucket: list[float] | None = None
        if chat_id is not None and chat_type in ("group", "supergroup"):
            group = self._groups.setdefault((bot_id, chat_id), deque())
            waits.append(_window_wait(group, now, self.group_window_s, self.group_per_min, count))
        elif chat_id is not None and chat_type == "private":
            bucket = self._private.setdefault((bot_id, chat_id), [self.private_burst, now])
            bucket[0] = min(self.private_burst, bucket[0] + (now - bucket[1]) * self.private_per_s)
            bucket[1] = now
            if bucket[0] < count:
                waits.append((count - bucket[0]) / self.private_per_s)
        wait = max(waits)
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        for window in (overall, group):
            if window is not None:
                window.extend([now] * count)
                reservation.windows.extend([(window, now)] * count)
        if bucket is not None:
            bucket[0] -= count
            reservation.bucket = (bucket, float(count))
        return reservation

    def refund(self, reservation: Reservation) -> None:
        for window, stamp in reservation.windows:
            with contextlib.suppress(ValueError):  # already aged out of the window
                window.remove(stamp)
        if reservation.bucket is not None:
            bucket, count = reservation.bucket
            bucket[0] = min(self.private_burst, bucket[0] + count)


def _window_wait(window: deque[float], now: float, span: float, limit: int, count: int) -> float:
    while window and window[0] <= now - span:
        window.popleft()
    excess = len(window) + count - limit
    if excess <= 0:
        return 0.0
    if excess > len(window):  # more than the whole budget at once: wait a full window
        return span
    return window[excess - 1] + span - now


@dataclass
class Fault:
    method: str  # canonical method name or "*"
    kind: str
    count: int
    chat_id: int | None = None
    retry_after: int = 5
    delay: float = 1.0

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.method != "*" and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "kind": self.kind,
            "count": self.count,
            "chat_id": self.chat_id,
            "retry_after": self.retry_after,
            "delay": self.delay,
        }


@dataclass
class Faults:
    pending: list[Fault] = field(default_factory=list)
    triggered: int = 0

    def add(self, fault: Fault) -> None:
        self.pending.append(fault)

    def clear(self) -> None:
        self.pending.clear()

    def take(self, method: str, chat_id: int | None) -> Fault | None:
        """The first armed fault for this call, consuming one of its count."""
        for fault in self.pending:
            if fault.matches(method, chat_id):
                fault.count -= 1
                if fault.count <= 0:
                    self.pending.remove(fault)
                self.triggered += 1
                return fault
        return None
