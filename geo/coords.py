"""Coordinates, converted in one place.

GeoJSON and Shapely use (lng, lat); H3 uses (lat, lng). Distances in metres near a point use a
local equirectangular projection, exact to well under 0.5 % within a few kilometres, which is
all the parking and plausibility rules need.
"""

from __future__ import annotations

import math
import re

import h3
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180
_CELL = re.compile(r"[0-9a-f]{15}")


def lnglat_to_cell(lng: float, lat: float, resolution: int) -> str:
    """The H3 cell of a GeoJSON-ordered point."""
    return h3.latlng_to_cell(lat, lng, resolution)


def cell_at_resolution(cell: str, resolution: int) -> str:
    """The cell itself, or its parent at ``resolution`` when the cell is finer."""
    return cell if h3.get_resolution(cell) <= resolution else h3.cell_to_parent(cell, resolution)


def is_cell_at(cell: str, resolution: int) -> bool:
    """Whether ``cell`` is a valid H3 cell of that resolution, spelt as H3 spells it (15
    lowercase hex digits; h3 itself also reads ``0x...``, ``_`` and spaces). Any string may be
    asked."""
    return (
        _CELL.fullmatch(cell) is not None
        and h3.is_valid_cell(cell)
        and h3.get_resolution(cell) == resolution
    )


def cell_to_lnglat(cell: str) -> tuple[float, float]:
    lat, lng = h3.cell_to_latlng(cell)
    return lng, lat


def ring_to_h3(ring: BaseGeometry) -> h3.LatLngPoly:
    """A (lng, lat) ring as an H3 polygon outline, which takes (lat, lng)."""
    xy = shapely.get_coordinates(ring)
    return h3.LatLngPoly(list(zip(xy[:, 1].tolist(), xy[:, 0].tolist(), strict=True)))


def polygon_to_h3(polygon: BaseGeometry) -> h3.LatLngPoly:
    """A (lng, lat) polygon with its holes as an H3 polygon."""
    swap = [ring_to_h3(polygon.exterior).outer]
    holes = [ring_to_h3(ring).outer for ring in polygon.interiors]
    return h3.LatLngPoly(*swap, *holes)


def cell_boundary_lnglat(cell: str) -> list[tuple[float, float]]:
    """The vertices of an H3 cell as (lng, lat)."""
    return [(lng, lat) for lat, lng in h3.cell_to_boundary(cell)]


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(metres per degree of longitude, metres per degree of latitude) at ``lat``."""
    return M_PER_DEG_LAT * math.cos(math.radians(lat)), M_PER_DEG_LAT


def metres_to_degrees(metres: float, lat: float) -> float:
    """A distance in metres as degrees, on the generous side (the longitude scale)."""
    per_lng, _ = metres_per_degree(lat)
    return metres / per_lng


def great_circle_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Haversine distance in metres between two (lng, lat) points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def great_circle_m_many(
    lng1: np.ndarray, lat1: np.ndarray, lng2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Vectorised haversine, metres."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lng2 - lng1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


def to_local_metres(geometry: BaseGeometry, lng0: float, lat0: float) -> BaseGeometry:
    """``geometry`` in metres east and north of (lng0, lat0): local distances made simple."""
    per_lng, per_lat = metres_per_degree(lat0)
    origin = np.array([lng0, lat0])
    scale = np.array([per_lng, per_lat])
    return shapely.transform(geometry, lambda xy: (xy - origin) * scale)
