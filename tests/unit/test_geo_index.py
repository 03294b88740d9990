"""geo.index.ZoneIndex: point-in-zone, distance and nearest-zone answers, checked against plain
Shapely and the haversine distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from geo.coords import great_circle_m, metres_per_degree
from geo.index import ZoneIndex
from geo.trips import FEW_POINTS, zones_containing
from geo.zones import Zone

LNG0, LAT0 = 121.4737, 31.2304  # People's Square, Shanghai
PER_LNG, PER_LAT = metres_per_degree(LAT0)


def offset(east_m: float, north_m: float) -> tuple[float, float]:
    """The point ``east_m`` metres east and ``north_m`` metres north of People's Square."""
    return LNG0 + east_m / PER_LNG, LAT0 + north_m / PER_LAT


def square(east_m: float, north_m: float, side_m: float) -> Polygon:
    """An axis-aligned square whose south-west corner is at the given offset."""
    x0, y0 = offset(east_m, north_m)
    x1, y1 = offset(east_m + side_m, north_m + side_m)
    return box(x0, y0, x1, y1)


def zone(name: str, geometry: object, priority: int = 300) -> Zone:
    return Zone(zone_id=name, zone_type="parking", geometry=geometry, priority=priority)


def brute_force(zones: list[Zone], lng: float, lat: float) -> list[int]:
    point = Point(lng, lat)
    hits = [i for i, z in enumerate(zones) if z.geometry.intersects(point)]
    return sorted(hits, key=lambda i: (zones[i].priority, i))


def many_as_lists(index: ZoneIndex, lngs: list[float], lats: list[float]) -> list[list[int]]:
    points, zones = index.zones_at_many(np.asarray(lngs), np.asarray(lats))
    out: list[list[int]] = [[] for _ in lngs]
    for p, z in zip(points.tolist(), zones.tolist(), strict=True):
        out[p].append(z)
    return out


# ---------------------------------------------------------------- zones_at


def test_inside_outside_and_on_the_boundary() -> None:
    zones = [zone("a", square(-100, -100, 200))]
    index = ZoneIndex(zones)
    on_edge = offset(100, 0)
    on_corner = offset(-100, -100)
    just_out = offset(100.5, 0)
    assert index.zones_at(LNG0, LAT0) == [0]
    assert index.zones_at(*on_edge) == [0]
    assert index.zones_at(*on_corner) == [0]
    assert index.zones_at(*just_out) == []
    assert index.zones_at(*offset(5000, 0)) == []
    lngs, lats = zip((LNG0, LAT0), on_edge, on_corner, just_out, strict=True)
    assert many_as_lists(index, list(lngs), list(lats)) == [[0], [0], [0], []]


def test_overlapping_zones_come_sorted_by_priority_then_index() -> None:
    zones = [
        zone("service", square(-2000, -2000, 4000), priority=1000),
        zone("slow", square(-300, -300, 600), priority=300),
        zone("parking", square(-50, -50, 100), priority=100),
        zone("no_parking", square(-80, -80, 160), priority=200),
        zone("parking_2", square(-60, -60, 120), priority=100),
    ]
    index = ZoneIndex(zones)
    assert index.zones_at(LNG0, LAT0) == [2, 4, 3, 1, 0]
    assert index.zones_at(*offset(200, 0)) == [1, 0]
    points, found = index.zones_at_many(np.array([LNG0, offset(200, 0)[0]]), np.array([LAT0, LAT0]))
    assert points.tolist() == [0, 0, 0, 0, 0, 1, 1]
    assert found.tolist() == [2, 4, 3, 1, 0, 1, 0]


def test_multipolygon_and_polygon_with_a_hole() -> None:
    west = square(-500, -100, 200)
    east = square(300, -100, 200)
    outer = square(-1000, 500, 600)
    hole = square(-900, 600, 200)
    zones = [
        zone("two_parts", MultiPolygon([west, east])),
        zone("ring", Polygon(outer.exterior.coords, [hole.exterior.coords])),
    ]
    index = ZoneIndex(zones)
    assert index.zones_at(*offset(-400, 0)) == [0]
    assert index.zones_at(*offset(400, 0)) == [0]
    assert index.zones_at(LNG0, LAT0) == []  # between the two parts
    assert index.zones_at(*offset(-950, 550)) == [1]
    assert index.zones_at(*offset(-800, 700)) == []  # in the hole
    assert index.zones_at(*offset(-900, 700)) == [1]  # on the hole's edge
    lngs, lats = zip(
        offset(-400, 0),
        offset(400, 0),
        (LNG0, LAT0),
        offset(-800, 700),
        offset(-900, 700),
        strict=True,
    )
    assert many_as_lists(index, list(lngs), list(lats)) == [[0], [0], [], [], [1]]


def test_interior_cells_answer_without_a_geometry_test() -> None:
    index = ZoneIndex([zone("big", square(-1000, -1000, 2000))])
    covering = [e for e in index._cells.values() if isinstance(e, tuple) and e[1] is None]
    assert covering
    assert all(entry[0] == (0,) for entry in covering)


def test_zones_too_big_to_cover_invalid_or_polar_are_still_answered_exactly() -> None:
    x0, y0 = offset(-150_000, -150_000)
    x1, y1 = offset(150_000, 150_000)
    bow_tie = Polygon([offset(0, 0), offset(100, 100), offset(100, 0), offset(0, 100)])
    zones = [
        zone("city", box(x0, y0, x1, y1), priority=1000),
        zone("bow_tie", bow_tie, priority=200),
        zone("small", square(-50, -50, 100), priority=100),
        zone("arctic", box(10.0, 86.0, 10.5, 86.2)),
    ]
    index = ZoneIndex(zones)
    assert index._cell_residual.members.tolist() == [0, 1, 3]  # too many cells, invalid, polar
    assert index._tile_residual.members.tolist() == [1, 3]  # the city gets coarser tiles
    rng = np.random.default_rng(7)
    lngs = np.concatenate(
        [LNG0 + rng.uniform(-0.01, 0.01, 400), rng.uniform(9.9, 10.6, 100), [121.0, 124.0]]
    )
    lats = np.concatenate(
        [LAT0 + rng.uniform(-0.01, 0.01, 400), rng.uniform(85.9, 86.3, 100), [31.0, 33.5]]
    )
    expected = [brute_force(zones, x, y) for x, y in zip(lngs, lats, strict=True)]
    assert any(expected[400:500]) and expected[-2] == [0] and expected[-1] == []
    assert [index.zones_at(x, y) for x, y in zip(lngs, lats, strict=True)] == expected
    assert many_as_lists(index, lngs.tolist(), lats.tolist()) == expected
    assert index.zones_at(*offset(50, 50)) == brute_force(zones, *offset(50, 50))


def test_many_left_out_zones_are_found_through_their_own_tree() -> None:
    rng = np.random.default_rng(11)
    zones = []
    for i in range(60):
        east, north = rng.uniform(-1500, 1500, 2)
        corners = [(0, 0), (150, 150), (150, 0), (0, 150)]  # a bow tie: invalid, never covered
        bow_tie = Polygon([offset(east + dx, north + dy) for dx, dy in corners])
        zones.append(zone(f"bow{i}", bow_tie, priority=int(rng.integers(0, 3))))
    zones.append(zone("small", square(-50, -50, 100)))
    index = ZoneIndex(zones)
    assert index._cell_residual.members.size == 60
    lngs = LNG0 + rng.uniform(-0.017, 0.017, 2000)
    lats = LAT0 + rng.uniform(-0.015, 0.015, 2000)
    expected = [brute_force(zones, x, y) for x, y in zip(lngs, lats, strict=True)]
    assert sum(map(bool, expected)) > 50
    assert [index.zones_at(x, y) for x, y in zip(lngs, lats, strict=True)] == expected
    assert many_as_lists(index, lngs.tolist(), lats.tolist()) == expected


def test_points_off_the_globe_or_not_finite_are_in_no_zone() -> None:
    index = ZoneIndex([zone("a", square(-100, -100, 200))])
    assert index.zones_at(LNG0 + 360, LAT0) == []
    assert index.zones_at(math.nan, LAT0) == []
    assert index.zones_at(LNG0, 95.0) == []
    points, zones = index.zones_at_many(
        np.array([LNG0 + 360, math.nan, LNG0, LNG0]), np.array([LAT0, LAT0, math.inf, LAT0])
    )
    assert points.tolist() == [3]
    assert zones.tolist() == [0]


def test_an_empty_index_finds_nothing() -> None:
    index = ZoneIndex([])
    assert index.zones_at(LNG0, LAT0) == []
    points, zones = index.zones_at_many(np.array([LNG0]), np.array([LAT0]))
    assert points.size == zones.size == 0
    assert index.zones_within(LNG0, LAT0, 1000) == []
    assert index.nearest(LNG0, LAT0, lambda z: True, 1000) is None


# ---------------------------------------------------------------- distances


def close(measured: float, expected: float) -> bool:
    return abs(measured - expected) <= 0.01 * expected


def test_zones_within_reports_metric_distances_sorted() -> None:
    east_edge = LNG0 + 0.002
    north_edge = LAT0 + 0.0015
    zones = [
        zone("east", box(east_edge, LAT0 - 0.0005, east_edge + 0.001, LAT0 + 0.0005)),
        zone("north", box(LNG0 - 0.0005, north_edge, LNG0 + 0.0005, north_edge + 0.001)),
        zone("corner", box(LNG0 - 0.004, LAT0 - 0.003, LNG0 - 0.001, LAT0 - 0.001)),
        zone("here", square(-20, -20, 40)),
        zone("far", box(LNG0 + 0.05, LAT0, LNG0 + 0.06, LAT0 + 0.01)),
    ]
    index = ZoneIndex(zones)
    found = index.zones_within(LNG0, LAT0, 300)
    assert [i for i, _ in found] == [3, 2, 1, 0]
    distances = dict(found)
    assert distances[3] == 0
    assert close(distances[0], great_circle_m(LNG0, LAT0, east_edge, LAT0))
    assert close(distances[1], great_circle_m(LNG0, LAT0, LNG0, north_edge))
    assert close(distances[2], great_circle_m(LNG0, LAT0, LNG0 - 0.001, LAT0 - 0.001))
    assert [i for i, _ in index.zones_within(LNG0, LAT0, 170)] == [3, 2, 1]
    assert index.zones_within(LNG0, LAT0, -1) == []


def test_nearest_respects_accept_and_the_distance_limit() -> None:
    east_edge = LNG0 + 0.002
    zones = [
        Zone("near_no_parking", "no_parking", square(50, -20, 40), priority=200),
        Zone("east_parking", "parking", box(east_edge, LAT0 - 0.0005, east_edge + 0.001, LAT0)),
        Zone("far_parking", "parking", box(LNG0 + 0.03, LAT0, LNG0 + 0.031, LAT0 + 0.001)),
    ]
    index = ZoneIndex(zones)

    def is_parking(z: Zone) -> bool:
        return z.zone_type == "parking"

    found = index.nearest(LNG0, LAT0, is_parking, 5000)
    assert found is not None
    assert found[0] == 1
    assert close(found[1], great_circle_m(LNG0, LAT0, east_edge, LAT0))
    nearest_any = index.nearest(LNG0, LAT0, lambda z: True, 5000)
    assert nearest_any is not None
    assert nearest_any[0] == 0
    assert close(nearest_any[1], great_circle_m(LNG0, LAT0, *offset(50, 0)))
    assert index.nearest(LNG0, LAT0, is_parking, 150) is None
    inside = index.nearest(*offset(70, 0), lambda z: True, 10)
    assert inside == (0, 0.0)
    far = index.nearest(LNG0 + 0.0305, LAT0 + 0.0005, is_parking, 100)
    assert far == (2, 0.0)


# ---------------------------------------------------------------- property


@st.composite
def small_zones(draw: st.DrawFn) -> list[Zone]:
    """1-12 zones within about a kilometre of People's Square: star-shaped polygons, squares
    with a hole, two-part multipolygons."""
    count = draw(st.integers(1, 12))
    zones = []
    for i in range(count):
        east = draw(st.floats(-800, 800))
        north = draw(st.floats(-800, 800))
        size = draw(st.floats(20, 600))
        kind = draw(st.sampled_from(["star", "holed", "multi"]))
        if kind == "star":
            k = draw(st.integers(3, 9))
            radii = draw(st.lists(st.floats(0.2, 1.0), min_size=k, max_size=k))
            ring = [
                offset(
                    east + size * r * math.cos(2 * math.pi * j / k),
                    north + size * r * math.sin(2 * math.pi * j / k),
                )
                for j, r in enumerate(radii)
            ]
            geometry = Polygon(ring)
        elif kind == "holed":
            outer = square(east, north, size)
            hole = square(east + size / 4, north + size / 4, size / 2)
            geometry = Polygon(outer.exterior.coords, [hole.exterior.coords])
        else:
            geometry = MultiPolygon(
                [square(east, north, size / 2), square(east + size, north, size / 3)]
            )
        zones.append(zone(f"z{i}", geometry, priority=draw(st.sampled_from([100, 200, 300]))))
    return zones


def probe_points(zones: list[Zone], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points around the zones, plus every vertex, every edge midpoint and points a
    hair to either side of them: the places where a wrong shortcut would show."""
    rng = np.random.default_rng(seed)
    lngs = [LNG0 + rng.uniform(-0.012, 0.012, 300)]
    lats = [LAT0 + rng.uniform(-0.012, 0.012, 300)]
    for z in zones:
        coords = shapely.get_coordinates(shapely.boundary(z.geometry))
        mids = (coords[:-1] + coords[1:]) / 2
        for xy in (coords, mids):
            for dx, dy in [(0, 0), (1e-9, 0), (-1e-9, 0), (0, 1e-7), (0, -1e-7), (2e-6, 2e-6)]:
                lngs.append(xy[:, 0] + dx)
                lats.append(xy[:, 1] + dy)
    return np.concatenate(lngs), np.concatenate(lats)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zones=small_zones(),
    seed=st.integers(0, 2**32 - 1),
    resolution=st.sampled_from([8, 9, 10, 11, 12]),
)
def test_index_answers_equal_brute_force_shapely(
    zones: list[Zone], seed: int, resolution: int
) -> None:
    index = ZoneIndex(zones, h3_resolution=resolution)
    lngs, lats = probe_points(zones, seed)
    expected = [brute_force(zones, x, y) for x, y in zip(lngs, lats, strict=True)]
    single = [index.zones_at(x, y) for x, y in zip(lngs.tolist(), lats.tolist(), strict=True)]
    assert single == expected
    assert many_as_lists(index, lngs.tolist(), lats.tolist()) == expected
    # The ingestion's lookup: one by one for a few points, the batch lookup for more.
    assert len(lngs) > FEW_POINTS
    few = slice(0, FEW_POINTS)
    assert zones_containing(index, lngs[few].tolist(), lats[few].tolist()) == expected[few]
    assert zones_containing(index, lngs.tolist(), lats.tolist()) == expected


@pytest.mark.parametrize("resolution", [9, 10])
def test_dense_random_zones_equal_strtree(resolution: int) -> None:
    rng = np.random.default_rng(resolution)
    zones = []
    for i in range(400):
        east, north = rng.uniform(-2000, 2000, 2)
        k = int(rng.integers(4, 9))
        angles = np.linspace(0, 2 * math.pi, k, endpoint=False) + rng.uniform(0, 0.6, k)
        radii = rng.uniform(40, 200, k)
        ring = [
            offset(east + r * math.cos(a), north + r * math.sin(a))
            for a, r in zip(angles, radii, strict=True)
        ]
        zones.append(zone(f"z{i}", Polygon(ring), priority=int(rng.integers(0, 4))))
    index = ZoneIndex(zones, h3_resolution=resolution)
    lngs = LNG0 + rng.uniform(-0.025, 0.025, 5000)
    lats = LAT0 + rng.uniform(-0.025, 0.025, 5000)
    expected = [brute_force(zones, x, y) for x, y in zip(lngs, lats, strict=True)]
    assert [index.zones_at(x, y) for x, y in zip(lngs, lats, strict=True)] == expected
    assert many_as_lists(index, lngs.tolist(), lats.tolist()) == expected
