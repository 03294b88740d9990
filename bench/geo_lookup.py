"""Point-in-zone lookups of ``geo.index.ZoneIndex`` against a plain Shapely STRtree, in one run.

10,000 zones (star-shaped polygons 100-300 m across, some overlapping, a few with a hole or in
two parts) are scattered over 20 km x 20 km around People's Square, Shanghai, with a fixed seed.
Measured with ``time.perf_counter_ns`` after a warm-up:

* index build time (target: a few seconds, read as <= 5 s);
* median single-point ``zones_at`` latency over 20,000 random points (target < 20 us);
* ``zones_at_many`` throughput on a batch of 100,000 points (target > 1,000,000 points/s).

The baseline is a plain STRtree per point: ``tree.query(Point(lng, lat), predicate=
"intersects")`` on unprepared copies of the geometries, no H3. Batch throughput is also compared
with the vectorised bulk query of that tree. ``ratio`` is value / baseline. The answers of the
index and of the baseline are compared point by point; any difference is reported.

    python -m bench.geo_lookup [--zones 10000] [--single 20000] [--batch 100000]

Prints a table and writes ``bench/results/geo_lookup.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from bench.report import bound, report, run_from_command_line
from geo.coords import metres_per_degree
from geo.index import ZoneIndex
from geo.zones import DEFAULT_PRIORITY, Zone

SEED = 20_240_521
LNG0, LAT0 = 121.4737, 31.2304
HALF_SIDE_M = 10_000.0
N_ZONES = 10_000
N_SINGLE = 20_000
N_WARMUP = 2_000
N_BATCH = 100_000
BATCH_ROUNDS = 7
BUILD_TARGET_S = 5.0
SINGLE_TARGET_US = 20.0
BATCH_TARGET_PPS = 1_000_000.0


def _star(rng: np.random.Generator, lng: float, lat: float) -> Polygon:
    """A star-shaped polygon 100-300 m across centred on (lng, lat)."""
    per_lng, per_lat = metres_per_degree(lat)
    k = int(rng.integers(5, 10))
    step = 2 * math.pi / k
    angles = np.arange(k) * step + rng.uniform(0, 0.4 * step, k)
    radii = rng.uniform(50, 150, k)
    return Polygon(
        np.column_stack(
            [lng + radii * np.cos(angles) / per_lng, lat + radii * np.sin(angles) / per_lat]
        )
    )


def make_zones(rng: np.random.Generator, count: int) -> list[Zone]:
    """``count`` zones; 15 % overlap an earlier one, 2 % have a hole, 2 % come in two parts."""
    per_lng, per_lat = metres_per_degree(LAT0)
    kinds = ["parking", "no_parking", "slow"]
    centres: list[tuple[float, float]] = []
    zones: list[Zone] = []
    for i in range(count):
        if centres and rng.random() < 0.15:
            base = centres[int(rng.integers(len(centres)))]
            dx, dy = rng.uniform(-150, 150, 2)
            lng, lat = base[0] + dx / per_lng, base[1] + dy / per_lat
        else:
            dx, dy = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, 2)
            lng, lat = LNG0 + dx / per_lng, LAT0 + dy / per_lat
        centres.append((lng, lat))
        shape = _star(rng, lng, lat)
        roll = rng.random()
        if roll < 0.02:
            hole = box(
                lng - 10 / per_lng, lat - 10 / per_lat, lng + 10 / per_lng, lat + 10 / per_lat
            )
            if shape.contains(hole):
                shape = Polygon(shape.exterior.coords, [hole.exterior.coords])
        elif roll < 0.04:
            shape = MultiPolygon([shape, _star(rng, lng + 400 / per_lng, lat)])
        kind = kinds[int(rng.integers(len(kinds)))]
        zones.append(Zone(f"z{i}", kind, shape, priority=DEFAULT_PRIORITY[kind]))
    return zones


def make_points(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    per_lng, per_lat = metres_per_degree(LAT0)
    lngs = LNG0 + rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, count) / per_lng
    lats = LAT0 + rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, count) / per_lat
    return lngs, lats


def _per_call_ns(
    call: Callable[[float, float], object], lngs: list[float], lats: list[float]
) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for lng, lat in zip(lngs, lats, strict=True):
        start = clock()
        call(lng, lat)
        samples.append(clock() - start)
    return samples


def _row(
    name: str,
    value: float,
    unit: str,
    baseline: float | None,
    target: float | None = None,
    higher_is_better: bool = False,
) -> dict[str, object]:
    met = None
    if target is not None:
        met = value > target if higher_is_better else value <= target
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": value / baseline if baseline else None,
        "target": None if target is None else bound(">" if higher_is_better else "<=", target),
        "met": met,
    }


def run(
    *,
    zones: int = N_ZONES,
    single: int = N_SINGLE,
    batch: int = N_BATCH,
    rounds: int = BATCH_ROUNDS,
) -> list[dict[str, object]]:
    """The figures, after printing them and writing ``bench/results/geo_lookup.json``."""
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    made = make_zones(rng, zones)
    plain = shapely.from_wkb(shapely.to_wkb(np.array([z.geometry for z in made], dtype=object)))
    rank = {i: (z.priority, i) for i, z in enumerate(made)}

    start = time.perf_counter_ns()
    baseline_tree = shapely.STRtree(plain)
    tree_build_s = (time.perf_counter_ns() - start) / 1e9
    start = time.perf_counter_ns()
    index = ZoneIndex(made)
    build_s = (time.perf_counter_ns() - start) / 1e9

    def baseline_at(lng: float, lat: float) -> np.ndarray:
        return baseline_tree.query(shapely.Point(lng, lat), predicate="intersects")

    # single points
    lngs, lats = make_points(rng, single + N_WARMUP)
    warm_lngs, warm_lats = lngs[:N_WARMUP].tolist(), lats[:N_WARMUP].tolist()
    lngs, lats = lngs[N_WARMUP:].tolist(), lats[N_WARMUP:].tolist()
    _per_call_ns(index.zones_at, warm_lngs, warm_lats)
    _per_call_ns(baseline_at, warm_lngs, warm_lats)
    index_ns: list[int] = []
    baseline_ns: list[int] = []
    for block in range(0, single, 1_000):  # alternate, so drift hits both alike
        part = slice(block, block + 1_000)
        index_ns += _per_call_ns(index.zones_at, lngs[part], lats[part])
        baseline_ns += _per_call_ns(baseline_at, lngs[part], lats[part])
    mismatches = sum(
        index.zones_at(x, y) != sorted(baseline_at(x, y).tolist(), key=rank.__getitem__)
        for x, y in zip(lngs, lats, strict=True)
    )
    hit_share = sum(bool(index.zones_at(x, y)) for x, y in zip(lngs, lats, strict=True)) / single
    median_us = statistics.median(index_ns) / 1e3
    baseline_median_us = statistics.median(baseline_ns) / 1e3
    p99_us = float(np.percentile(index_ns, 99)) / 1e3
    baseline_p99_us = float(np.percentile(baseline_ns, 99)) / 1e3

    # batches
    batch_lngs, batch_lats = make_points(rng, batch)
    index.zones_at_many(batch_lngs, batch_lats)
    batch_ns = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        points, found = index.zones_at_many(batch_lngs, batch_lats)
        batch_ns.append(time.perf_counter_ns() - start)
    batch_pps = batch / (statistics.median(batch_ns) / 1e9)

    loop_ns = sum(_per_call_ns(baseline_at, batch_lngs.tolist(), batch_lats.tolist()))
    loop_pps = batch / (loop_ns / 1e9)

    def bulk() -> tuple[np.ndarray, np.ndarray]:
        return baseline_tree.query(shapely.points(batch_lngs, batch_lats), predicate="intersects")

    bulk()
    bulk_ns = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        bulk_points, bulk_zones = bulk()
        bulk_ns.append(time.perf_counter_ns() - start)
    bulk_pps = batch / (statistics.median(bulk_ns) / 1e9)
    priorities = np.array([made[z].priority for z in bulk_zones.tolist()], dtype=np.int64)
    order = np.lexsort((bulk_zones, priorities, bulk_points))
    ours = set(zip(points.tolist(), found.tolist(), strict=True))
    theirs = set(zip(bulk_points.tolist(), bulk_zones.tolist(), strict=True))
    mismatches += len({p for p, _ in ours ^ theirs})
    same_order = np.array_equal(points, bulk_points[order]) and np.array_equal(
        found, bulk_zones[order]
    )
    mismatches += 0 if same_order or ours != theirs else 1

    # distances (no target, for the record)
    some = list(zip(lngs[:2_000], lats[:2_000], strict=True))
    within_ns = _per_call_ns(lambda x, y: index.zones_within(x, y, 200.0), *zip(*some, strict=True))
    near_ns = _per_call_ns(
        lambda x, y: index.nearest(x, y, lambda z: z.zone_type == "parking", 1_000.0),
        *zip(*some, strict=True),
    )

    rows = [
        _row("build_s", build_s, "s", tree_build_s, BUILD_TARGET_S),
        _row("zones_at_median_us", median_us, "us", baseline_median_us, SINGLE_TARGET_US),
        _row("zones_at_p99_us", p99_us, "us", baseline_p99_us),
        _row("zones_at_many_points_per_s", batch_pps, "points/s", loop_pps, BATCH_TARGET_PPS, True),
        _row("zones_at_many_vs_bulk_strtree_points_per_s", batch_pps, "points/s", bulk_pps),
        _row("zones_within_200m_median_us", statistics.median(within_ns) / 1e3, "us", None),
        _row("nearest_parking_1km_median_us", statistics.median(near_ns) / 1e3, "us", None),
        _row("answer_mismatches", float(mismatches), "points", None, 0.0),
    ]
    elapsed = time.perf_counter() - started

    print(
        f"geo lookup: {zones:,} zones, {single:,} single points ({hit_share:.0%} in a zone), "
        f"batch of {batch:,}; python {platform.python_version()}, {os.cpu_count()} cpus"
    )
    report("geo_lookup", rows)
    print(f"(ratio = value / baseline; whole run {elapsed:.1f} s)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zones", type=int, default=N_ZONES)
    parser.add_argument("--single", type=int, default=N_SINGLE, help="single-point lookups")
    parser.add_argument("--batch", type=int, default=N_BATCH, help="points in the batch")
    parser.add_argument("--rounds", type=int, default=BATCH_ROUNDS, help="timed batch rounds")
    run_from_command_line(run, parser)


if __name__ == "__main__":
    main()
