"""Which zones contain a point: a spatial index over a fixed list of zones.

``ZoneIndex(zones)`` answers point-in-zone questions with the same answer as a plain Shapely
``intersects`` test against every zone (a point on a zone's boundary is inside it), only faster.
A zone's position in ``ZoneIndex.zones`` is its id in every answer.

Exact layer. Every zone geometry is prepared (``shapely.prepare``, in place: the cache rides on
the zone's own geometry object) and put in a ``shapely.STRtree``. ``zones_within`` and
``nearest`` use it directly: candidates from an envelope of the search radius, then an exact
distance in metres in the local equirectangular projection of ``geo.coords.metres_per_degree``
at the query point's latitude.

H3 coverage (single points, ``zones_at``). Each *covered* zone is listed under every H3 cell at
``h3_resolution`` that could hold one of its points, with one of two verdicts:

* covering: the cell lies entirely inside the zone; a point in that cell is in the zone, with no
  geometry test;
* crossing: the zone's boundary passes through the cell; a point in that cell is tested against
  that zone's prepared geometry (``shapely.intersects_xy``).

The dict maps a cell to (covering zones, crossing zones, their geometries), each sorted by
(priority, index). Rather than a flag saying that some boundary crosses the cell, it keeps the
crossing zones themselves, so a point there is tested against those zones only instead of going
through the whole STRtree; the answer is the same. A cell with no entry holds no covered zone. A
lookup is one ``lnglat_to_cell``, one dict access and, in a crossed cell, one ``intersects_xy``
over that cell's crossing zones. The verdicts are made safe against the small differences between
H3's cells and the planar (lng, lat) hexagons built from ``h3.cell_to_boundary``:

* each hexagon is blown up by 10 % about its centre before it is compared with a zone (the
  planar and spherical edges of a resolution-10 cell differ by well under a millimetre; 10 % is
  about 7 m), so a point H3 assigns to a cell always lies in the blown-up hexagon;
* candidate cells are those whose centre lies in the zone buffered by two average edge lengths
  (at least 1.8 once the buffer's corners are cut): a cell whose blown-up hexagon reaches the
  zone has its centre within 1.1 circumradii of it, and a circumradius is at most 1.1 average
  edge lengths anywhere on the globe (sampled), so no such cell is missed;
* a cell whose boundary spans more than 180 degrees of longitude (it straddles the antimeridian
  or holds a pole) is never trusted: a point there gets the exact STRtree answer.

H3 takes (lat, lng); ``geo.coords`` converts polygon rings and cell boundaries, as it does
points.

Left-out zones. A zone is left out of a coverage, and asked about every point of that path
through its envelope (a plain loop over up to ``RESIDUAL_LOOP_LIMIT`` envelopes, a separate
STRtree beyond) and its prepared geometry, when the coverage would not pay or could not be
trusted: a geometry that is not a valid, non-empty Polygon or MultiPolygon, one whose buffered
envelope comes within reach of the antimeridian or beyond 85 degrees of latitude, or, for the H3
coverage, one whose buffered envelope holds more than ``MAX_CELLS_PER_ZONE`` cells (about
750 km2 at resolution 10: a large city's service area). The answer stays exact; only those zones
cost a test per point. Points outside [-180, 180] x [-90, 90], or not finite, are answered by the
STRtree alone (H3 would wrap them around the globe, Shapely does not).

Tile coverage (batches, ``zones_at_many``). H3 has no vectorised ``latlng_to_cell``, and a Python
loop over H3 cells cannot reach a million points a second; the batch path therefore uses the same
covering/crossing scheme over regular grids of square tiles in degrees, whose tile of a point
numpy computes for a whole array at once. The finest tiles have a side of ``TILE_EDGES`` times
the resolution's average edge length (in degrees of latitude); a zone whose envelope would need
more than ``MAX_CELLS_PER_ZONE`` of them goes to the first level of tiles twice, four times...
as large where it needs fewer, so a service area costs a few coarse, mostly covering tiles
rather than a test per point. Tiles are blown up by 1 % of their side before classification,
which absorbs any rounding in the floor of a coordinate. Candidates of crossing tiles are tested
with ``shapely.intersects_xy``. Answers come back sorted by point, then by (zone priority, zone
index).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import h3
import h3.api.basic_int as h3_int
import numpy as np
import shapely

from geo.coords import (
    cell_boundary_lnglat,
    cell_to_lnglat,
    lnglat_to_cell,
    metres_per_degree,
    metres_to_degrees,
    ring_to_h3,
    to_local_metres,
)
from geo.zones import Zone

MAX_CELLS_PER_ZONE = 50_000
CELL_SCALE = 1.1  # a cell's hexagon, blown up about its centre, before it meets a zone
CANDIDATE_MARGIN_EDGES = 2.0  # zones are buffered by this many average edge lengths
TILE_EDGES = 0.5  # tile side, in average edge lengths of the H3 resolution
TILE_MARGIN = 0.01  # tiles blown up by this share of their side on every side
MAX_TILE_LEVEL = 12  # coarsest tiles: 2**12 times the finest side
SAFE_LAT = 85.0
RESIDUAL_LOOP_LIMIT = 32  # up to this many left-out zones, their envelopes are looped over
DENSE_TILE_LIMIT = 4_000_000  # entries of the dense tile table (4 bytes each)
_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon
_FALLBACK = object()  # dict entry of a cell where only the exact answer is trusted
_ORIGIN = shapely.Point(0.0, 0.0)


class ZoneIndex:
    """A spatial index over a fixed list of zones; see the module docstring."""

    def __init__(self, zones: Sequence[Zone], *, h3_resolution: int = 10) -> None:
        self.zones: list[Zone] = list(zones)
        self.h3_resolution = h3_resolution
        n = len(self.zones)
        geoms = np.empty(n, dtype=object)
        geoms[:] = [zone.geometry for zone in self.zones]
        self._geoms = geoms
        shapely.prepare(geoms)
        self._tree = shapely.STRtree(geoms)
        order = sorted(range(n), key=lambda i: (self.zones[i].priority, i))
        self._rank = np.empty(n, dtype=np.int64)
        self._rank[order] = np.arange(n, dtype=np.int64)
        self._rank_list: list[int] = self._rank.tolist()
        # The service areas, as a list and a set, and those in force for everyone at every
        # moment: the checks of every trip end and parking question start from them.
        self.service_areas: list[int] = [
            i for i, zone in enumerate(self.zones) if zone.zone_type == "service_area"
        ]
        self.service_area_set = frozenset(self.service_areas)
        self.service_areas_always = frozenset(
            i for i in self.service_areas if self.zones[i].always_applies
        )

        self._edge_m = h3.average_hexagon_edge_length(h3_resolution, "m")
        finest_tile = TILE_EDGES * self._edge_m / metres_per_degree(0.0)[1]

        cell_ok, tile_level = self._coverable(finest_tile)
        self._cells = self._build_cells(np.flatnonzero(cell_ok))
        self._cell_residual = _Residual(geoms, np.flatnonzero(~cell_ok))
        self._tiles = [
            _Tiles(geoms, np.flatnonzero(tile_level == level), self._rank, finest_tile * 2**level)
            for level in np.unique(tile_level[tile_level >= 0]).tolist()
        ]
        self._tile_residual = _Residual(geoms, np.flatnonzero(tile_level < 0))

    # ---------------------------------------------------------------- build

    def _coverable(self, finest_tile: float) -> tuple[np.ndarray, np.ndarray]:
        """Which zones get an H3 coverage, and each zone's tile level (-1: none); the others
        stay in the residual trees."""
        geoms = self._geoms
        ok = np.isin(shapely.get_type_id(geoms), _POLYGONAL)
        ok &= ~shapely.is_empty(geoms)
        ok[ok] = shapely.is_valid(geoms[ok])
        bounds = shapely.bounds(geoms)
        cell_area = h3.average_hexagon_area(self.h3_resolution, "m^2")
        margins = np.zeros(len(geoms))
        cell_ok = np.zeros(len(geoms), dtype=bool)
        tile_level = np.full(len(geoms), -1, dtype=np.int64)
        for i in np.flatnonzero(ok).tolist():
            minx, miny, maxx, maxy = bounds[i]
            far_lat = max(abs(miny), abs(maxy))
            if far_lat >= SAFE_LAT:
                continue
            margin = metres_to_degrees(CANDIDATE_MARGIN_EDGES * self._edge_m, far_lat)
            margins[i] = margin
            if minx - 2 * margin <= -180.0 or maxx + 2 * margin >= 180.0:
                continue
            if max(abs(miny - 2 * margin), abs(maxy + 2 * margin)) >= SAFE_LAT:
                continue
            per_lng, per_lat = metres_per_degree(far_lat)
            width, height = maxx - minx + 2 * margin, maxy - miny + 2 * margin
            cell_ok[i] = width * per_lng * height * per_lat / cell_area <= MAX_CELLS_PER_ZONE
            for level in range(MAX_TILE_LEVEL + 1):
                side = finest_tile * 2**level
                if (width / side + 2) * (height / side + 2) <= MAX_CELLS_PER_ZONE:
                    tile_level[i] = level
                    break
        self._margins = margins
        return cell_ok, tile_level

    def _build_cells(self, covered: np.ndarray) -> dict[str, object]:
        """cell -> (covering zones, crossing zones, their geometries), or ``_FALLBACK``."""
        res = self.h3_resolution
        buffered = shapely.buffer(self._geoms[covered], self._margins[covered], quad_segs=2)
        parts, part_zone = shapely.get_parts(buffered, return_index=True)
        rings = shapely.get_exterior_ring(parts)
        cell_ids: dict[int, int] = {}
        pair_zone: list[int] = []
        pair_cell: list[int] = []
        for zone, ring in zip(covered[part_zone].tolist(), rings, strict=True):
            for cell in h3_int.polygon_to_cells(ring_to_h3(ring), res):
                pair_zone.append(zone)
                pair_cell.append(cell_ids.setdefault(cell, len(cell_ids)))
        cells = [h3.int_to_str(cell) for cell in cell_ids]
        if not cells:
            return {}
        hexagons, broken = _hexagons(cells)
        zone_arr = np.asarray(pair_zone, dtype=np.int64)
        cell_arr = np.asarray(pair_cell, dtype=np.int64)
        cover, cross = _classify(self._geoms[zone_arr], hexagons[cell_arr])
        keep = cover | cross
        zone_arr, cell_arr, cover = zone_arr[keep], cell_arr[keep], cover[keep]
        order = np.lexsort((self._rank[zone_arr], cell_arr))
        zone_arr, cell_arr, cover = zone_arr[order], cell_arr[order], cover[order]
        starts = np.flatnonzero(np.diff(cell_arr, prepend=-1)).tolist()
        ends = [*starts[1:], len(cell_arr)] if starts else []
        cell_list = cell_arr.tolist()
        zone_list = zone_arr.tolist()
        cover_list = cover.tolist()
        out: dict[str, object] = {}
        for start, end in zip(starts, ends, strict=True):
            pairs = list(zip(zone_list[start:end], cover_list[start:end], strict=True))
            covering = tuple(z for z, c in pairs if c)
            crossing = [z for z, c in pairs if not c]
            if crossing:
                crossing_arr = np.asarray(crossing, dtype=np.int64)
                out[cells[cell_list[start]]] = (covering, crossing_arr, self._geoms[crossing_arr])
            else:
                out[cells[cell_list[start]]] = (covering, None, None)
        for cell_no in np.flatnonzero(broken).tolist():
            out[cells[cell_no]] = _FALLBACK
        return out

    # ---------------------------------------------------------------- queries

    def zones_at(self, lng: float, lat: float) -> list[int]:
        """Indexes of the zones containing the point (boundary included), sorted by
        (priority, index)."""
        if not (-180.0 <= lng <= 180.0 and -90.0 <= lat <= 90.0):
            return self._exact_at(lng, lat)
        entry = self._cells.get(lnglat_to_cell(lng, lat, self.h3_resolution))
        if entry is _FALLBACK:
            return self._exact_at(lng, lat)
        found: list[int] = []
        if entry is not None:
            covering, crossing, crossing_geoms = entry
            if crossing is None:
                found = list(covering)
            else:
                hits = crossing[shapely.intersects_xy(crossing_geoms, lng, lat)].tolist()
                found = list(covering) + hits if covering else hits
                if covering and hits:
                    found.sort(key=self._rank_list.__getitem__)
        if self._cell_residual.tree is not None:
            hits = self._cell_residual.at(lng, lat)
            if hits:
                found.extend(hits)
                found.sort(key=self._rank_list.__getitem__)
        return found

    def _exact_at(self, lng: float, lat: float) -> list[int]:
        """The STRtree answer, sorted by (priority, index)."""
        hits = self._tree.query(shapely.Point(lng, lat), predicate="intersects")
        return sorted(hits.tolist(), key=self._rank_list.__getitem__)

    def zones_along(self, path: Sequence[tuple[float, float]]) -> list[int]:
        """Indexes of the zones a path of (lng, lat) vertices touches, sorted by (priority,
        index)."""
        if not path:
            return []
        shape = shapely.LineString(path) if len(path) > 1 else shapely.Point(path[0])
        hits = self._tree.query(shape, predicate="intersects")
        return sorted(hits.tolist(), key=self._rank_list.__getitem__)

    def zones_at_many(self, lngs: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point index, zone index) for every point in every zone containing it, sorted by
        point, then by (priority, zone index)."""
        x = np.asarray(lngs, dtype=np.float64).ravel()
        y = np.asarray(lats, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError("lngs and lats differ in length")
        points: list[np.ndarray] = []
        zones: list[np.ndarray] = []
        for tiles in self._tiles:
            for p, z in tiles.pairs(self._geoms, x, y):
                points.append(p)
                zones.append(z)
        if self._tile_residual.tree is not None:
            p, z = self._tile_residual.many(x, y)
            points.append(p)
            zones.append(z)
        if not points:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty.copy()
        p = np.concatenate(points).astype(np.int64, copy=False)
        z = np.concatenate(zones).astype(np.int64, copy=False)
        order = np.argsort(p * len(self.zones) + self._rank[z], kind="stable")
        return p[order], z[order]

    def zones_within(self, lng: float, lat: float, radius_m: float) -> list[tuple[int, float]]:
        """(zone index, distance in metres) for every zone within ``radius_m`` of the point
        (0 when inside), sorted by distance, then by (priority, index)."""
        if radius_m < 0:
            return []
        idx = self._candidates(lng, lat, radius_m)
        if not idx.size:
            return []
        dist = self._distances_m(lng, lat, idx)
        near = dist <= radius_m
        idx, dist = idx[near], dist[near]
        order = np.lexsort((self._rank[idx], dist))
        return [(int(i), float(d)) for i, d in zip(idx[order], dist[order], strict=True)]

    def nearest(
        self, lng: float, lat: float, accept: Callable[[Zone], bool], max_m: float
    ) -> tuple[int, float] | None:
        """The nearest zone passing ``accept`` within ``max_m`` metres, with its distance (0 when
        inside; ties go to the lower (priority, index)), or None. The search widens from about
        two cell edges to ``max_m``."""
        if max_m < 0:
            return None
        verdict: dict[int, bool] = {}
        radius = min(max_m, 2 * self._edge_m)
        while True:
            idx = self._candidates(lng, lat, radius)
            fresh = [i for i in idx.tolist() if i not in verdict]
            for i in fresh:
                verdict[i] = bool(accept(self.zones[i]))
            good = np.asarray([i for i in idx.tolist() if verdict[i]], dtype=np.int64)
            if good.size:
                dist = self._distances_m(lng, lat, good)
                near = dist <= radius
                if near.any():
                    good, dist = good[near], dist[near]
                    best = np.lexsort((self._rank[good], dist))[0]
                    return int(good[best]), float(dist[best])
            if radius >= max_m:
                return None
            radius = min(max_m, radius * 4)

    def _candidates(self, lng: float, lat: float, radius_m: float) -> np.ndarray:
        """Zones whose envelope meets the box of ``radius_m`` metres around the point."""
        per_lng, per_lat = metres_per_degree(lat)
        dx, dy = radius_m / per_lng, radius_m / per_lat
        return self._tree.query(shapely.box(lng - dx, lat - dy, lng + dx, lat + dy))

    def _distances_m(self, lng: float, lat: float, idx: np.ndarray) -> np.ndarray:
        """Distances in metres from the point to the zones ``idx``, in the local equirectangular
        projection at the point."""
        return shapely.distance(to_local_metres(self._geoms[idx], lng, lat), _ORIGIN)


class _Tiles:
    """One level of the tile coverage: square tiles of ``side`` degrees, and per tile the zones
    covering it and the zones whose boundary crosses it (CSR arrays, sorted by rank)."""

    def __init__(
        self, geoms: np.ndarray, covered: np.ndarray, rank: np.ndarray, side: float
    ) -> None:
        self.side = side
        self.rows = math.ceil(180.0 / side) + 2
        pad = TILE_MARGIN * side
        bounds = shapely.bounds(geoms[covered])
        ix0 = np.floor((bounds[:, 0] + 180.0 - 2 * pad) / side).astype(np.int64)
        ix1 = np.floor((bounds[:, 2] + 180.0 + 2 * pad) / side).astype(np.int64)
        iy0 = np.floor((bounds[:, 1] + 90.0 - 2 * pad) / side).astype(np.int64)
        iy1 = np.floor((bounds[:, 3] + 90.0 + 2 * pad) / side).astype(np.int64)
        nx, ny = ix1 - ix0 + 1, iy1 - iy0 + 1
        count = nx * ny
        zone = np.repeat(covered, count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        ix = np.repeat(ix0, count) + offset // np.repeat(ny, count)
        iy = np.repeat(iy0, count) + offset % np.repeat(ny, count)
        boxes = shapely.box(
            ix * side - 180.0 - pad,
            iy * side - 90.0 - pad,
            (ix + 1) * side - 180.0 + pad,
            (iy + 1) * side - 90.0 + pad,
        )
        cover, cross = _classify(geoms[zone], boxes)
        keep = cover | cross
        key = (ix * self.rows + iy)[keep]
        zone, cover = zone[keep], cover[keep]
        order = np.lexsort((rank[zone], key))
        key, zone, cover = key[order], zone[order], cover[order]
        self.keys = np.unique(key)
        self.cover_ptr = np.append(np.searchsorted(key[cover], self.keys), int(cover.sum()))
        self.cover_zone = zone[cover]
        self.cross_ptr = np.append(np.searchsorted(key[~cover], self.keys), int((~cover).sum()))
        self.cross_zone = zone[~cover]
        self.table: np.ndarray | None = None
        self.origin = (0, 0)
        self.shape = (0, 0)
        if self.keys.size:
            tx, ty = self.keys // self.rows, self.keys % self.rows
            self.origin = (int(tx.min()), int(ty.min()))
            self.shape = (int(tx.max()) - self.origin[0] + 1, int(ty.max()) - self.origin[1] + 1)
            if self.shape[0] * self.shape[1] <= DENSE_TILE_LIMIT:
                table = np.full(self.shape[0] * self.shape[1], -1, dtype=np.int32)
                flat = (tx - self.origin[0]) * self.shape[1] + (ty - self.origin[1])
                table[flat] = np.arange(self.keys.size, dtype=np.int32)
                self.table = table

    def slots(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The points that fall in a tile of this level, and that tile's slot."""
        inside = (x >= -180.0) & (x <= 180.0) & (y >= -90.0) & (y <= 90.0)
        pts = np.flatnonzero(inside)
        ix = np.floor((x[pts] + 180.0) / self.side).astype(np.int64)
        iy = np.floor((y[pts] + 90.0) / self.side).astype(np.int64)
        if self.table is not None:
            (ix0, iy0), (nx, ny) = self.origin, self.shape
            ix -= ix0
            iy -= iy0
            near = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
            pts = pts[near]
            slot = self.table[ix[near] * ny + iy[near]]
            hit = slot >= 0
            return pts[hit], slot[hit]
        key = ix * self.rows + iy
        slot = np.searchsorted(self.keys, key)
        slot[slot == self.keys.size] = 0
        hit = self.keys[slot] == key
        return pts[hit], slot[hit]

    def pairs(
        self, geoms: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(point, zone) containments found through this level: covered tiles as they are,
        crossed tiles after an exact test."""
        if not self.keys.size:
            return []
        pts, slot = self.slots(x, y)
        covering = _expand(self.cover_ptr, self.cover_zone, slot, pts)
        p, z = _expand(self.cross_ptr, self.cross_zone, slot, pts)
        ok = shapely.intersects_xy(geoms[z], x[p], y[p])
        return [covering, (p[ok], z[ok])]


class _Residual:
    """Zones left out of a coverage, asked about every point: envelopes first (a plain loop
    when there are few of them, an STRtree otherwise), then an exact test against the prepared
    geometries."""

    def __init__(self, geoms: np.ndarray, members: np.ndarray) -> None:
        self.members = members
        self.geoms = geoms[members]
        self.tree = shapely.STRtree(self.geoms) if members.size else None
        self.bounds = tuple(shapely.total_bounds(self.geoms)) if members.size else None
        self.envelopes: list[list[float]] | None = None
        if 0 < members.size <= RESIDUAL_LOOP_LIMIT:
            self.envelopes = shapely.bounds(self.geoms).tolist()

    def at(self, lng: float, lat: float) -> list[int]:
        if self.tree is None:
            return []
        if self.envelopes is not None:
            near = [
                i
                for i, (minx, miny, maxx, maxy) in enumerate(self.envelopes)
                if minx <= lng <= maxx and miny <= lat <= maxy
            ]
            if not near:
                return []
            near_arr = np.asarray(near, dtype=np.int64)
            ok = shapely.intersects_xy(self.geoms[near_arr], lng, lat)
            return self.members[near_arr[ok]].tolist()
        near = self.tree.query(shapely.Point(lng, lat))
        if not near.size:
            return []
        return self.members[near[shapely.intersects_xy(self.geoms[near], lng, lat)]].tolist()

    def many(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.tree is None or self.bounds is None:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty.copy()
        minx, miny, maxx, maxy = self.bounds
        near = np.flatnonzero((x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))
        p, z = self.tree.query(shapely.points(x[near], y[near]))
        ok = shapely.intersects_xy(self.geoms[z], x[near[p]], y[near[p]])
        return near[p[ok]], self.members[z[ok]]


def _hexagons(cells: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The cells' hexagons (pentagons) in (lng, lat), blown up by ``CELL_SCALE`` about their
    centres, and whether each spans more than 180 degrees of longitude."""
    boundaries = [cell_boundary_lnglat(cell) for cell in cells]
    counts = np.fromiter(map(len, boundaries), dtype=np.int64, count=len(cells))
    vertices = np.asarray(list(itertools.chain.from_iterable(boundaries)), dtype=np.float64)
    centres = np.asarray([cell_to_lnglat(cell) for cell in cells], dtype=np.float64)
    ring = np.repeat(np.arange(len(cells)), counts)
    starts = np.cumsum(counts) - counts
    lng = vertices[:, 0]
    span = np.maximum.reduceat(lng, starts) - np.minimum.reduceat(lng, starts)
    vertices = centres[ring] + CELL_SCALE * (vertices - centres[ring])
    rings = shapely.linearrings(vertices, indices=ring)
    return shapely.polygons(rings), span > 180.0


def _classify(zones: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise: whether each shape lies inside its zone, and whether it meets the zone without
    lying inside (the zone's boundary crosses it)."""
    cover = shapely.contains(zones, shapes)
    cross = np.zeros_like(cover)
    rest = np.flatnonzero(~cover)
    cross[rest] = shapely.intersects(zones[rest], shapes[rest])
    return cover, cross


def _expand(
    ptr: np.ndarray, values: np.ndarray, slot: np.ndarray, pts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each point and its tile ``slot``, one (point, value) pair per value of that tile's
    CSR row."""
    start = ptr[slot]
    count = ptr[slot + 1] - start
    total = int(count.sum())
    if not total:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy()
    offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(pts, count), values[np.repeat(start, count) + offset]
