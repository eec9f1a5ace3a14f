"""Communities file checks and point routing (bot/geo.py)."""

from __future__ import annotations

import json
import math
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from geopy.distance import great_circle
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Language
from bot.errors import ConfigError
from bot.geo import (
    CommunityArea,
    Route,
    RouteKind,
    Router,
    _degree_radius,
    brute_force_route,
    load_communities,
    parse_communities,
)

DEMO = Path(__file__).resolve().parents[2] / "bot" / "data" / "communities.geojson"
SRC = "x.geojson"
PREFIX = f"COMMUNITIES_FILE {SRC}: "


# ------------------------------------------------------------------------------------- helpers


def rect(w: float, s: float, e: float, n: float) -> list[list[list[float]]]:
    return [[[w, s], [e, s], [e, n], [w, n], [w, s]]]


def feature(fid: Any, geometry: Any, **props: Any) -> dict[str, Any]:
    properties = {"id": fid, "name": f"name of {fid}", **props}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def polygon(w: float, s: float, e: float, n: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": rect(w, s, e, n)}


def collection(*features: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def parse(*features: Any, default_language: str = "zh") -> list[CommunityArea]:
    return parse_communities(collection(*features), source=SRC, default_language=default_language)


def moved(lat: float, lon: float, metres: float, bearing: float) -> tuple[float, float]:
    p = great_circle(meters=metres).destination((lat, lon), bearing=bearing)
    return float(p.latitude), float(p.longitude)


@pytest.fixture(scope="module")
def demo() -> list[CommunityArea]:
    return load_communities(DEMO)


@pytest.fixture(scope="module")
def router(demo: list[CommunityArea]) -> Router:
    return Router(demo)


def route_both(areas: list[CommunityArea], lat: float, lon: float, tol: float = 150.0) -> Route:
    indexed = Router(areas, tolerance_m=tol).route(lat, lon)
    assert brute_force_route(areas, lat, lon, tol) == indexed
    return indexed


# ------------------------------------------------------------------------------ demo and routing


def test_demo_file_loads(demo: list[CommunityArea]) -> None:
    ids = [a.id for a in demo]
    assert ids == [
        "longquan",
        "chengbei",
        "chengnan",
        "dongguan",
        "xiguan",
        "riverside",
        "huangshan",
    ]
    assert {a.language for a in demo} == {"zh", "en"}
    assert all(isinstance(a.language, Language) for a in demo)
    assert all(a.chat_id is None for a in demo)
    riverside = next(a for a in demo if a.id == "riverside")
    assert riverside.language == "en"
    assert riverside.geometry.geom_type == "MultiPolygon"
    assert next(a for a in demo if a.id == "huangshan").geometry.geom_type == "Polygon"
    # Explicit languages win over the default.
    assert load_communities(DEMO, default_language="en")[0].language == "zh"


DEMO_INSIDE = [
    (36.115, 113.207, "longquan"),
    (36.125, 113.207, "chengbei"),
    (36.105, 113.207, "chengnan"),
    (36.115, 113.220, "dongguan"),
    (36.115, 113.192, "xiguan"),
    (36.100, 113.220, "riverside"),
    (36.100, 113.232, "riverside"),
    (36.135, 113.222, "huangshan"),
]


@pytest.mark.parametrize(("lat", "lon", "expected"), DEMO_INSIDE)
def test_inside(router: Router, lat: float, lon: float, expected: str) -> None:
    assert router.route(lat, lon) == Route(expected, RouteKind.INSIDE, 0.0)
    assert brute_force_route(router.areas, lat, lon) == router.route(lat, lon)


def test_sample_points_are_inside(router: Router) -> None:
    for area in router.areas:
        assert router.route(*area.sample_point()).community_id == area.id


def test_near_100m_outside_an_edge(router: Router) -> None:
    lat, lon = moved(36.115, 113.186, 100, 270)  # 100 m west of 西关社区's west edge
    got = router.route(lat, lon)
    assert got.community_id == "xiguan"
    assert got.kind is RouteKind.NEAR
    assert got.distance_m == pytest.approx(100, abs=0.5)
    assert brute_force_route(router.areas, lat, lon) == got


def test_near_in_a_gap_goes_to_the_nearest(router: Router) -> None:
    # The ~90 m lane between 西关社区 (west) and 龙泉社区 (east): 36 m from 龙泉, 54 m from 西关.
    got = router.route(36.115, 113.1996)
    assert (got.community_id, got.kind) == ("longquan", RouteKind.NEAR)
    assert got.distance_m == pytest.approx(36, abs=1)
    got = router.route(36.115, 113.1994)
    assert (got.community_id, got.kind) == ("xiguan", RouteKind.NEAR)


def test_outside_500m(router: Router) -> None:
    lat, lon = moved(36.115, 113.186, 500, 270)
    got = router.route(lat, lon)
    assert (got.community_id, got.kind) == (None, RouteKind.OUTSIDE)
    assert got.distance_m == pytest.approx(500, abs=1)
    assert brute_force_route(router.areas, lat, lon) == got
    far = router.route(36.150, 113.170)
    assert far.kind is RouteKind.OUTSIDE
    assert far.distance_m > 1000


def test_tolerance_is_configurable(demo: list[CommunityArea]) -> None:
    lat, lon = moved(36.115, 113.186, 100, 270)
    assert route_both(demo, lat, lon, tol=50).kind is RouteKind.OUTSIDE
    assert route_both(demo, lat, lon, tol=0).kind is RouteKind.OUTSIDE
    assert route_both(demo, lat, lon, tol=120).kind is RouteKind.NEAR


def test_shared_border_goes_to_nearest_centroid(router: Router) -> None:
    # On the border of 龙泉社区 (centroid lon 113.207) and 东关社区 (centroid lon 113.220) at
    # lon 113.214: 东关's centroid is nearer.
    expected = Route("dongguan", RouteKind.INSIDE, 0.0)
    assert {router.route(36.115, 113.214) for _ in range(5)} == {expected}
    assert brute_force_route(router.areas, 36.115, 113.214) == expected
    # On the 龙泉/城北 border both centroids are about as far: one fixed answer, whatever the order.
    first = router.route(36.120, 113.201)
    assert first.kind is RouteKind.INSIDE
    assert first.community_id in {"longquan", "chengbei"}
    assert Router(list(reversed(router.areas))).route(36.120, 113.201) == first
    assert brute_force_route(router.areas, 36.120, 113.201) == first


def test_shared_border_exact_tie_goes_to_lowest_id() -> None:
    areas = parse(feature("zulu", polygon(0, 0, 1, 1)), feature("alpha", polygon(1, 0, 2, 1)))
    assert route_both(areas, 0.5, 1.0) == Route("alpha", RouteKind.INSIDE, 0.0)
    assert route_both(list(reversed(areas)), 0.5, 1.0).community_id == "alpha"


def test_multipolygon() -> None:
    multi = {
        "type": "MultiPolygon",
        "coordinates": [rect(10.0, 50.0, 10.01, 50.01), rect(10.02, 50.0, 10.03, 50.01)],
    }
    areas = parse(feature("two-parts", multi), feature("other", polygon(10.04, 50.0, 10.05, 50.01)))
    assert route_both(areas, 50.005, 10.005).community_id == "two-parts"
    assert route_both(areas, 50.005, 10.025).community_id == "two-parts"
    gap = route_both(areas, 50.005, 10.0145)  # in the 716 m gap, 322 m from the west part
    assert gap.kind is RouteKind.OUTSIDE
    near = route_both(areas, 50.005, 10.0115)  # 107 m east of the west part
    assert (near.community_id, near.kind) == ("two-parts", RouteKind.NEAR)
    assert near.distance_m == pytest.approx(107.2, abs=1)


@pytest.mark.parametrize("bearing", [0.0, 45.0, 137.0, 200.0, 270.0])
def test_point_with_radius(bearing: float) -> None:
    point = {"type": "Point", "coordinates": [113.25, 36.2]}
    areas = parse(feature("village", point, radius_m=400))
    lat, lon = moved(36.2, 113.25, 360, bearing)  # 90 %
    assert route_both(areas, lat, lon) == Route("village", RouteKind.INSIDE, 0.0)
    lat, lon = moved(36.2, 113.25, 440, bearing)  # 110 %
    near = route_both(areas, lat, lon)
    assert (near.community_id, near.kind) == ("village", RouteKind.NEAR)
    assert near.distance_m == pytest.approx(40, abs=1)
    lat, lon = moved(36.2, 113.25, 1200, bearing)  # 3×
    far = route_both(areas, lat, lon)
    assert (far.community_id, far.kind) == (None, RouteKind.OUTSIDE)
    assert far.distance_m == pytest.approx(800, abs=2)


def test_point_radius_is_metres_not_degrees() -> None:
    # At 60°N a degree of longitude is half a degree of latitude; the circle must stay round.
    areas = parse(feature("north", {"type": "Point", "coordinates": [25.0, 60.0]}, radius_m=1000))
    for bearing in (0.0, 90.0, 180.0, 270.0):
        assert route_both(areas, *moved(60.0, 25.0, 950, bearing)).kind is RouteKind.INSIDE
        assert route_both(areas, *moved(60.0, 25.0, 1050, bearing)).kind is RouteKind.NEAR


def test_area_in_a_hole_of_another() -> None:
    donut = {
        "type": "Polygon",
        "coordinates": [*rect(0, 0, 3, 3), [[1, 1], [1, 2], [2, 2], [2, 1], [1, 1]]],
    }
    areas = parse(feature("ring", donut), feature("core", polygon(1, 1, 2, 2)))
    assert route_both(areas, 1.5, 1.5).community_id == "core"
    assert route_both(areas, 0.5, 0.5).community_id == "ring"


def test_community_area_built_directly(demo: list[CommunityArea]) -> None:
    area = CommunityArea("x", "X", 5, "en", demo[0].geometry)
    assert area.language is Language.EN
    assert (area.centroid_lat, area.centroid_lon) == pytest.approx((36.115, 113.207))
    assert area.distance_m(36.115, 113.207) == 0
    assert area.distance_m(*moved(36.115, 113.214, 100, 90)) == pytest.approx(100, abs=0.5)
    with pytest.raises(ValueError, match="zh or en"):
        CommunityArea("x", "X", None, "fr", demo[0].geometry)


def test_router_area_lookup(router: Router) -> None:
    assert router.area("riverside").name == "Riverside Community"
    with pytest.raises(KeyError):
        router.area("nowhere")
    assert len(router.areas) == 7


def test_empty_router_routes_outside() -> None:
    assert Router([]).route(36.1, 113.2) == Route(None, RouteKind.OUTSIDE, math.inf)
    assert brute_force_route([], 36.1, 113.2) == Route(None, RouteKind.OUTSIDE, math.inf)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (90.5, 0.0),
        (-91.0, 0.0),
        (0.0, 180.01),
        (0.0, -181.0),
        (math.nan, 0.0),
        (0.0, math.inf),
        (True, 0.0),
        ("36.1", 113.2),
        (None, 113.2),
        (Decimal("36.1"), 113.2),
    ],
)
def test_bad_coordinates(router: Router, lat: Any, lon: Any) -> None:
    with pytest.raises(ValueError):
        router.route(lat, lon)
    with pytest.raises(ValueError):
        brute_force_route(router.areas, lat, lon)


def test_extreme_but_valid_coordinates(router: Router) -> None:
    for lat, lon in [(90, 180), (-90, -180), (0, 0), (36, 113), (90.0, 0.0), (-90.0, 180.0)]:
        assert router.route(lat, lon).kind is RouteKind.OUTSIDE
        assert brute_force_route(router.areas, lat, lon) == router.route(lat, lon)
    assert router.route(np.float64(36.115), np.float64(113.207)).community_id == "longquan"


def test_bad_tolerance(demo: list[CommunityArea]) -> None:
    with pytest.raises(ValueError):
        Router(demo, tolerance_m=-1)
    with pytest.raises(ValueError):
        Router(demo, tolerance_m=math.nan)


def test_router_rejects_duplicate_ids(demo: list[CommunityArea]) -> None:
    with pytest.raises(ValueError, match="longquan"):
        Router([demo[0], demo[0]])


# ------------------------------------------------------------------------------- file checking


def test_properties_default_and_chat_id() -> None:
    areas = parse(
        feature("a", polygon(0, 0, 1, 1), chat_id=-1001234567890),
        feature("b", polygon(1, 0, 2, 1), chat_id="-42", language="EN"),
        feature("c", polygon(2, 0, 3, 1), chat_id=None, language=None),
        default_language="en",
    )
    assert [(a.chat_id, a.language) for a in areas] == [
        (-1001234567890, "en"),
        (-42, "en"),
        (None, "en"),
    ]
    assert parse(feature("a", polygon(0, 0, 1, 1)))[0].language == "zh"


def test_touching_borders_and_corners_are_fine() -> None:
    areas = parse(
        feature("a", polygon(0, 0, 1, 1)),
        feature("b", polygon(1, 0, 2, 1)),
        feature("c", polygon(1, 1, 2, 2)),
        feature("d", polygon(0.5, 1, 1, 2)),
    )
    assert len(areas) == 4


def test_overlap_names_both_features() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(
            feature("longquan", polygon(113.200, 36.110, 113.214, 36.120)),
            feature("west", polygon(113.190, 36.110, 113.200, 36.120)),
            feature("east-gate", polygon(113.210, 36.110, 113.220, 36.120)),
        )
    assert str(caught.value).startswith(
        f'{PREFIX}feature 3 ("east-gate") overlaps feature 1 ("longquan") by about '
    )


def test_overlap_check_scales() -> None:
    # 50 × 50 touching squares pass quickly; one extra overlapping square is named.
    features = [
        feature(f"c{i}-{j}", polygon(i * 0.01, j * 0.01, (i + 1) * 0.01, (j + 1) * 0.01))
        for i in range(50)
        for j in range(50)
    ]
    started = time.perf_counter()
    assert len(parse(*features)) == 2500
    assert time.perf_counter() - started < 5
    with pytest.raises(ConfigError, match=r'feature 2501 \("extra"\) overlaps feature \d+ '):
        parse(*features, feature("extra", polygon(0.205, 0.205, 0.215, 0.215)))


BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
GOOD = feature("good", polygon(5, 5, 6, 6))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "the file is not a GeoJSON FeatureCollection"),
        ({"type": "Feature"}, "the file is not a GeoJSON FeatureCollection"),
        ({"type": "FeatureCollection"}, "no list of features"),
        ({"type": "FeatureCollection", "features": []}, "no features"),
        (collection(GOOD, "oops"), "feature 2 is not a GeoJSON Feature"),
        (
            collection(
                GOOD, feature("line", {"type": "LineString", "coordinates": [[0, 0], [1, 1]]})
            ),
            'feature 2 ("line") has geometry type "LineString"',
        ),
        (
            collection(feature("circle", {"type": "Circle", "coordinates": [0, 0]})),
            'feature 1 ("circle") has geometry type "Circle"',
        ),
        (
            collection(GOOD, feature("bowtie", BOWTIE)),
            'feature 2 ("bowtie") has an invalid Polygon',
        ),
        (
            collection(
                GOOD, feature("short", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]})
            ),
            'feature 2 ("short") has malformed Polygon coordinates',
        ),
        (
            collection(GOOD, feature("junk", {"type": "Polygon", "coordinates": "nope"})),
            'feature 2 ("junk") has malformed Polygon coordinates',
        ),
        (collection(GOOD, feature("bare", None)), 'feature 2 ("bare") has no geometry'),
        (
            collection(feature("swapped", polygon(36.1, 113.2, 36.2, 113.3))),
            'feature 1 ("swapped") has coordinates outside lon -180..180, lat -90..90',
        ),
        (collection(GOOD, feature(None, polygon(0, 0, 1, 1))), "feature 2 has no id property"),
        (
            collection(
                GOOD, {"type": "Feature", "properties": None, "geometry": polygon(0, 0, 1, 1)}
            ),
            "feature 2 has no id property",
        ),
        (collection(feature(7, polygon(0, 0, 1, 1))), "feature 1 has id 7, which is not a slug"),
        (
            collection(feature("East Gate", polygon(0, 0, 1, 1))),
            'feature 1 has id "East Gate", which is not a slug',
        ),
        (
            collection(GOOD, feature("a", polygon(0, 0, 1, 1)), feature("a", polygon(1, 0, 2, 1))),
            'feature 3 ("a") has the same id as feature 2',
        ),
        (
            collection(GOOD, feature("fr", polygon(0, 0, 1, 1), language="fr")),
            'feature 2 ("fr") has language "fr"; use zh or en',
        ),
        (
            collection(feature("chat", polygon(0, 0, 1, 1), chat_id=1.5)),
            'feature 1 ("chat") has chat_id 1.5, which is not an integer',
        ),
        (
            collection(
                {"type": "Feature", "properties": {"id": "anon"}, "geometry": polygon(0, 0, 1, 1)}
            ),
            'feature 1 ("anon") has no name property',
        ),
        (
            collection(feature("dot", {"type": "Point", "coordinates": [113.2, 36.1]})),
            'feature 1 ("dot") is a Point without a numeric radius_m property',
        ),
        (
            collection(
                feature("dot", {"type": "Point", "coordinates": [113.2, 36.1]}, radius_m="9")
            ),
            'feature 1 ("dot") is a Point without a numeric radius_m property',
        ),
        (
            collection(
                feature("dot", {"type": "Point", "coordinates": [113.2, 36.1]}, radius_m=-5)
            ),
            'feature 1 ("dot") has radius_m -5',
        ),
    ],
)
def test_config_errors_name_file_and_feature(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_communities(data, source=SRC)
    text = str(caught.value)
    assert text.startswith(PREFIX), text
    assert message in text, text
    assert text.endswith("."), text
    assert "\n" not in text


def test_load_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(
        ConfigError, match=re.escape(f"COMMUNITIES_FILE {bad}: the file is not valid JSON")
    ):
        load_communities(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_communities(tmp_path / "missing.geojson")
    bom = tmp_path / "bom.geojson"
    bom.write_text(json.dumps(collection(GOOD)), encoding="utf-8-sig")
    assert [a.id for a in load_communities(bom)] == ["good"]


def test_bad_default_language() -> None:
    with pytest.raises(ValueError):
        parse_communities(collection(GOOD), source=SRC, default_language="fr")


# ---------------------------------------------------------------------------- property checks


def grid_lon(i: int) -> float:
    return 113.30 + i * 0.003


def grid_lat(j: int) -> float:
    return 36.20 + j * 0.003


# 8 × 8 squares; odd columns stop ~45 m short of the next one, so there are shared borders,
# shared corners and gaps.
GRID = [
    feature(
        f"g{i}-{j}",
        polygon(
            grid_lon(i), grid_lat(j), grid_lon(i + 1) - (0.0005 if i % 2 else 0), grid_lat(j + 1)
        ),
    )
    for i in range(8)
    for j in range(8)
]


@pytest.fixture(scope="module")
def grid_router() -> Router:
    return Router(parse(*GRID))


@settings(max_examples=300, deadline=None)
@given(lat=st.floats(36.09, 36.145), lon=st.floats(113.18, 113.245))
def test_indexed_equals_brute_force_demo(router: Router, lat: float, lon: float) -> None:
    assert router.route(lat, lon) == brute_force_route(router.areas, lat, lon)


# Points anywhere around the grid, and exactly on its lines and corners.
grid_lats = st.one_of(st.floats(36.19, 36.23), st.integers(-2, 10).map(grid_lat))
grid_lons = st.one_of(
    st.floats(113.29, 113.33),
    st.integers(-2, 10).map(grid_lon),
    st.integers(-2, 10).map(lambda i: grid_lon(i) - 0.0005),
)


@settings(max_examples=400, deadline=None)
@given(lat=grid_lats, lon=grid_lons, tol=st.sampled_from([0.0, 30.0, 150.0, 400.0]))
def test_indexed_equals_brute_force_grid(
    grid_router: Router, lat: float, lon: float, tol: float
) -> None:
    indexed = grid_router if tol == 150.0 else Router(grid_router.areas, tolerance_m=tol)
    assert indexed.route(lat, lon) == brute_force_route(grid_router.areas, lat, lon, tol)


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(-80, 80),
    lon=st.floats(-170, 170),
    metres=st.floats(0, 5000),
    bearing=st.floats(0, 360),
)
def test_degree_radius_is_conservative(
    lat: float, lon: float, metres: float, bearing: float
) -> None:
    to_lat, to_lon = moved(lat, lon, metres, bearing)
    assert math.hypot(to_lat - lat, to_lon - lon) <= _degree_radius(lat, metres) + 1e-12
