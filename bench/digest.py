"""Digest benchmark: the daily digest over 1,000,000 reports in 100 communities, on SQLite.

Run: .venv/bin/python bench/digest.py [--reports 1000000] [--communities 100] [--days 365]

Builds (once, cached in --db) a SQLite database through the real migrations, with --reports
reports filed evenly over --days days across --communities square communities and the three
default categories, each with a plausible history (filed; most claimed; resolved near the SLA;
half confirmed; a few reopened, rejected or still open), then times `Supervision.digest` for
yesterday (median of --runs, after one warm-up) and its parts, and prints the query plans of the
digest's queries. Target: the digest in under one second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.categories import load_categories  # noqa: E402
from bot.core import Core  # noqa: E402
from bot.geo import Router, load_communities  # noqa: E402
from bot.i18n import Texts  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.supervision import Supervision  # noqa: E402
from bot.workflow import Workflow  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402
from storage.store import Store  # noqa: E402

STAMP = "%Y-%m-%d %H:%M:%S.%f"
SLA = {"sanitation": 48.0, "public_order": 24.0, "fire_safety": 4.0}
WEIGHTS = [("sanitation", 0.5), ("public_order", 0.3), ("fire_safety", 0.2)]


def communities_file(path: Path, count: int) -> None:
    side = int(count**0.5 + 0.999)
    features = []
    for i in range(count):
        x, y = 113.0 + (i % side) * 0.01, 36.0 + (i // side) * 0.01
        ring = [[x, y], [x + 0.009, y], [x + 0.009, y + 0.009], [x, y + 0.009], [x, y]]
        features.append(
            {
                "type": "Feature",
                "properties": {"id": f"c{i:03d}", "name": f"社区{i:03d}", "language": "zh"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")


async def build(db: Path, reports: int, communities: int, days: int, now: datetime) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await migrate(engine)
    await engine.dispose()
    rng = random.Random(7)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous=OFF")
    start = now - timedelta(days=days)
    span = (now - start).total_seconds()
    riders = 10_000
    conn.executemany(
        "INSERT INTO riders (id, telegram_id, language, language_chosen, created_at) "
        "VALUES (?, ?, 'zh', 0, ?)",
        [(i, 10_000_000 + i, start.strftime(STAMP)) for i in range(1, riders + 1)],
    )
    names = [c for c, _ in WEIGHTS]
    weights = [w for _, w in WEIGHTS]
    batch_reports: list[tuple[object, ...]] = []
    batch_events: list[tuple[object, ...]] = []

    def flush() -> None:
        conn.executemany(
            "INSERT INTO reports (id, rider_id, category, lat, lon, photo_file_id, note, status, "
            "community_id, route_kind, route_distance_m, filed_at, updated_at, holder_id, "
            "resolved_at, reopened, rider_answered) "
            "VALUES (?, ?, ?, 36.1, 113.1, 'AgAD', NULL, ?, ?, 'inside', 0, ?, ?, ?, ?, ?, ?)",
            batch_reports,
        )
        conn.executemany(
            "INSERT INTO events (report_id, at, from_status, to_status, actor, action, "
            "community_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            batch_events,
        )
        batch_reports.clear()
        batch_events.clear()

    for number in range(1, reports + 1):
        filed = start + timedelta(seconds=span * number / (reports + 1))
        category = rng.choices(names, weights)[0]
        community = f"c{rng.randrange(communities):03d}"
        sla = SLA[category]
        at = filed
        events: list[tuple[int, datetime, str | None, str, str, str, str]] = [
            (number, at, None, "open", f"rider:{1 + number % riders}", "filed", community)
        ]
        status, holder, resolved_at, reopened, answered = "open", None, None, 0, 0
        roll = rng.random()
        age_h = (now - filed).total_seconds() / 3600
        if roll < 0.03 or age_h < rng.uniform(0, sla):
            pass  # still open
        elif roll < 0.06:
            at += timedelta(hours=rng.uniform(0.1, 2))
            events.append((number, at, "open", "rejected", "staff:1", "invalid", community))
            status = "rejected"
        else:
            holder = 500 + rng.randrange(300)
            if rng.random() < 0.7:
                at += timedelta(hours=rng.uniform(0.05, sla * 0.3))
                events.append(
                    (number, at, "open", "claimed", f"staff:{holder}", "claimed", community)
                )
            at += timedelta(hours=rng.uniform(0.1, sla * 1.2))
            frm = events[-1][3]
            events.append((number, at, frm, "resolved", f"staff:{holder}", "resolved", community))
            status, resolved_at = "resolved", at
            if rng.random() < 0.05:
                at += timedelta(hours=rng.uniform(1, 10))
                events.append((number, at, "resolved", "open", "rider:1", "reopened", community))
                at += timedelta(hours=rng.uniform(1, 10))
                events.append(
                    (number, at, "open", "resolved", f"staff:{holder}", "resolved", community)
                )
                reopened, resolved_at = 1, at
            if rng.random() < 0.55:
                at += timedelta(hours=rng.uniform(0.5, 24))
                events.append(
                    (number, at, "resolved", "confirmed", "rider:1", "confirmed", community)
                )
                status, answered = "confirmed", 1
        events = [e for e in events if e[1] <= now]
        status = events[-1][3]
        batch_reports.append(
            (
                number,
                1 + number % riders,
                category,
                status,
                community,
                filed.strftime(STAMP),
                events[-1][1].strftime(STAMP),
                holder,
                resolved_at.strftime(STAMP) if resolved_at and resolved_at <= now else None,
                reopened,
                answered,
            )
        )
        batch_events.extend((e[0], e[1].strftime(STAMP), *e[2:]) for e in events)
        if len(batch_reports) >= 50_000:
            flush()
    flush()
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def plans(db: Path, now: datetime) -> list[str]:
    conn = sqlite3.connect(db)
    day_start = (now - timedelta(days=1)).strftime(STAMP)
    day_end = now.strftime(STAMP)
    queries = {
        "cohort: reports filed that day": (
            "SELECT id, category FROM reports WHERE filed_at >= ? AND filed_at < ?",
            (day_start, day_end),
        ),
        "cohort: their events": (
            "SELECT report_id, at, from_status, to_status, action, community_id FROM events "
            "WHERE report_id BETWEEN ? AND ? AND at < ? ORDER BY report_id, id",
            (1, 2, day_end),
        ),
        "backlog": (
            "SELECT community_id, count(*), sum(CASE WHEN category = 'sanitation' AND "
            "filed_at < ? THEN 1 ELSE 0 END) FROM reports "
            "WHERE status IN ('open', 'claimed', 'unrouted') GROUP BY community_id",
            (day_start,),
        ),
        "five oldest open (per state)": (
            "SELECT * FROM reports WHERE status = 'open' ORDER BY filed_at, id LIMIT 5",
            (),
        ),
    }
    lines = []
    for name, (sql, args) in queries.items():
        plan = conn.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
        lines.append(f"  {name}: " + "; ".join(row[-1] for row in plan))
    conn.close()
    return lines


async def measure(db: Path, geo: Path, runs: int, now: datetime) -> dict[str, float]:
    settings = Settings.from_mapping(
        {"DATABASE_URL": f"sqlite+aiosqlite:///{db}", "COMMUNITIES_FILE": str(geo)}
    )
    areas = load_communities(settings.communities_file)
    categories = load_categories(settings.categories_file)
    router = Router(areas)
    texts = Texts.load()
    store = Store(make_engine(settings.database_url))

    def clock() -> datetime:
        return now

    core = Core(store, router, categories, texts, settings, clock)

    def make() -> Supervision:
        return Supervision(core, Workflow(core))

    await make().digest((now - timedelta(days=1)).date())  # warm-up: page cache, font lookup
    day = (now.astimezone(settings.timezone) - timedelta(days=1)).date()
    timings: dict[str, list[float]] = {
        "first digest after a start": [],
        "  the same without its chart": [],
        "the next morning's digest": [],
    }
    for _ in range(runs):
        began = time.perf_counter()
        digest = await make().digest(day)  # a new process: nothing remembered
        timings["first digest after a start"].append(time.perf_counter() - began)
        began = time.perf_counter()
        await make().digest(day, chart=False)
        timings["  the same without its chart"].append(time.perf_counter() - began)
        # The daily case: yesterday's digest was made, today's needs one new day of eight.
        warm = make()
        await warm.digest(day - timedelta(days=1), chart=False)
        began = time.perf_counter()
        await warm.digest(day)
        timings["the next morning's digest"].append(time.perf_counter() - began)
    await store.close()
    assert "上报" in digest.text
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--communities", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, default=Path("/tmp/suishoubao-bench-digest.db"))
    parser.add_argument("--target", type=float, default=1.0)
    args = parser.parse_args()
    now = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    geo = args.db.with_suffix(".geojson")
    communities_file(geo, args.communities)
    marker = args.db.with_suffix(f".{args.reports}.{args.communities}.{args.days}.ok")
    if not marker.exists():
        args.db.unlink(missing_ok=True)
        began = time.perf_counter()
        asyncio.run(build(args.db, args.reports, args.communities, args.days, now))
        marker.write_text("built\n")
        print(f"built {args.reports:,} reports in {time.perf_counter() - began:.0f} s")
    conn = sqlite3.connect(args.db)
    counts = {
        "reports": conn.execute("SELECT count(*) FROM reports").fetchone()[0],
        "events": conn.execute("SELECT count(*) FROM events").fetchone()[0],
        "still open": conn.execute(
            "SELECT count(*) FROM reports WHERE status IN ('open','claimed','unrouted')"
        ).fetchone()[0],
    }
    conn.close()
    result = asyncio.run(measure(args.db, geo, args.runs, now))
    print(
        f"\ndigest benchmark: {counts['reports']:,} reports, {counts['events']:,} events, "
        f"{args.communities} communities, {counts['still open']:,} still open; SQLite"
    )
    print(f"{'what':<28}{'median s':>10}")
    for name, value in result.items():
        print(f"{name:<28}{value:>10.3f}")
    daily = result["the next morning's digest"]
    cold = result["first digest after a start"]
    verdict = "PASS" if daily < args.target else "FAIL"
    print(
        f"target: the daily digest under {args.target:g} s: {verdict} "
        f"(the first after a start: {'PASS' if cold < args.target else 'FAIL'})"
    )
    print("query plans:")
    print("\n".join(plans(args.db, now)))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
