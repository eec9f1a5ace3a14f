"""Communities and routing: which community's area a reported point belongs to.

Communities come from a GeoJSON FeatureCollection (lon/lat, WGS84). Each feature is one
community's area: a Polygon, a MultiPolygon, or a Point with a ``radius_m`` property (turned into
a circle in metres). Properties: ``id`` (stable slug), ``name``, optional ``chat_id`` (the staff
group) and optional ``language`` (``zh`` or ``en``).

Routing (`Router.route`):

* a point covered by an area (inside or on its border) goes to that area: INSIDE, distance 0;
  when several areas cover it (a shared border), the one with the nearest centroid wins, then
  the lowest id;
* else the nearest area within the tolerance (default 150 m) gets it: NEAR, distance in metres;
  ties go to the lowest id;
* else the point is OUTSIDE; its distance is the one to the area nearest in lon/lat terms
  (always more than the tolerance), or infinity when there are no areas at all.

Distances are great-circle metres (geopy) from the point to the nearest point of the area's
border, that nearest point being found in a local equirectangular frame of the area (longitudes
scaled by the cosine of its centroid's latitude). Areas crossing the antimeridian are not
supported.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from geopy.distance import great_circle
from shapely import Point, STRtree
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from bot.domain import Language, RouteKind
from bot.errors import ConfigError

__all__ = [
    "OVERLAP_TOLERANCE_M2",
    "CommunityArea",
    "Route",
    "RouteKind",
    "Router",
    "brute_force_route",
    "load_communities",
    "parse_communities",
]

# Metres per degree of arc on geopy's great-circle sphere (mean radius 6371.009 km).
_M_PER_DEG = 6_371_009.0 * math.pi / 180.0
# Two areas whose interiors share less than this many square metres only "touch".
OVERLAP_TOLERANCE_M2 = 1.0
# Vertices of the polygon that stands for a Point + radius_m circle.
_CIRCLE_VERTICES = 64
_MAX_RADIUS_M = 50_000.0
_ID_SHAPE = re.compile(r"[a-z0-9_-]{1,40}")
_GEOMETRY_TYPES = ("Polygon", "MultiPolygon", "Point")


@dataclass(frozen=True, slots=True)
class CommunityArea:
    """One community: its id, name, staff group, language and area (shapely, lon/lat)."""

    id: str
    name: str
    chat_id: int | None
    language: str  # "zh" or "en"; stored as a bot.domain.Language (a str)
    geometry: BaseGeometry
    # Derived in __post_init__ (not part of equality): centroid and the routing metric's frame.
    centroid_lat: float = field(init=False, compare=False)
    centroid_lon: float = field(init=False, compare=False)
    _lon_scale: float = field(init=False, compare=False, repr=False)
    _scaled: BaseGeometry = field(init=False, compare=False, repr=False)
    _bounds: tuple[float, float, float, float] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "language", Language(self.language))
        except ValueError:
            raise ValueError(f"language must be zh or en, not {self.language!r}") from None
        centroid = self.geometry.centroid
        lat, lon = float(centroid.y), float(centroid.x)
        scale = max(math.cos(math.radians(lat)), 1e-6)
        factor = np.array([scale, 1.0])
        object.__setattr__(self, "centroid_lat", lat)
        object.__setattr__(self, "centroid_lon", lon)
        object.__setattr__(self, "_lon_scale", scale)
        west, south, east, north = (float(v) for v in self.geometry.bounds)
        object.__setattr__(self, "_bounds", (west, south, east, north))
        object.__setattr__(
            self, "_scaled", shapely.transform(self.geometry, lambda xy: xy * factor)
        )

    def sample_point(self) -> tuple[float, float]:
        """A (lat, lon) guaranteed to lie inside the area (handy for tests and demos)."""
        p = self.geometry.representative_point()
        return float(p.y), float(p.x)

    def distance_m(self, lat: float, lon: float) -> float:
        """Metres from (lat, lon) to the area; 0 when the area covers the point."""
        _check_point(lat, lon)
        if shapely.intersects_xy(self.geometry, lon, lat):
            return 0.0
        return _border_distance_m(self, lat, lon)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a point goes: the community (None when outside), how, and how far (metres)."""

    community_id: str | None
    kind: RouteKind
    distance_m: float


# --------------------------------------------------------------------------------------------
# Loading


def load_communities(path: Path, *, default_language: str = "zh") -> list[CommunityArea]:
    """Read and check the COMMUNITIES_FILE; any fault raises ConfigError naming file and feature."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"COMMUNITIES_FILE {source}: the file does not exist.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"COMMUNITIES_FILE {source}: the file is not UTF-8 text.") from None
    except OSError as exc:
        raise ConfigError(
            f"COMMUNITIES_FILE {source}: the file cannot be read ({exc.strerror or exc})."
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"COMMUNITIES_FILE {source}: the file is not valid JSON "
            f"(line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    return parse_communities(data, source=source, default_language=default_language)


def parse_communities(
    data: object, *, source: str, default_language: str = "zh"
) -> list[CommunityArea]:
    """Check a decoded GeoJSON FeatureCollection and build its communities, in file order.

    Features are numbered from 1 in messages, e.g. ``COMMUNITIES_FILE x.geojson: feature 3
    ("east-gate") overlaps feature 1 ("longquan") by about 5,200 m².``
    """
    try:
        default = Language(default_language)
    except ValueError:
        raise ValueError(f"default_language must be zh or en, not {default_language!r}") from None
    prefix = f"COMMUNITIES_FILE {source}"
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ConfigError(f"{prefix}: the file is not a GeoJSON FeatureCollection.")
    features = data.get("features")
    if not isinstance(features, list):
        raise ConfigError(f"{prefix}: the FeatureCollection has no list of features.")
    if not features:
        raise ConfigError(f"{prefix}: the FeatureCollection has no features (no communities).")

    areas: list[CommunityArea] = []
    first_number: dict[str, int] = {}
    for number, feature in enumerate(features, start=1):
        area = _parse_feature(feature, number, prefix, default)
        if area.id in first_number:
            raise ConfigError(
                f'{prefix}: feature {number} ("{area.id}") has the same id as '
                f"feature {first_number[area.id]}."
            )
        first_number[area.id] = number
        areas.append(area)
    _check_overlaps(areas, prefix)
    return areas


def _parse_feature(feature: object, number: int, prefix: str, default: Language) -> CommunityArea:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ConfigError(f"{prefix}: feature {number} is not a GeoJSON Feature.")
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise ConfigError(f"{prefix}: feature {number} has properties that are not an object.")

    raw_id = props.get("id")
    if raw_id is None or raw_id == "":
        raise ConfigError(f"{prefix}: feature {number} has no id property.")
    if not isinstance(raw_id, str) or not _ID_SHAPE.fullmatch(raw_id):
        raise ConfigError(
            f"{prefix}: feature {number} has id {json.dumps(raw_id, ensure_ascii=False)}, "
            "which is not a slug of 1 to 40 characters a-z, 0-9, _ and -."
        )
    where = f'{prefix}: feature {number} ("{raw_id}")'

    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} has no name property.")

    chat_id = _parse_chat_id(props.get("chat_id"), where)

    raw_language = props.get("language")
    if raw_language is None or raw_language == "":
        language = default
    else:
        try:
            language = Language(str(raw_language).strip().lower())
        except ValueError:
            raise ConfigError(
                f"{where} has language {json.dumps(raw_language, ensure_ascii=False)}; "
                "use zh or en."
            ) from None

    geometry = _parse_geometry(feature.get("geometry"), props, where)
    return CommunityArea(
        id=raw_id, name=name.strip(), chat_id=chat_id, language=language, geometry=geometry
    )


def _parse_chat_id(raw: object, where: str) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"-?\d{1,20}", raw.strip()):
        return int(raw.strip())
    raise ConfigError(
        f"{where} has chat_id {json.dumps(raw, ensure_ascii=False)}, which is not an integer."
    )


def _parse_geometry(raw: object, props: dict[str, Any], where: str) -> BaseGeometry:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} has no geometry.")
    kind = raw.get("type")
    if kind not in _GEOMETRY_TYPES:
        shown = json.dumps(kind, ensure_ascii=False)
        raise ConfigError(
            f"{where} has geometry type {shown}; use Polygon, MultiPolygon or Point with radius_m."
        )
    try:
        geometry = shapely.force_2d(shape(raw))
    except (GEOSException, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ConfigError(f"{where} has malformed {kind} coordinates ({exc}).") from None
    if geometry.is_empty:
        raise ConfigError(f"{where} has an empty {kind}.")
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all():
        raise ConfigError(f"{where} has coordinates that are not finite numbers.")
    lons, lats = coords[:, 0], coords[:, 1]
    if (np.abs(lons) > 180).any() or (np.abs(lats) > 90).any():
        raise ConfigError(
            f"{where} has coordinates outside lon -180..180, lat -90..90 "
            "(GeoJSON puts longitude first)."
        )
    if kind == "Point":
        geometry = _circle(geometry, props.get("radius_m"), where)
    elif not isinstance(geometry, Polygon | MultiPolygon):
        raise ConfigError(f"{where} has a {kind} that shapely cannot read as one.")
    if not shapely.is_valid(geometry):
        reason = shapely.is_valid_reason(geometry)
        raise ConfigError(f"{where} has an invalid {kind}: {reason}.")
    if geometry.area <= 0:
        raise ConfigError(f"{where} has a {kind} with no area.")
    return geometry


def _circle(center: BaseGeometry, radius: object, where: str) -> BaseGeometry:
    """The circle of `radius` metres around a lon/lat point, drawn in its own azimuthal frame.

    Each vertex is the great-circle destination at `radius` metres on an even bearing (that is,
    the azimuthal-equidistant projection around the point, inverted), so the circle agrees with
    the great-circle metres routing measures.
    """
    if isinstance(radius, bool) or not isinstance(radius, int | float):
        raise ConfigError(f"{where} is a Point without a numeric radius_m property.")
    r = float(radius)
    if not math.isfinite(r) or r <= 0 or r > _MAX_RADIUS_M:
        raise ConfigError(
            f"{where} has radius_m {radius}; "
            f"use more than 0 and at most {_MAX_RADIUS_M:.0f} metres."
        )
    lat, lon = float(center.y), float(center.x)
    if abs(lat) + r / _M_PER_DEG >= 89.0:
        raise ConfigError(f"{where} has a Point circle too close to a pole.")
    step = great_circle(meters=r)
    ring: list[tuple[float, float]] = []
    for k in range(_CIRCLE_VERTICES):
        # Counter-clockwise from east, as RFC 7946 wants exterior rings.
        bearing = (90.0 - 360.0 * k / _CIRCLE_VERTICES) % 360.0
        dest = step.destination((lat, lon), bearing=bearing)
        dest_lon = float(dest.longitude)
        if abs(dest_lon - lon) > 180.0:
            raise ConfigError(f"{where} has a Point circle that crosses the antimeridian.")
        ring.append((dest_lon, float(dest.latitude)))
    return Polygon(ring)


def _check_overlaps(areas: Sequence[CommunityArea], prefix: str) -> None:
    """Raise when two areas share interior of more than OVERLAP_TOLERANCE_M2 (touching is fine)."""
    if len(areas) < 2:
        return
    geoms = np.array([a.geometry for a in areas], dtype=object)
    tree = STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if left.size == 0:
        return
    shared = shapely.intersection(geoms[left], geoms[right])
    area_deg2 = shapely.area(shared)
    lat = np.radians(np.array([areas[int(i)].centroid_lat for i in left]))
    area_m2 = area_deg2 * _M_PER_DEG * _M_PER_DEG * np.cos(lat)
    bad = np.flatnonzero(area_m2 > OVERLAP_TOLERANCE_M2)
    if bad.size == 0:
        return
    # Report the earliest later feature, against its earliest earlier one.
    k = min(bad, key=lambda b: (int(right[b]), int(left[b])))
    i, j = int(left[k]), int(right[k])
    raise ConfigError(
        f'{prefix}: feature {j + 1} ("{areas[j].id}") overlaps feature {i + 1} '
        f'("{areas[i].id}") by about {float(area_m2[k]):,.0f} m².'
    )


# --------------------------------------------------------------------------------------------
# Routing


def _check_point(lat: float, lon: float) -> None:
    """ValueError unless lat is a number in -90..90 and lon one in -180..180."""
    if (
        type(lat) is float
        and type(lon) is float
        and -90.0 <= lat <= 90.0
        and -180.0 <= lon <= 180.0
    ):
        return  # the common case, quickly
    for label, value, limit in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{label} must be a number, not {value!r}")
        if not -limit <= value <= limit:  # also false for NaN
            raise ValueError(f"{label} must be within -{limit:.0f}..{limit:.0f}, not {value!r}")


def _degree_radius(lat: float, distance_m: float) -> float:
    """A lon/lat radius (Euclidean, in degrees) holding every point within distance_m of lat.

    A point d metres away differs by at most d/k degrees of latitude and, east-west, by at most
    d/(k·cos φ) degrees of longitude, φ the largest latitude it can have; so its Euclidean
    degree distance is at most d/(k·cos φ). A 1 % margin covers the sphere's curvature.
    """
    dlat = distance_m / _M_PER_DEG
    phi = min(90.0, abs(lat) + dlat)
    c = math.cos(math.radians(phi))
    if c < 1e-6:
        return 360.0
    return min(360.0, dlat * 1.01 / c + 1e-9)


_GREAT_CIRCLE = great_circle()


def _border_distance_m(area: CommunityArea, lat: float, lon: float) -> float:
    """Great-circle metres (geopy) from (lat, lon) to the nearest point of the area's border.

    The nearest point is found with shapely in the area's own equirectangular frame.
    """
    scale = area._lon_scale
    # shapely.shortest_line is what shapely.ops.nearest_points wraps, minus two Point objects.
    line = shapely.shortest_line(area._scaled, shapely.points((lon * scale, lat)))
    x, y = shapely.get_coordinates(line)[0].tolist()
    near_lat = min(90.0, max(-90.0, y))
    near_lon = min(180.0, max(-180.0, x / scale))
    return float(_GREAT_CIRCLE.measure((lat, lon), (near_lat, near_lon))) * 1000.0


def _centroid_distance_m(area: CommunityArea, lat: float, lon: float) -> float:
    return float(_GREAT_CIRCLE.measure((lat, lon), (area.centroid_lat, area.centroid_lon))) * 1000.0


def _pick_covering(areas: Sequence[CommunityArea], lat: float, lon: float) -> CommunityArea:
    """Several areas cover the point (a shared border): nearest centroid, then lowest id.

    Distances are compared to the millimetre so that float noise does not decide ties.
    """
    return min(areas, key=lambda a: (round(_centroid_distance_m(a, lat, lon), 3), a.id))


def _box_degrees(area: CommunityArea, lat: float, lon: float) -> float:
    """Lon/lat distance from the point to the area's bounding box: a lower bound of its own."""
    west, south, east, north = area._bounds
    dx = west - lon if lon < west else (lon - east if lon > east else 0.0)
    dy = south - lat if lat < south else (lat - north if lat > north else 0.0)
    return math.hypot(dx, dy)


def _nearest_within(
    candidates: Sequence[CommunityArea],
    lower_degrees: Sequence[float],
    lat: float,
    lon: float,
    tolerance: float,
) -> Route | None:
    """NEAR to the area nearest the point within the tolerance, or None when there is none.

    `candidates` must hold every area that may lie within the tolerance, and `lower_degrees`
    lower bounds of their lon/lat distances. The nearest wins, distances compared to the
    millimetre, then the lowest id. Candidates are tried by increasing bound and left out
    once the bound rules out beating the best so far (branch and bound), so usually one or two
    great-circle distances are computed; the answer does not depend on the candidates' order.
    """
    best: tuple[float, str, float] | None = None
    limit_deg = _degree_radius(lat, tolerance)
    for k in sorted(range(len(candidates)), key=lower_degrees.__getitem__):
        if lower_degrees[k] > limit_deg:
            break
        area = candidates[k]
        d = _border_distance_m(area, lat, lon)
        if d > tolerance:
            continue
        key = (round(d, 3), area.id)
        if best is None or key < best[:2]:
            best = (key[0], key[1], d)
            limit_deg = _degree_radius(lat, min(tolerance, d + 0.001))
    return None if best is None else Route(best[1], RouteKind.NEAR, best[2])


def _check_tolerance(tolerance_m: float) -> float:
    if isinstance(tolerance_m, bool) or not isinstance(tolerance_m, int | float):
        raise ValueError(f"tolerance_m must be a number of metres, not {tolerance_m!r}")
    if not math.isfinite(tolerance_m) or tolerance_m < 0:
        raise ValueError(f"tolerance_m must be 0 or more metres, not {tolerance_m!r}")
    return float(tolerance_m)


def _outside(nearest: Iterable[CommunityArea], lat: float, lon: float) -> Route:
    """OUTSIDE, with the distance to the lowest-id area among the lon/lat-nearest ones."""
    area = min(nearest, key=_area_id)
    return Route(None, RouteKind.OUTSIDE, _border_distance_m(area, lat, lon))


def _area_id(area: CommunityArea) -> str:
    return area.id


class Router:
    """Routes points to communities with a shapely STRtree over prepared areas."""

    __slots__ = ("_areas", "_by_id", "_geoms", "_inside", "_tolerance_m", "_tree")

    def __init__(self, areas: Sequence[CommunityArea], *, tolerance_m: float = 150.0) -> None:
        self._tolerance_m = _check_tolerance(tolerance_m)
        self._areas: tuple[CommunityArea, ...] = tuple(areas)
        self._by_id: dict[str, CommunityArea] = {}
        for a in self._areas:
            if a.id in self._by_id:
                raise ValueError(f"two communities have the id {a.id!r}")
            self._by_id[a.id] = a
        # Route values are immutable: one INSIDE route per area, made once.
        self._inside = [Route(a.id, RouteKind.INSIDE, 0.0) for a in self._areas]
        self._geoms = np.array([a.geometry for a in self._areas], dtype=object)
        shapely.prepare(self._geoms)
        self._tree = STRtree(self._geoms)

    @property
    def areas(self) -> Sequence[CommunityArea]:
        return self._areas

    @property
    def tolerance_m(self) -> float:
        return self._tolerance_m

    def area(self, community_id: str) -> CommunityArea:
        """The community with this id; KeyError if there is none."""
        return self._by_id[community_id]

    def route(self, lat: float, lon: float) -> Route:
        """INSIDE, NEAR or OUTSIDE for a WGS84 point; ValueError for an invalid one."""
        _check_point(lat, lon)
        areas = self._areas
        if not areas:
            return Route(None, RouteKind.OUTSIDE, math.inf)
        # Most points are inside an area: one query finds the areas that hold the point (given
        # as a one-element array: STRtree.query is much faster on arrays than on scalars).
        hits = self._tree.query(shapely.points([[lon, lat]]), predicate="intersects")[1]
        if hits.size == 1:
            return self._inside[int(hits[0])]
        if hits.size > 1:
            chosen = _pick_covering([areas[int(i)] for i in hits], lat, lon)
            return Route(chosen.id, RouteKind.INSIDE, 0.0)
        # Then the box around the point that holds every area within the tolerance.
        tolerance = self._tolerance_m
        r = _degree_radius(lat, tolerance)
        around = self._tree.query(shapely.box([lon - r], [lat - r], [lon + r], [lat + r]))[1]
        if around.size:
            candidates = [areas[int(i)] for i in around]
            lower = [_box_degrees(a, lat, lon) for a in candidates]
            found = _nearest_within(candidates, lower, lat, lon, tolerance)
            if found is not None:
                return found
        nearest = self._tree.query_nearest(shapely.points([[lon, lat]]))[1]
        return _outside((areas[int(i)] for i in nearest), lat, lon)


def brute_force_route(
    areas: Sequence[CommunityArea], lat: float, lon: float, tolerance_m: float = 150.0
) -> Route:
    """The same answer as Router(areas, tolerance_m=...).route(lat, lon), with no index.

    Every area is tested with shapely `covers`; the nearest within the tolerance is searched
    among all areas (by the same branch and bound); the OUTSIDE distance goes to the area
    nearest in lon/lat among all.
    """
    _check_point(lat, lon)
    tolerance = _check_tolerance(tolerance_m)
    if not areas:
        return Route(None, RouteKind.OUTSIDE, math.inf)
    point = Point(lon, lat)
    geoms = np.array([a.geometry for a in areas], dtype=object)
    covering = [areas[int(i)] for i in np.flatnonzero(shapely.covers(geoms, point))]
    if covering:
        return Route(_pick_covering(covering, lat, lon).id, RouteKind.INSIDE, 0.0)

    bounds = shapely.bounds(geoms)
    dx = np.maximum(np.maximum(bounds[:, 0] - lon, lon - bounds[:, 2]), 0.0)
    dy = np.maximum(np.maximum(bounds[:, 1] - lat, lat - bounds[:, 3]), 0.0)
    found = _nearest_within(areas, np.hypot(dx, dy).tolist(), lat, lon, tolerance)
    if found is not None:
        return found
    degrees = shapely.distance(geoms, point).tolist()
    least = min(degrees)
    return _outside((a for a, d in zip(areas, degrees, strict=True) if d == least), lat, lon)
