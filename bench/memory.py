"""Memory benchmark: resident memory of the bot process after 100,000 reports filed.

Run: .venv/bin/python bench/memory.py [--reports 100000] [--days 365] [--riders 100]
                                      [--reports-each 2] [--rounds 2] [--resolve 3]

Filing 100,000 reports through Telegram would take hours (Telegram's pacing), so:

1. A SQLite database is built through the real migrations with --reports reports filed evenly
   over --days days in the seven bundled demo communities, with their histories (events: most
   claimed, resolved near the SLA, half confirmed by the rider, a few reopened, rejected or
   still open), a card and the two sent outbox messages of each (card, confirmation), 10,000
   riders, each community's staff and group link, and the digests of the past days. Deadline
   notices that are due (or fall due within the hour) are marked sent, as a bot that had been
   running would have; yesterday's digest is not, and DIGEST_TIME=00:00, so the bot sends it
   with its chart once it starts.
2. The real bot (`python -m bot`) starts on it against the local Telegram (its own process,
   rate limits off; the bot paces itself as Telegram requires). Then, through Telegram as people
   do: in each of --rounds rounds, --riders riders (known riders with a history) each file
   --reports-each reports, all at once (photo, location, category, Skip; one in ten fire
   safety, which also goes to the supervisors), and memory is read after each round (growth
   from round to round would be memory that the 100,000 bulk-built reports do not show); then
   in each staff group the admin claims and resolves (Skip the proof) --resolve of
   the new reports, and their riders answer (one Not fixed per group, which reopens, the rest
   Fixed); the supervisors send /digest, each group /queue, a rider /my. Then the outbox is
   drained.
3. VmRSS (resident now) and VmHWM (peak) of the bot process from /proc/<pid>/status, after
   start-up (yesterday's digest sent) and at the end. Target: VmRSS at the end under 200 MB;
   exits 1 when missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    BOT_TOKEN,
    LANGUAGE,
    POINTS,
    BenchError,
    BotProcess,
    Event,
    Filed,
    Town,
    Watch,
    button_data,
    catalogue,
    file_report,
    make_town,
    memory_mb,
    offers,
    progress,
    replies_to,
    sent,
    table,
    text_of,
    wind_down,
)
from fakegram.client import Fakegram, FakegramProcess  # noqa: E402
from fakegram.images import jpeg  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402

TARGET_MB = 200.0
STEP_TIMEOUT = 180.0
STAMP = "%Y-%m-%d %H:%M:%S.%f"
SLA = {"sanitation": 48.0, "public_order": 24.0, "fire_safety": 4.0}
WEIGHTS = [("sanitation", 0.5), ("public_order", 0.3), ("fire_safety", 0.2)]
RIDERS = 10_000
RIDER_TELEGRAM_BASE = 10_000_000  # rider i (1..RIDERS) has Telegram id base + i
ZONE = ZoneInfo("Asia/Shanghai")
NOTES = ["垃圾桶满了", "消防通道被电动车堵住", "路口有人吵架", "井盖松动", None, None, None]


# ---- 1. the database -----------------------------------------------------------------------------


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime(STAMP)


async def build(db: Path, town: Town, reports: int, days: int, now: datetime) -> dict[str, int]:
    """Bulk-insert a year of reports with sqlite3, after the real migrations made the schema."""
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await migrate(engine)
    await engine.dispose()
    rng = random.Random(7)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous=OFF")
    start = now - timedelta(days=days)
    span = (now - timedelta(hours=1) - start).total_seconds()
    conn.executemany(
        "INSERT INTO riders (id, telegram_id, language, language_chosen, created_at) "
        "VALUES (?, ?, 'zh', 0, ?)",
        [(i, RIDER_TELEGRAM_BASE + i, stamp(start)) for i in range(1, RIDERS + 1)],
    )
    communities = list(POINTS)
    staff = {c: int(town.groups[c].admin["id"]) for c in communities}
    chats = {c: town.groups[c].chat_id for c in communities}
    conn.executemany(
        "INSERT INTO staff (telegram_id, name, updated_at) VALUES (?, ?, ?)",
        [(staff[c], str(town.groups[c].admin["first_name"]), stamp(start)) for c in communities],
    )
    conn.executemany(
        "INSERT INTO community_links (community_id, chat_id, linked_by, linked_at) "
        "VALUES (?, ?, ?, ?)",
        [(c, chats[c], staff[c], stamp(start)) for c in communities],
    )
    first_day = start.astimezone(ZONE).date()
    yesterday = now.astimezone(ZONE).date() - timedelta(days=1)
    conn.executemany(
        "INSERT INTO digests (chat_id, day, created_at) VALUES (?, ?, ?)",
        [
            (town.supervisors_chat, (first_day + timedelta(days=d)).isoformat(), stamp(start))
            for d in range((yesterday - first_day).days)
        ],
    )
    names = [c for c, _ in WEIGHTS]
    weights = [w for _, w in WEIGHTS]
    batch: dict[str, list[tuple[object, ...]]] = {"reports": [], "events": [], "cards": []}
    batch["outbox"] = []
    counts = {"reports": 0, "events": 0, "cards": 0, "outbox": 0}
    sql = {
        "reports": "INSERT INTO reports (id, rider_id, category, lat, lon, photo_file_id, note, "
        "status, community_id, route_kind, route_distance_m, filed_at, updated_at, holder_id, "
        "held_since, resolved_at, resolution_note, reopened, rider_answered, reminded_at, "
        "overdue_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'inside', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "events": "INSERT INTO events (report_id, at, from_status, to_status, actor, action, "
        "note, community_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "cards": "INSERT INTO cards (report_id, community_id, chat_id, message_id, posted_at) "
        "VALUES (?, ?, ?, ?, ?)",
        "outbox": "INSERT INTO outbox (key, kind, chat_id, community_id, report_id, payload, "
        "state, attempts, next_attempt_at, message_id, created_at, sent_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'sent', 1, ?, ?, ?, ?)",
    }

    def flush() -> None:
        for table_name, rows in batch.items():
            conn.executemany(sql[table_name], rows)
            counts[table_name] += len(rows)
            rows.clear()

    soon = now + timedelta(hours=1)
    message_ids = dict.fromkeys(communities, 1_000)
    for number in range(1, reports + 1):
        filed = start + timedelta(seconds=span * number / (reports + 1))
        category = rng.choices(names, weights)[0]
        community = communities[rng.randrange(len(communities))]
        sla = timedelta(hours=SLA[category])
        rider = 1 + number % RIDERS
        holder = staff[community]
        note = rng.choice(NOTES)
        at = filed
        history: list[tuple[datetime, str | None, str, str, str, str | None]] = [
            (at, None, "open", f"rider:{rider}", "filed", None)
        ]
        age = now - filed
        roll = rng.random()
        if roll < 0.03 or age < sla * rng.uniform(0, 1):
            if rng.random() < 0.4:  # claimed, not resolved yet
                at += min(age, sla) * rng.uniform(0.05, 0.3)
                history.append((at, "open", "claimed", f"staff:{holder}", "claimed", None))
        elif roll < 0.06:
            at += timedelta(hours=rng.uniform(0.1, 2))
            history.append((at, "open", "rejected", f"staff:{holder}", "invalid", "无效"))
        else:
            if rng.random() < 0.7:
                at += sla * rng.uniform(0.01, 0.3)
                history.append((at, "open", "claimed", f"staff:{holder}", "claimed", None))
            at += sla * rng.uniform(0.05, 1.2)
            history.append((at, history[-1][2], "resolved", f"staff:{holder}", "resolved", None))
            if rng.random() < 0.05:
                at += timedelta(hours=rng.uniform(1, 10))
                history.append((at, "resolved", "open", f"rider:{rider}", "reopened", None))
                at += timedelta(hours=rng.uniform(1, 10))
                history.append((at, "open", "resolved", f"staff:{holder}", "resolved", "已清理"))
            if rng.random() < 0.55:
                at += timedelta(hours=rng.uniform(0.5, 24))
                history.append((at, "resolved", "confirmed", f"rider:{rider}", "confirmed", None))
        history = [h for h in history if h[0] <= now]
        status = history[-1][2]
        active = status in ("open", "claimed")
        claimed = [h[0] for h in history if h[2] == "claimed"]
        resolved = [h[0] for h in history if h[2] == "resolved"]
        # A bot that has been running sent each notice when it fell due; none falls due now.
        reminded = filed + sla * 0.75 if active and filed + sla * 0.75 <= soon else None
        overdue = filed + sla if active and filed + sla <= soon else None
        batch["reports"].append(
            (
                number,
                rider,
                category,
                POINTS[community][0] + rng.uniform(-0.002, 0.002),
                POINTS[community][1] + rng.uniform(-0.002, 0.002),
                f"AgADBAADbench{number:07d}",
                note,
                status,
                community,
                stamp(filed),
                stamp(history[-1][0]),
                holder if status != "open" else None,
                stamp(claimed[-1]) if status == "claimed" else None,
                stamp(resolved[-1]) if resolved else None,
                history[-1][5] if status in ("resolved", "confirmed") else None,
                int(any(h[4] == "reopened" for h in history)),
                int(status == "confirmed"),
                stamp(reminded) if reminded else None,
                stamp(overdue) if overdue else None,
            )
        )
        batch["events"].extend(
            (number, stamp(h[0]), h[1], h[2], h[3], h[4], h[5], community) for h in history
        )
        message_ids[community] += 1
        card_id = message_ids[community]
        batch["cards"].append((number, community, chats[community], card_id, stamp(filed)))
        text = {"text": f"✅ 已上报 #{number}", "remove_keyboard": True}
        batch["outbox"] += [
            (
                f"card:{number}:{community}",
                "card",
                chats[community],
                community,
                number,
                "{}",
                stamp(filed),
                card_id,
                stamp(filed),
                stamp(filed),
            ),
            (
                f"filed:{number}",
                "text",
                RIDER_TELEGRAM_BASE + rider,
                None,
                number,
                json.dumps(text, ensure_ascii=False),
                stamp(filed),
                number,
                stamp(filed),
                stamp(filed),
            ),
        ]
        if len(batch["reports"]) >= 20_000:
            flush()
    flush()
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return counts


# ---- 2. the bot at work --------------------------------------------------------------------------


@dataclass
class Counts:
    filed: int = 0
    resolved: int = 0
    confirmed: int = 0
    reopened: int = 0


async def staff_work(
    tg: Fakegram,
    watch: Watch,
    town: Town,
    community: str,
    reports: list[Filed],
    counts: Counts,
) -> None:
    """The group's admin claims and resolves (skipping the proof); each rider answers."""
    staffed = town.groups[community]
    words = catalogue(LANGUAGE[community])
    zh = catalogue("zh")
    group = watch.inbox(staffed.chat_id)
    admin = int(staffed.admin["id"])
    for i, report in enumerate(reports):
        number = report.number
        card = watch.cards[number]
        card_id = int(card.message["message_id"])
        data = button_data(card.message, words["btn_claim"])
        if data is None:
            raise BenchError(f"card #{number} offers no Claim button")
        mark = group.mark()
        await tg.press(admin, staffed.chat_id, card_id, data)

        def claimed(event: Event, card_id: int = card_id) -> bool:
            return (
                event["kind"] == "edited"
                and event["message_id"] == card_id
                and button_data(event, words["btn_release"]) is not None
            )

        await group.expect(mark, claimed, f"card #{number} claimed", STEP_TIMEOUT)
        data = button_data(watch.cards[number].message, words["btn_resolve"])
        if data is None:
            raise BenchError(f"card #{number} offers no Resolve button once claimed")
        mark = group.mark()
        await tg.press(admin, staffed.chat_id, card_id, data)

        def asks(event: Event, card_id: int = card_id) -> bool:
            return replies_to(card_id)(event) and offers(words["skip_button"])(event)

        question = await group.expect(mark, asks, f"the proof question of #{number}", 60)
        skip = button_data(question, words["skip_button"])
        assert skip is not None
        rider = watch.inbox(report.rider_id)
        mark = rider.mark()
        await tg.press(admin, staffed.chat_id, int(question["message_id"]), skip)

        def told_of(event: Event, number: int = number) -> bool:
            return offers(zh["btn_fixed"])(event) and f"#{number}" in text_of(event)

        told = await rider.expect(
            mark, told_of, f"the rider told #{number} is resolved", STEP_TIMEOUT
        )
        counts.resolved += 1
        fixed = i != 0
        verdict = button_data(told, zh["btn_fixed"] if fixed else zh["btn_not_fixed"])
        assert verdict is not None
        mark = rider.mark()
        await tg.press(report.rider_id, report.rider_id, int(told["message_id"]), verdict)

        def thanked(event: Event, number: int = number) -> bool:
            return sent(event) and f"#{number}" in text_of(event)

        await rider.expect(mark, thanked, f"the answer to the verdict on #{number}", 60)
        if fixed:
            counts.confirmed += 1
        else:
            counts.reopened += 1


async def command(
    tg: Fakegram, watch: Watch, user_id: int, chat_id: int, text: str
) -> tuple[str, int]:
    """Send a command; the bot's answer (its length), or the Bot API error it got instead."""
    inbox = watch.inbox(chat_id)
    mark = inbox.mark()
    message = await tg.send_text(user_id, text, chat_id=chat_id)
    mid = int(message["message_id"])
    private = chat_id > 0

    def answered(event: Event) -> bool:
        if event["kind"] == "api_error":
            return True
        return replies_to(mid)(event) or (private and sent(event))

    event = await inbox.expect(mark, answered, f"an answer to {text}", STEP_TIMEOUT)
    if event["kind"] == "api_error":
        return f"{event['method']} failed: {event.get('description')}", 0
    message_text = str(event["message"].get("text") or "")
    return "answered", len(message_text)


@dataclass
class Readings:
    phases: list[tuple[str, dict[str, float]]]
    counts: Counts
    failed: list[str]
    db: dict[str, int]
    db_mb: float


async def run(args: argparse.Namespace, folder: Path) -> Readings:
    async with FakegramProcess.start(rate_limits=False) as server:
        tg = Fakegram(server.url, BOT_TOKEN)
        watch = Watch(tg)
        db = folder / "memory.db"
        bot = BotProcess(server.url, db, folder / "bot.log", DIGEST_TIME="00:00")
        try:
            await watch.start()
            town = await make_town(tg, watch)
            bot.env["SUPERVISOR_CHAT_IDS"] = str(town.supervisors_chat)
            now = datetime.now(UTC)
            began = time.perf_counter()
            progress(f"building {args.reports:,} reports over {args.days} days ...")
            built = await build(db, town, args.reports, args.days, now)
            db_mb = db.stat().st_size / 1e6
            progress(
                f"  built in {time.perf_counter() - began:.0f} s: "
                + ", ".join(f"{n:,} {t}" for t, n in built.items())
                + f"; {db_mb:.0f} MB"
            )
            riders = [
                int(
                    (
                        await tg.user(
                            f"骑手{i}", language_code="zh-hans", id=RIDER_TELEGRAM_BASE + i
                        )
                    )["id"]
                )
                for i in range(1, args.riders + 1)
            ]
            for rider in riders:
                watch.inbox(rider)

            progress("starting the bot; it sends yesterday's digest ...")
            began = time.perf_counter()
            supervisors = watch.inbox(town.supervisors_chat)
            mark = supervisors.mark()
            await bot.start()
            await supervisors.expect(
                mark, lambda e: sent(e) and e["method"] == "sendPhoto", "the digest's chart", 180
            )
            if not await bot.drained(60):
                raise BenchError(f"the outbox did not empty after start-up: {bot.outbox()}")
            phases = [("after start-up (yesterday's digest sent)", memory_mb(bot.pid))]
            up = time.perf_counter() - began
            progress(f"  up in {up:.0f} s; VmRSS {phases[-1][1]['VmRSS']:.1f} MB")

            photo = jpeg(320, 240, color=(120, 90, 60))
            communities = list(POINTS)
            counts = Counts()

            async def rider_files(r: int, user_id: int, round_: int) -> list[Filed]:
                done = []
                for k in range(args.reports_each):
                    n = (round_ * args.riders + r) * args.reports_each + k
                    community = communities[n % len(communities)]
                    category = (
                        "fire_safety"
                        if n % 10 == 0
                        else "public_order"
                        if n % 10 < 4
                        else "sanitation"
                    )
                    filed = await file_report(
                        tg, watch, user_id, community, category, photo, STEP_TIMEOUT
                    )
                    done.append(filed)
                    counts.filed += 1
                return done

            filed: list[Filed] = []
            for round_ in range(args.rounds):
                total = args.riders * args.reports_each
                progress(f"round {round_ + 1}: {args.riders} riders file {total} reports ...")
                began = time.perf_counter()
                batches = await asyncio.gather(
                    *(rider_files(r, u, round_) for r, u in enumerate(riders))
                )
                now_filed = [f for batch in batches for f in batch]
                await watch.cards_of([f.number for f in now_filed], timeout=STEP_TIMEOUT)
                if not await bot.drained(STEP_TIMEOUT):
                    raise BenchError(f"the outbox did not empty after filing: {bot.outbox()}")
                filed += now_filed
                first = min(f.number for f in now_filed)
                last = max(f.number for f in now_filed)
                progress(f"  filed #{first}–#{last} in {time.perf_counter() - began:.0f} s")
                phases.append(
                    (f"after {len(filed)} more filed through Telegram", memory_mb(bot.pid))
                )

            progress(f"staff claim and resolve {args.resolve} reports in each group ...")
            began = time.perf_counter()
            by_community = {c: [f for f in filed if f.community == c] for c in communities}
            await asyncio.gather(
                *(
                    staff_work(tg, watch, town, c, by_community[c][: args.resolve], counts)
                    for c in communities
                )
            )

            progress(f"  done in {time.perf_counter() - began:.0f} s")
            phases.append(
                (
                    f"after {counts.resolved} claimed, resolved, answered by the rider",
                    memory_mb(bot.pid),
                )
            )
            progress("/digest, /queue in every group, /my ...")
            outcome, length = await command(
                tg, watch, int(town.boss["id"]), town.supervisors_chat, "/digest"
            )
            progress(f"  /digest: {outcome} ({length} characters)")
            failed = [] if outcome == "answered" else [f"/digest: {outcome}"]
            for community in communities:
                staffed = town.groups[community]
                outcome, length = await command(
                    tg, watch, int(staffed.admin["id"]), staffed.chat_id, "/queue"
                )
                progress(f"  /queue in {community}: {outcome} ({length} characters)")
                if outcome != "answered":
                    failed.append(f"/queue in {community}: {outcome}")
            outcome, length = await command(tg, watch, riders[0], riders[0], "/my")
            progress(f"  /my: {outcome} ({length} characters)")
            if outcome != "answered":
                failed.append(f"/my: {outcome}")
            if not await bot.drained(STEP_TIMEOUT):
                progress(f"  the outbox still holds {bot.outbox()} (reading memory anyway)")
            if not bot.alive():
                raise BenchError("the bot stopped")
            phases.append(("after /digest, /queue x 7, /my (the end)", memory_mb(bot.pid)))
            return Readings(phases, counts, failed, built, db_mb)
        except BaseException:
            progress("---- the bot's log, last lines ----")
            progress(bot.tail())
            raise
        finally:
            await wind_down(bot, watch, tg)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=100_000, help="reports in the database")
    parser.add_argument("--days", type=int, default=365, help="filed evenly over these days")
    parser.add_argument("--riders", type=int, default=100, help="riders filing through Telegram")
    parser.add_argument(
        "--reports-each", type=int, default=2, help="reports each rider files in a round"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of filing, memory read after each"
    )
    parser.add_argument("--resolve", type=int, default=3, help="reports resolved in each group")
    args = parser.parse_args()
    if args.rounds * args.reports_each > 9:
        parser.error("a rider may file 10 reports an hour (REPORTS_PER_HOUR), some already did")
    if args.riders > RIDERS:
        parser.error(f"at most {RIDERS} riders")
    try:
        with tempfile.TemporaryDirectory(prefix="suishoubao-memory-") as name:
            readings = asyncio.run(run(args, Path(name)))
    except BenchError as exc:
        progress(f"memory benchmark failed: {exc}")
        return 2
    counts = readings.counts
    rows = [
        [
            label,
            f"{values['VmRSS']:.1f}",
            f"{values['VmHWM']:.1f}",
            f"{values.get('RssAnon', float('nan')):.1f}",
            f"{values.get('RssFile', float('nan')):.1f}",
        ]
        for label, values in readings.phases
    ]
    reports = readings.db["reports"] + counts.filed
    print(
        f"\nmemory benchmark: the bot process on SQLite with {reports:,} reports "
        f"({readings.db['events']:,} events built, {readings.db_mb:.0f} MB database); MB = 10^6 B"
    )
    print(table(["bot process", "VmRSS MB", "VmHWM MB", "RssAnon MB", "RssFile MB"], rows))
    end = readings.phases[-1][1]
    rss = end["VmRSS"]
    verdict = "PASS" if rss < TARGET_MB else "FAIL"
    print(
        f"target: resident memory after {reports:,} reports under {TARGET_MB:g} MB: "
        f"{rss:.1f} MB, {verdict} (peak {end['VmHWM']:.1f} MB)"
    )
    if readings.failed:
        print("the bot did not answer: " + "; ".join(readings.failed))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
