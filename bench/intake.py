"""Intake benchmark: the real bot filing riders' reports, against the floor of a bare PTB bot.

Run: .venv/bin/python bench/intake.py [--riders 50] [--reports-each 4] [--floor-users 50]
                                      [--floor-messages 60] [--runs 1]

Everything runs on this machine: the local Telegram (fakegram, rate limits off) as its own
process, and each bot as its own process, so its CPU time (utime + stime from /proc/<pid>/stat)
is its own. No person sleeps for a fixed time: each waits for the bot's answer to their last
action, read from fakegram's event stream.

- floor: a bare python-telegram-bot Application (this file run with --floor-worker) with one
  MessageHandler answering every message with one sendMessage. Measured twice:
  - at full speed: --floor-users people each send --floor-messages texts, each right after the
    answer to the one before;
  - at the riders' pace: as many people as riders send as many texts as the bot received
    updates, spread evenly at the rate the bot received them in the same run. This is the floor
    the target is judged against. A bot's CPU per update falls as its load rises (one
    getUpdates brings more updates, one wake of the event loop does more, caches stay warm): the
    bare floor itself costs half as much again per operation, or more, at the riders' pace as flat
    out. The bot cannot run flat out: Telegram's limits pace it (a message a second to each rider,
    30 a second in all, 20 a minute to a group), so comparing it with the floor flat out would
    charge it for Telegram's pacing. Both ratios are printed.
- bot: `python -m bot` (SQLite in a temporary folder, a supervisors' chat, the bundled demo
  communities, each with a staff group linked by `/link`). --riders riders each file
  --reports-each reports, all riders at once, like a person: photo, wait for the location prompt,
  location, wait for the category buttons, press one (sanitation or public order, so no urgent
  copy to the supervisors), wait for Skip, press it (the last tap), wait for the confirmation;
  the reports go round the seven communities. Tap→card is from the press of Skip to the card
  appearing in the community's group. DIGEST_TIME is set to 23:59 so the daily digest does not
  fall into the measurement.

Measured, per row: updates the bot received, Bot API calls it made (fakegram's count, diffed,
getUpdates included), wall time (first action to the last answer or card), CPU seconds of the
bot process over that span (start-up and linking excluded; for the bot read once its outbox is
empty). The target: the bot's CPU per (update + call) within 2x of the floor's at the riders'
pace, all measured in the same run. With --runs N each row is the median over N runs, the ratio
the median of the runs' ratios. Exits 1 when the target is missed.

The bot paces each private chat as Telegram requires (a burst of 3, then about 1 message/s) and
all chats together at 30/s, each group at 20/min: that, not CPU, sets its wall time and latency.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    BOT_TOKEN,
    POINTS,
    BenchError,
    BotProcess,
    Filed,
    Watch,
    cpu_seconds,
    file_report,
    link_all,
    make_town,
    median,
    percentile,
    progress,
    sent,
    table,
    wind_down,
)
from fakegram.client import Fakegram, FakegramProcess  # noqa: E402
from fakegram.images import jpeg  # noqa: E402

SCRIPT = Path(__file__).resolve()
FLOOR_TOKEN = "7100009002:AAFloorTokenForTheLocalTelegramOnly00"
TARGET = 2.0
STEP_TIMEOUT = 120.0
NON_URGENT = ("sanitation", "public_order")


@dataclass
class Row:
    updates: int
    calls: int
    wall_s: float
    cpu_s: float
    by_method: Counter[str] = field(default_factory=Counter)
    reports: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    shown_ms: list[float] = field(default_factory=list)
    waits: list[tuple[float, ...]] = field(default_factory=list)

    @property
    def cpu_ms_per_op(self) -> float:
        return 1000 * self.cpu_s / (self.updates + self.calls)


def calls_by_method(stats: dict[str, object]) -> Counter[str]:
    calls = stats.get("calls")
    assert isinstance(calls, dict)
    return Counter({str(k): int(v) for k, v in calls.items()})


# ---- the floor -----------------------------------------------------------------------------------


def floor_worker(url: str, token: str) -> None:
    """The floor itself: a bare PTB application, one sendMessage per update."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "ok")

    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{url}/bot")
        .base_file_url(f"{url}/file/bot")
        .build()
    )
    application.add_handler(MessageHandler(filters.ALL, answer))
    application.run_polling(allowed_updates=Update.ALL_TYPES)


async def floor_run(
    url: str, users: int, messages: int, folder: Path, per_s: float | None = None
) -> Row:
    """The floor's people write; flat out, or (per_s) at that many messages a second in all,
    each person on a fixed schedule so the pace does not drift with the answers' delays."""
    tg = Fakegram(url, FLOOR_TOKEN)
    watch = Watch(tg)
    log = folder / "floor.log"
    try:
        await tg.reset()
        await watch.start()
        people = [int((await tg.user(f"用户{i}"))["id"]) for i in range(users)]
        for person in people:
            watch.inbox(person)
        with log.open("wb") as sink:
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                str(SCRIPT),
                "--floor-worker",
                url,
                FLOOR_TOKEN,
                cwd=ROOT,
                stdout=sink,
                stderr=sink,
            )
        try:
            # Warm-up: the first answer means the worker is up and polling.
            first = watch.inbox(people[0])
            mark = first.mark()
            await tg.send_text(people[0], "warm-up")
            await first.expect(mark, sent, "the floor's answer", 60)
            cpu0 = cpu_seconds(worker.pid)
            calls0 = calls_by_method(await tg.stats())
            began = time.perf_counter()
            last = [began]

            async def one(k: int, user_id: int) -> None:
                inbox = watch.inbox(user_id)
                for n in range(messages):
                    if per_s is not None:  # person k's n-th message, on the schedule
                        at = began + (n * users + k) / per_s
                        await asyncio.sleep(max(0.0, at - time.perf_counter()))
                    mark = inbox.mark()
                    await tg.send_text(user_id, f"message {n}")
                    answer = await inbox.expect(mark, sent, "the floor's answer", STEP_TIMEOUT)
                    last[0] = max(last[0], answer["at"])

            await asyncio.gather(*(one(k, p) for k, p in enumerate(people)))
            cpu1 = cpu_seconds(worker.pid)
            calls = calls_by_method(await tg.stats())
            calls.subtract(calls0)
        except BaseException:
            progress(log.read_text("utf-8", errors="replace")[-3000:])
            raise
        finally:
            if worker.returncode is None:
                worker.terminate()
                await asyncio.wait_for(worker.wait(), timeout=20)
        return Row(
            updates=users * messages,
            calls=sum(calls.values()),
            wall_s=last[0] - began,
            cpu_s=cpu1 - cpu0,
            by_method=+calls,
        )
    finally:
        await watch.stop()
        await tg.close()


# ---- the bot -------------------------------------------------------------------------------------


async def bot_run(url: str, riders: int, each: int, folder: Path) -> Row:
    tg = Fakegram(url, BOT_TOKEN)
    watch = Watch(tg)
    bot = BotProcess(
        url,
        folder / "intake.db",
        folder / "bot.log",
        DIGEST_TIME="23:59",
    )
    try:
        await tg.reset()
        await watch.start()
        town = await make_town(tg, watch)
        bot.env["SUPERVISOR_CHAT_IDS"] = str(town.supervisors_chat)
        people = [
            int((await tg.user(f"骑手{i}", language_code="zh-hans"))["id"]) for i in range(riders)
        ]
        for person in people:
            watch.inbox(person)
        photo = jpeg(320, 240, color=(90, 140, 60))
        communities = list(POINTS)
        await bot.start()
        started = time.monotonic()
        await link_all(tg, watch, town, timeout=60)
        # The first minute job runs a second after start; let it pass, and the outbox empty.
        await asyncio.sleep(max(0.0, started + 2.0 - time.monotonic()))
        if not await bot.drained(30):
            raise BenchError("the bot's outbox did not empty after start-up")
        cpu0 = cpu_seconds(bot.pid)
        calls0 = calls_by_method(await tg.stats())
        began = time.perf_counter()

        async def rider(r: int, user_id: int) -> list[Filed]:
            done = []
            for k in range(each):
                community = communities[(r * each + k) % len(communities)]
                category = NON_URGENT[(r + k) % len(NON_URGENT)]
                done.append(
                    await file_report(tg, watch, user_id, community, category, photo, STEP_TIMEOUT)
                )
            return done

        filed = [
            f
            for batch in await asyncio.gather(*(rider(r, p) for r, p in enumerate(people)))
            for f in batch
        ]
        await watch.cards_of([f.number for f in filed], timeout=STEP_TIMEOUT)
        ended = max(
            max(watch.cards[f.number].at for f in filed),
            max(f.tapped + f.waits[-1] for f in filed),
        )
        if not await bot.drained(60):
            raise BenchError(f"the outbox did not empty: {bot.outbox()}")
        cpu1 = cpu_seconds(bot.pid)
        calls = calls_by_method(await tg.stats())
        calls.subtract(calls0)
        for f in filed:
            card = watch.cards[f.number]
            if card.chat_id != town.groups[f.community].chat_id:
                raise BenchError(
                    f"report #{f.number} went to chat {card.chat_id}, not {f.community}"
                )
        return Row(
            updates=len(filed) * 4,
            calls=sum(calls.values()),
            wall_s=ended - began,
            cpu_s=cpu1 - cpu0,
            by_method=+calls,
            reports=len(filed),
            latencies_ms=[1000 * (watch.cards[f.number].at - f.tapped) for f in filed],
            shown_ms=[1000 * (watch.shown(f.number) - f.tapped) for f in filed],
            waits=[f.waits for f in filed],
        )
    except BaseException:
        progress("---- the bot's log, last lines ----")
        progress(bot.tail())
        raise
    finally:
        await wind_down(bot, watch, tg)


# ---- the report ----------------------------------------------------------------------------------


def describe(name: str, row: Row) -> None:
    per = ", ".join(f"{m} {n}" for m, n in row.by_method.most_common())
    progress(
        f"  {name}: {row.updates} updates, {row.calls} calls in {row.wall_s:.1f} s, "
        f"CPU {row.cpu_s:.2f} s = {row.cpu_ms_per_op:.3f} ms per (update + call)"
    )
    progress(f"    calls: {per}")
    if row.reports:
        steps = ["photo→prompt", "location→buttons", "category→Skip", "Skip→confirmation"]
        waits = ", ".join(
            f"{label} p50 {1000 * median([w[i] for w in row.waits]):.0f} ms"
            f" p99 {1000 * percentile([w[i] for w in row.waits], 99):.0f} ms"
            for i, label in enumerate(steps)
        )
        progress(f"    the rider waited: {waits}")
        progress(
            f"    tap→card p50 {median(row.latencies_ms):.0f} ms, "
            f"p99 {percentile(row.latencies_ms, 99):.0f} ms, max {max(row.latencies_ms):.0f} ms"
        )
        progress(
            f"    tap→on the group's screen (a flood's list, or the card) "
            f"p50 {median(row.shown_ms):.0f} ms, p99 {percentile(row.shown_ms, 99):.0f} ms"
        )


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


async def main_async(args: argparse.Namespace) -> int:
    floors: list[Row] = []
    paced: list[Row] = []
    bots: list[Row] = []
    async with FakegramProcess.start(rate_limits=False) as server:
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory(prefix="suishoubao-intake-") as name:
                folder = Path(name)
                users, messages = args.floor_users, args.floor_messages
                progress(f"run {run}/{args.runs}: floor, {users} users x {messages} messages")
                floors.append(
                    await floor_run(server.url, args.floor_users, args.floor_messages, folder)
                )
                describe("floor", floors[-1])
                riders, each = args.riders, args.reports_each
                progress(f"run {run}/{args.runs}: bot, {riders} riders x {each} reports")
                bots.append(await bot_run(server.url, args.riders, args.reports_each, folder))
                describe("bot", bots[-1])
                pace = bots[-1].updates / bots[-1].wall_s
                messages = -(-bots[-1].updates // riders)  # as many updates as the bot got
                progress(
                    f"run {run}/{args.runs}: floor at the riders' pace, {riders} users x "
                    f"{messages} messages at {pace:.1f}/s"
                )
                paced.append(await floor_run(server.url, riders, messages, folder, per_s=pace))
                describe("floor, riders' pace", paced[-1])
                progress(
                    f"  ratios this run: {bots[-1].cpu_ms_per_op / paced[-1].cpu_ms_per_op:.2f}x "
                    f"the floor at the riders' pace, "
                    f"{bots[-1].cpu_ms_per_op / floors[-1].cpu_ms_per_op:.2f}x flat out"
                )

    ratios = [b.cpu_ms_per_op / f.cpu_ms_per_op for b, f in zip(bots, paced, strict=True)]
    flat = [b.cpu_ms_per_op / f.cpu_ms_per_op for b, f in zip(bots, floors, strict=True)]
    headers = [
        "",
        "updates",
        "API calls",
        "wall s",
        "updates/s",
        "calls/s",
        "CPU s",
        "CPU ms/(upd+call)",
        "reports",
        "reports/s",
        "calls/report",
        "p50 tap→card ms",
        "p99 tap→card ms",
        "p50 tap→on screen ms",
        "p99 tap→on screen ms",
    ]

    def row(name: str, rows: list[Row]) -> list[str]:
        cells = [
            name,
            fmt(median([r.updates for r in rows]), 0),
            fmt(median([r.calls for r in rows]), 0),
            fmt(median([r.wall_s for r in rows])),
            fmt(median([r.updates / r.wall_s for r in rows])),
            fmt(median([r.calls / r.wall_s for r in rows])),
            fmt(median([r.cpu_s for r in rows]), 2),
            fmt(median([r.cpu_ms_per_op for r in rows]), 3),
        ]
        if rows[0].reports:
            cells += [
                fmt(median([r.reports for r in rows]), 0),
                fmt(median([r.reports / r.wall_s for r in rows]), 2),
                fmt(median([r.calls / r.reports for r in rows]), 1),
                fmt(median([median(r.latencies_ms) for r in rows]), 0),
                fmt(median([percentile(r.latencies_ms, 99) for r in rows]), 0),
                fmt(median([median(r.shown_ms) for r in rows]), 0),
                fmt(median([percentile(r.shown_ms, 99) for r in rows]), 0),
            ]
        else:
            cells += ["—"] * 7
        return cells

    ratio = median(ratios)
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    runs = f"median of {args.runs} runs" if args.runs > 1 else "1 run"
    print(f"\nintake benchmark ({runs}; fakegram rate limits off; 2 cores shared by all processes)")
    rows = [
        row("floor (bare PTB), flat out", floors),
        row("floor (bare PTB), riders' pace", paced),
        row("bot", bots),
    ]
    print(table(headers, rows))
    print(
        f"bot CPU per (update + call) / the floor's at the riders' pace: {ratio:.2f}x "
        f"(runs: {', '.join(f'{r:.2f}' for r in ratios)}); target <= {TARGET:g}x: {verdict}"
    )
    print(
        f"bot CPU per (update + call) / the floor's flat out: {median(flat):.2f}x "
        f"(runs: {', '.join(f'{r:.2f}' for r in flat)})"
    )
    return 0 if verdict == "PASS" else 1


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--floor-worker":
        floor_worker(sys.argv[2], sys.argv[3])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--riders", type=int, default=50, help="riders filing at once")
    parser.add_argument("--reports-each", type=int, default=4, help="reports each rider files")
    parser.add_argument("--floor-users", type=int, default=50, help="people writing to the floor")
    parser.add_argument("--floor-messages", type=int, default=60, help="messages each sends")
    parser.add_argument("--runs", type=int, default=1, help="runs; the table shows medians")
    args = parser.parse_args()
    if not 1 <= args.reports_each <= 10:
        parser.error("a rider may file 1 to 10 reports an hour (REPORTS_PER_HOUR)")
    try:
        return asyncio.run(main_async(args))
    except BenchError as exc:
        progress(f"intake benchmark failed: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
