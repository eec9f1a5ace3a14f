"""Routing benchmark: the STRtree Router against a brute-force scan over 10,000 areas.

Run: .venv/bin/python bench/routing.py [--areas 10000] [--lookups 50000] [--brute 300] [--runs 3]

Builds a grid of small square areas (about 250 m, with 0–40 m gaps and a few missing squares) as
a GeoJSON FeatureCollection, loads it through parse_communities (which checks overlaps), then
times random lookups over the grid and a 1 km margin. The brute force runs over a subset of the
same points in the same run; both answers are compared. Each timing is the median of --runs.
Exits 1 when the Router is below the target of 50,000 lookups/s.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from bot.geo import CommunityArea, Route, Router, brute_force_route, parse_communities

TARGET = 50_000.0
ORIGIN_LAT, ORIGIN_LON = 36.0, 113.0
CELL_DEG = 0.0025  # ~278 m north-south, ~225 m east-west at 36°N


def build_collection(count: int, rng: random.Random) -> dict[str, Any]:
    side = math.ceil(math.sqrt(count))
    features: list[dict[str, Any]] = []
    for i in range(side):
        for j in range(side):
            if len(features) == count:
                break
            # Squares shrink a little on their east/north sides: some touch, some leave gaps.
            gap_e = rng.choice([0.0, 0.0, 0.0001, 0.0004])
            gap_n = rng.choice([0.0, 0.0, 0.0001, 0.0004])
            w, s = ORIGIN_LON + i * CELL_DEG, ORIGIN_LAT + j * CELL_DEG
            e, n = w + CELL_DEG - gap_e, s + CELL_DEG - gap_n
            ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
            features.append(
                {
                    "type": "Feature",
                    "properties": {"id": f"c{i}-{j}", "name": f"Cell {i},{j}"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            )
    return {"type": "FeatureCollection", "features": features}


def random_points(
    areas: Sequence[CommunityArea], n: int, rng: random.Random
) -> list[tuple[float, float]]:
    west = min(a.geometry.bounds[0] for a in areas) - 0.01
    south = min(a.geometry.bounds[1] for a in areas) - 0.01
    east = max(a.geometry.bounds[2] for a in areas) + 0.01
    north = max(a.geometry.bounds[3] for a in areas) + 0.01
    return [(rng.uniform(south, north), rng.uniform(west, east)) for _ in range(n)]


def timed(fn: Callable[[], list[Route]], runs: int) -> tuple[float, list[Route]]:
    """Median seconds over `runs` runs, and the answers of the last one."""
    seconds: list[float] = []
    answers: list[Route] = []
    for _ in range(runs):
        started = time.perf_counter()
        answers = fn()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), answers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--areas", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=50_000)
    parser.add_argument("--brute", type=int, default=300, help="lookups for the brute force")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    started = time.perf_counter()
    collection = build_collection(args.areas, rng)
    areas = parse_communities(collection, source="<bench grid>")
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    router = Router(areas, tolerance_m=args.tolerance)
    index_s = time.perf_counter() - started

    points = random_points(areas, args.lookups, rng)
    brute_points = points[: args.brute]
    route = router.route
    tol = args.tolerance

    router_s, answers = timed(lambda: [route(lat, lon) for lat, lon in points], args.runs)
    brute_s, brute_answers = timed(
        lambda: [brute_force_route(areas, lat, lon, tol) for lat, lon in brute_points], args.runs
    )
    mismatches = sum(a != b for a, b in zip(answers, brute_answers, strict=False))

    # Each kind of answer on its own, to show where the time goes.
    by_kind: dict[str, list[tuple[float, float]]] = {}
    for point, answer in zip(points, answers, strict=True):
        by_kind.setdefault(answer.kind.value, []).append(point)

    router_rate = len(points) / router_s
    brute_rate = len(brute_points) / brute_s
    mix = Counter(a.kind.value for a in answers)
    print(f"areas: {len(areas):,}  (parse + overlap check {load_s:.2f} s, index {index_s:.2f} s)")
    print(
        f"lookups: {len(points):,} router, {len(brute_points):,} brute force; "
        f"tolerance {tol:g} m; median of {args.runs} runs"
    )
    print("mix: " + ", ".join(f"{k} {mix[k] / len(answers):.1%}" for k in sorted(mix)))
    print()
    print(f"{'method':<22}{'lookups/s':>14}{'µs/lookup':>12}")
    print(f"{'Router (STRtree)':<22}{router_rate:>14,.0f}{1e6 / router_rate:>12.1f}")
    for kind in sorted(by_kind):
        pts = by_kind[kind]
        kind_s, _ = timed(lambda pts=pts: [route(lat, lon) for lat, lon in pts], args.runs)
        rate = len(pts) / kind_s
        print(f"{'  only ' + kind:<22}{rate:>14,.0f}{1e6 / rate:>12.1f}")
    print(f"{'brute force':<22}{brute_rate:>14,.1f}{1e6 / brute_rate:>12.1f}")
    print(f"{'ratio':<22}{router_rate / brute_rate:>13,.0f}×")
    print(f"answers differing from brute force: {mismatches} of {len(brute_answers)}")
    verdict = "PASS" if router_rate >= TARGET and mismatches == 0 else "FAIL"
    print(f"target ≥ {TARGET:,.0f} lookups/s: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
