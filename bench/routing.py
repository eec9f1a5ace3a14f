"""Routing benchmark: the STRtree Router against a brute-force scan over 10,000 areas.

Run: .venv/bin/python bench/routing.py [--areas 10000] [--lookups 50000] [--brute 300] [--runs 3]

Builds a grid of small square areas (about 225 m × 278 m at 36°N; a quarter of them leave a
~10 m gap and a quarter a ~40 m gap to their east or north neighbour) as a GeoJSON
FeatureCollection, loads it through parse_communities (which checks overlaps), then times random
lookups uniform over the grid's extent (the mix: inside and near answers), and on their own the
inside, near and outside answers (outside points lie 0–2 km off the grid). The brute force runs
over a subset of the same points in the same run and must give the same answers. Each timing is
the median of --runs. Exits 1 (FAIL) when the Router does fewer than 50,000 lookups/s on the mix
or disagrees with the brute force.
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
from functools import partial
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


def extent(areas: Sequence[CommunityArea]) -> tuple[float, float, float, float]:
    bounds = [a.geometry.bounds for a in areas]
    return (
        min(b[0] for b in bounds),
        min(b[1] for b in bounds),
        max(b[2] for b in bounds),
        max(b[3] for b in bounds),
    )


def random_points(
    box: tuple[float, float, float, float], n: int, rng: random.Random, *, margin: float = 0.0
) -> list[tuple[float, float]]:
    """n (lat, lon) points uniform over the box; with a margin, only in the band around it."""
    west, south, east, north = box
    points: list[tuple[float, float]] = []
    while len(points) < n:
        lat = rng.uniform(south - margin, north + margin)
        lon = rng.uniform(west - margin, east + margin)
        if margin and south <= lat <= north and west <= lon <= east:
            continue
        points.append((lat, lon))
    return points


def route_all(
    route: Callable[[float, float], Route], points: list[tuple[float, float]]
) -> list[Route]:
    return [route(lat, lon) for lat, lon in points]


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

    box = extent(areas)
    # The mix: riders report from inside the served territory (the grid and its gaps).
    points = random_points(box, args.lookups, rng)
    # Points off the territory (0–2 km around the grid), timed on their own.
    off_grid = random_points(box, max(1, args.lookups // 10), rng, margin=0.02)
    brute_mix = points[: args.brute]
    off_grid_checked = off_grid[: max(1, args.brute // 3)]
    route = router.route
    tol = args.tolerance

    def brute_all(sample: list[tuple[float, float]]) -> list[Route]:
        return [brute_force_route(areas, lat, lon, tol) for lat, lon in sample]

    router_s, answers = timed(partial(route_all, route, points), args.runs)
    brute_s, brute_answers = timed(partial(brute_all, brute_mix), args.runs)
    # The same answers, on the mix and off the grid.
    mismatches = sum(a != b for a, b in zip(answers, brute_answers, strict=False))
    mismatches += sum(
        a != b
        for a, b in zip(
            route_all(route, off_grid_checked), brute_all(off_grid_checked), strict=True
        )
    )
    checked = len(brute_mix) + len(off_grid_checked)

    # Each kind of answer on its own, to show where the time goes.
    by_kind: dict[str, list[tuple[float, float]]] = {}
    for point in points + off_grid:
        by_kind.setdefault(route(*point).kind.value, []).append(point)

    router_rate = len(points) / router_s
    brute_rate = len(brute_mix) / brute_s
    mix = Counter(a.kind.value for a in answers)
    print(f"areas: {len(areas):,}  (parse + overlap check {load_s:.2f} s, index {index_s:.2f} s)")
    print(
        f"lookups: {len(points):,} uniform over the grid's extent "
        f"({', '.join(f'{k} {mix[k] / len(answers):.1%}' for k in sorted(mix))}); "
        f"tolerance {tol:g} m; median of {args.runs} runs"
    )
    print()
    print(f"{'method':<34}{'lookups/s':>12}{'µs/lookup':>12}")
    print(f"{'Router (STRtree), the mix':<34}{router_rate:>12,.0f}{1e6 / router_rate:>12.1f}")
    for kind in ("inside", "near", "outside"):
        pts = by_kind.get(kind, [])
        if not pts:
            continue
        kind_s, _ = timed(partial(route_all, route, pts), args.runs)
        rate = len(pts) / kind_s
        label = f"  {kind} only ({len(pts):,} points)"
        print(f"{label:<34}{rate:>12,.0f}{1e6 / rate:>12.1f}")
    label = f"brute force, the mix ({len(brute_mix)} points)"
    print(f"{label:<34}{brute_rate:>12,.1f}{1e6 / brute_rate:>12.1f}")
    print(f"{'ratio Router / brute force':<34}{router_rate / brute_rate:>11,.0f}×")
    print(
        f"answers differing from brute force: {mismatches} of {checked} "
        f"({len(off_grid_checked)} of them off the grid)"
    )
    verdict = "PASS" if router_rate >= TARGET and mismatches == 0 else "FAIL"
    print(f"target ≥ {TARGET:,.0f} lookups/s (Router, the mix): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
