"""What bench/intake.py and bench/memory.py share: the bot as its own process against the local
Telegram, people who act through the control API and wait for the bot as a person would, one
stream of fakegram events for all of them, and readings of a process from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import signal
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fakegram.client import Fakegram  # noqa: E402

JSON = dict[str, Any]
Event = dict[str, Any]

BOT_TOKEN = "7100009001:AABenchTokenForTheLocalTelegramOnly00"

# A point inside each bundled demo community (bot/data/communities.geojson), and its language.
POINTS: dict[str, tuple[float, float]] = {
    "longquan": (36.115, 113.207),
    "chengbei": (36.125, 113.207),
    "chengnan": (36.105, 113.207),
    "dongguan": (36.115, 113.220),
    "xiguan": (36.115, 113.192),
    "riverside": (36.100, 113.220),
    "huangshan": (36.135, 113.222),
}
LANGUAGE = {c: ("en" if c == "riverside" else "zh") for c in POINTS}
CATEGORIES: list[JSON] = json.loads((ROOT / "bot/data/categories.json").read_text("utf-8"))
FILED = re.compile(r"^✅ .*?#(\d+)")
CARD_NUMBER = re.compile(r"#(\d+)")
LISTED = re.compile(r"^#(\d+) ", re.M)  # a line of a flooded group's list of waiting reports
TEXT_LOG = re.compile(r"\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) +(\S+?)(?: \[[^\]]*\])?: (.*)")


def catalogue(lang: str) -> dict[str, str]:
    """The bot's texts in one language, read as data (labels of buttons, start of sentences)."""
    data: dict[str, str] = json.loads((ROOT / f"bot/locales/{lang}.json").read_text("utf-8"))
    return data


def category_label(category_id: str, lang: str) -> str:
    return str(next(c for c in CATEGORIES if c["id"] == category_id)[lang])


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---- a process, read from /proc ----------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (not its children)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # After the name: state is field 3; utime and stime are fields 14 and 15.
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in MB (10^6 bytes)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            values[name] = int(rest.split()[0]) * 1024 / 1e6
    return values


# ---- the stream of what the bot does -----------------------------------------------------------


class Inbox:
    """What the bot does in one chat, in order. A person marks where they are before they act,
    then waits for what the bot does after that mark; several may wait on one chat at once."""

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id
        self.seen: list[Event] = []
        self._waiters: set[asyncio.Event] = set()

    def mark(self) -> int:
        return len(self.seen)

    def add(self, event: Event) -> None:
        self.seen.append(event)
        for waiter in self._waiters:
            waiter.set()

    async def expect(
        self,
        since: int,
        wanted: Callable[[Event], bool],
        what: str,
        timeout: float,  # noqa: ASYNC109 - a deadline across many events
    ) -> Event:
        """The first event after the mark `since` that `wanted` accepts."""
        deadline = time.monotonic() + timeout
        index = since
        wake = asyncio.Event()
        self._waiters.add(wake)
        try:
            while True:
                while index < len(self.seen):
                    event = self.seen[index]
                    index += 1
                    if wanted(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    shown = [
                        f"{e['kind']} {e['method']}: {text_of(e)[:80]!r}" for e in self.seen[-6:]
                    ]
                    raise BenchError(
                        f"chat {self.chat_id}: no {what} within {timeout:.0f} s; "
                        f"the last the bot did there: {shown or 'nothing'}"
                    )
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=remaining)
        finally:
            self._waiters.discard(wake)


class BenchError(Exception):
    """The bot did not do what a person waited for; the run is not measured."""


@dataclass
class Card:
    number: int
    chat_id: int
    message: JSON
    at: float  # perf_counter when the card was seen


class Watch:
    """One long poll of fakegram's events, handed out per chat; cards in groups are recorded."""

    def __init__(self, tg: Fakegram) -> None:
        self.tg = tg
        self.inboxes: dict[int, Inbox] = {}
        self.groups: set[int] = set()
        self.cards: dict[int, Card] = {}
        # When each report was first on a group's screen in a flood's list of waiting reports.
        self.listed: dict[int, float] = {}
        self.errors: Counter[str] = Counter()
        self._card_seen = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cursor = 0

    def shown(self, number: int) -> float:
        """When the report was first on its group's screen: in a list, or as its card."""
        return min(self.listed.get(number, math.inf), self.cards[number].at)

    def inbox(self, chat_id: int) -> Inbox:
        box = self.inboxes.get(chat_id)
        if box is None:
            box = self.inboxes[chat_id] = Inbox(chat_id)
        return box

    async def start(self) -> None:
        self._cursor = int((await self.tg.events(since=-1))["last"])
        self._task = asyncio.create_task(self._run(), name="fakegram-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            batch = await self.tg.events(since=self._cursor, timeout=5)
            at = time.perf_counter()
            for event in batch["events"]:
                event["at"] = at
                self._take(event)
            self._cursor = int(batch["last"])

    def _take(self, event: Event) -> None:
        chat_id = event.get("chat_id")
        if event["kind"] == "api_error":
            self.errors[f"{event['method']}: {event.get('description')}"] += 1
        if chat_id in self.groups and event["kind"] == "sent" and "photo" not in event["message"]:
            for number in LISTED.findall(text_of(event)):
                self.listed.setdefault(int(number), event["at"])
        if chat_id in self.groups and event["kind"] in ("sent", "edited"):
            message = event.get("message") or {}
            if "photo" in message:
                first = text_of(event).split("\n", 1)[0]
                match = CARD_NUMBER.search(first)
                if match:
                    number = int(match[1])
                    known = self.cards.get(number)
                    if known is None or known.chat_id != chat_id:
                        self.cards[number] = Card(number, int(chat_id), message, event["at"])
                        self._card_seen.set()
                    else:
                        known.message = message
        box = self.inboxes.get(chat_id) if isinstance(chat_id, int) else None
        if box is not None:
            box.add(event)

    async def cards_of(
        self,
        numbers: Sequence[int],
        timeout: float,  # noqa: ASYNC109 - a deadline across many events
    ) -> None:
        """Wait until a card of each of these reports has been posted in a group."""
        deadline = time.monotonic() + timeout
        while True:
            missing = [n for n in numbers if n not in self.cards]
            if not missing:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(
                    f"no card in any group for reports {missing[:10]} (of {len(missing)})"
                )
            self._card_seen.clear()
            try:
                await asyncio.wait_for(self._card_seen.wait(), timeout=remaining)
            except TimeoutError:
                continue


def text_of(event_or_message: JSON) -> str:
    message = event_or_message.get("message", event_or_message)
    return str(message.get("text") or message.get("caption") or "")


def buttons(event_or_message: JSON) -> list[JSON]:
    message = event_or_message.get("message", event_or_message)
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button for row in rows for button in row]


def button_data(event_or_message: JSON, label: str) -> str | None:
    for button in buttons(event_or_message):
        if label in str(button.get("text")) and "callback_data" in button:
            return str(button["callback_data"])
    return None


def sent(event: Event) -> bool:
    return bool(event["kind"] == "sent")


def offers(label: str) -> Callable[[Event], bool]:
    def check(event: Event) -> bool:
        return sent(event) and button_data(event, label) is not None

    return check


def replies_to(message_id: int) -> Callable[[Event], bool]:
    def check(event: Event) -> bool:
        reply = (event.get("message") or {}).get("reply_to_message") or {}
        return sent(event) and reply.get("message_id") == message_id

    return check


# ---- the bot, as its own process ----------------------------------------------------------------


class BotProcess:
    """`python -m bot` against the local Telegram, its log in a file."""

    def __init__(self, url: str, database: Path, log: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_API_URL": url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "COMMUNITIES_FILE": "",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.database = database
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", env=self.env, cwd=ROOT, stdout=sink, stderr=sink
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode

    async def kill(self) -> None:
        """SIGKILL: no clean-up runs, as when the machine or the OOM killer stops it."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text("utf-8", errors="replace").splitlines()[-lines:])

    def problems(self) -> Counter[str]:
        """Warnings and errors in the log (text or JSON lines), by logger and message, with
        numbers blurred so that the same problem counts once."""
        found: Counter[str] = Counter()
        if not self.log.exists():
            return found
        for line in self.log.read_text("utf-8", errors="replace").splitlines():
            level = logger = message = ""
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                level, logger = str(record.get("level")), str(record.get("logger"))
                message = str(record.get("msg"))
            elif match := TEXT_LOG.match(line):
                level, logger, message = match[1], match[2], match[3]
            elif line.startswith("Traceback"):
                found["Traceback"] += 1
            if level in ("WARNING", "ERROR", "CRITICAL"):
                found[f"{level} {logger}: {re.sub(r'[0-9]+', 'N', message)[:140]}"] += 1
        return found

    def outbox(self) -> dict[str, int]:
        """The outbox by state, read from the bot's SQLite file (WAL: a reader never blocks it)."""
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
        finally:
            conn.close()
        return {str(state): int(n) for state, n in rows}

    async def drained(self, timeout: float) -> bool:  # noqa: ASYNC109 - polls the file
        """Wait until the outbox holds nothing pending (everything queued was sent)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox().get("pending", 0) == 0:
                return True
            await asyncio.sleep(0.1)
        return False


# ---- the people --------------------------------------------------------------------------------


@dataclass
class Staffed:
    """A community's staff group and its admin, linked to the community."""

    community: str
    chat_id: int
    admin: JSON


@dataclass
class Town:
    supervisors_chat: int
    boss: JSON
    groups: dict[str, Staffed] = field(default_factory=dict)


async def make_town(tg: Fakegram, watch: Watch) -> Town:
    """A supervisors' chat and one staff group per community (not linked yet)."""
    boss = await tg.user("张主任", language_code="zh-hans")
    supervisors = await tg.group("街道督办", members=[(boss["id"], "creator")])
    town = Town(int(supervisors["id"]), boss)
    watch.inbox(town.supervisors_chat)
    for community in POINTS:
        lang = LANGUAGE[community]
        admin = await tg.user(
            f"Staff {community}" if lang == "en" else f"{community}站长",
            language_code="en" if lang == "en" else "zh-hans",
        )
        group = await tg.group(f"{community} staff", members=[(admin["id"], "administrator")])
        chat_id = int(group["id"])
        town.groups[community] = Staffed(community, chat_id, admin)
        watch.groups.add(chat_id)
        watch.inbox(chat_id)
    return town


async def link_all(
    tg: Fakegram,
    watch: Watch,
    town: Town,
    timeout: float,  # noqa: ASYNC109 - the bot may still be starting
) -> None:
    """An admin of each group sends /link <community>; wait for every reply."""

    async def link(staffed: Staffed) -> None:
        inbox = watch.inbox(staffed.chat_id)
        mark = inbox.mark()
        sent_message = await tg.send_text(
            int(staffed.admin["id"]), f"/link {staffed.community}", chat_id=staffed.chat_id
        )
        await inbox.expect(
            mark, replies_to(int(sent_message["message_id"])), "answer to /link", timeout
        )

    await asyncio.gather(*(link(s) for s in town.groups.values()))


@dataclass
class Filed:
    number: int
    rider_id: int
    community: str
    tapped: float  # perf_counter just before the last tap (Skip)
    # Seconds from each of the rider's four actions to the bot's answer to it.
    waits: tuple[float, ...] = ()


async def file_report(
    tg: Fakegram,
    watch: Watch,
    rider_id: int,
    community: str,
    category: str,
    photo: bytes,
    timeout: float,  # noqa: ASYNC109 - a deadline for each of the bot's answers
    point: tuple[float, float] | None = None,
) -> Filed:
    """Photo, location, category, Skip, each after the bot's answer to the one before; then
    the confirmation, which names the report's number. Riders speak Chinese."""
    inbox = watch.inbox(rider_id)
    zh = catalogue("zh")
    label = category_label(category, "zh")
    skip = zh["skip_button"]
    waits: list[float] = []
    mark, began = inbox.mark(), time.perf_counter()
    await tg.send_photo(rider_id, photo)
    answer = await inbox.expect(mark, sent, "location prompt after the photo", timeout)
    waits.append(answer["at"] - began)
    lat, lon = point or POINTS[community]
    mark, began = inbox.mark(), time.perf_counter()
    await tg.send_location(rider_id, lat, lon)
    asked = await inbox.expect(mark, offers(label), "category buttons after the location", timeout)
    waits.append(asked["at"] - began)
    data = button_data(asked, label)
    assert data is not None
    mark, began = inbox.mark(), time.perf_counter()
    await tg.press(rider_id, rider_id, int(asked["message_id"]), data)
    asked = await inbox.expect(mark, offers(skip), "the note question with Skip", timeout)
    waits.append(asked["at"] - began)
    data = button_data(asked, skip)
    assert data is not None
    mark, tapped = inbox.mark(), time.perf_counter()
    await tg.press(rider_id, rider_id, int(asked["message_id"]), data)
    done = await inbox.expect(
        mark, lambda e: sent(e) and FILED.match(text_of(e)) is not None, "the confirmation", timeout
    )
    waits.append(done["at"] - tapped)
    match = FILED.match(text_of(done))
    assert match is not None
    return Filed(int(match[1]), rider_id, community, tapped, tuple(waits))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: a value some sample really had."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


async def wind_down(bot: BotProcess, watch: Watch, tg: Fakegram, most: int = 10) -> None:
    """Stop the bot and the watcher, and say what went wrong on the way, if anything did."""
    code = await bot.stop()
    problems = bot.problems()
    if problems:
        progress("  the bot's log has warnings/errors:")
        for what, count in problems.most_common(most):
            progress(f"    {count} x {what}")
    if code not in (0, None):
        progress(f"  the bot exited with code {code}")
    if watch.errors:
        progress("  Bot API errors the bot got:")
        for what, count in watch.errors.most_common(most):
            progress(f"    {count} x {what}")
    await watch.stop()
    await tg.close()
