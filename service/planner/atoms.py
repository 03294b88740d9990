"""Planner roll-ups as plain data: what each credited trip adds to which atom.

A start atom is the smallest group planners are ever shown: the trips that started in one H3
cell at resolution 9, in one calendar month, one mode, one hour of the day and one day type
(weekday or weekend), in the city's local time. It holds trips, CO2 grams, distance and a bitmap
of the riders.

A flow atom splits a start atom by destination (the resolution-8 cell the trips ended in; ""
when a trip has no end position). It holds trips, parking verdicts at the end, and its riders.
Flow atoms refine start atoms, so both are parts of one partition of the trips: that is what
keeps differences between published figures from isolating a small group (``queries.py``).

Riders are counted with a 1,024-bit bitmap: each rider sets one bit chosen by a hash of their
account, so the bits set never exceed the riders there (a lower bound, exact while riders are
few) and bitmaps merge by OR. Only these lower bounds decide what is published.

The same function turns trips into atoms at ingestion and when the roll-ups are rebuilt from raw
trips, so the two can be compared exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import h3

from geo.coords import cell_at_resolution

RIDER_BITS = 1024
CELL_RESOLUTION = 9  # atoms' cells; coarser maps sum their parents
FLOW_RESOLUTION = 8  # flows are sparser: their atoms are coarser
PARENT_RESOLUTIONS = (5, 6, 7, 8)
WEEKDAY, WEEKEND = 0, 1

CellKey = tuple[str, str, str, int, int]  # cell, month, mode, hour, day type
FlowKey = tuple[str, str, str, int, int, str]  # the start atom's key, then the destination


@dataclasses.dataclass
class CellTotals:
    starts: int = 0
    co2_g: int = 0
    distance_m: int = 0
    riders: int = 0  # the rider bitmap, as an integer

    def add(self, other: CellTotals) -> None:
        self.starts += other.starts
        self.co2_g += other.co2_g
        self.distance_m += other.distance_m
        self.riders |= other.riders


@dataclasses.dataclass
class FlowTotals:
    trips: int = 0
    parking_judged: int = 0
    parking_valid: int = 0
    riders: int = 0

    def add(self, other: FlowTotals) -> None:
        self.trips += other.trips
        self.parking_judged += other.parking_judged
        self.parking_valid += other.parking_valid
        self.riders |= other.riders


@functools.lru_cache(maxsize=1 << 16)
def rider_bit(account_id: str) -> int:
    """The one bit a rider sets in every bitmap (stable, and reveals nothing by itself).
    Cached: a batch or a rebuild meets the same riders again and again."""
    digest = hashlib.sha256(account_id.encode()).digest()
    return 1 << (int.from_bytes(digest[:4], "big") % RIDER_BITS)


def riders_at_least(bits: int) -> int:
    """Riders certainly there: the bits set."""
    return bits.bit_count()


def riders_published(bits: int) -> int:
    """Riders as published: the estimate rounded to tens (distinct counts do not add up, and
    rounding keeps the difference of two of them from singling anyone out)."""
    return int(riders_estimate(bits) / 10 + 0.5) * 10


def riders_estimate(bits: int) -> float:
    """Riders there by linear counting (-m ln(1 - set/m)); close to the lower bound while
    riders are few; its standard error is about 2 to 3% of the count up to about a thousand."""
    seen = bits.bit_count()
    if seen >= RIDER_BITS:
        return RIDER_BITS * math.log(RIDER_BITS)
    return -RIDER_BITS * math.log(1 - seen / RIDER_BITS)


def parents(cell: str) -> dict[int, str]:
    """The cell's parents at the coarser published resolutions."""
    return {r: h3.cell_to_parent(cell, r) for r in PARENT_RESOLUTIONS}


def trip_atoms(
    trips: Iterable[Mapping[str, Any]], zone: dt.tzinfo
) -> tuple[dict[CellKey, CellTotals], dict[FlowKey, FlowTotals]]:
    """What credited trips (stored trip rows) add to the start and flow atoms; a trip with no
    start position has no place on the map."""
    cells: dict[CellKey, CellTotals] = {}
    flows: dict[FlowKey, FlowTotals] = {}
    for trip in trips:
        start_cell = trip.get("start_cell")
        if trip["status"] != "credited" or not trip.get("account_id") or not start_cell:
            continue
        bit = rider_bit(trip["account_id"])
        local = _local(trip["started_at"], zone)
        cell = cell_at_resolution(start_cell, CELL_RESOLUTION)
        month = f"{local.year:04d}-{local.month:02d}"
        key = (cell, month, trip["mode"], local.hour, _day_type(local))
        # Added in place: one atom object per key, not one per trip.
        start = cells.get(key) or cells.setdefault(key, CellTotals())
        start.starts += 1
        start.co2_g += int(trip.get("co2_g") or 0)
        start.distance_m += int(trip.get("distance_m") or 0)
        start.riders |= bit
        end_cell = trip.get("end_cell")
        parking = trip.get("parking") or {}
        destination = cell_at_resolution(end_cell, FLOW_RESOLUTION) if end_cell else ""
        flow_key = (*key, destination)
        flow = flows.get(flow_key) or flows.setdefault(flow_key, FlowTotals())
        flow.trips += 1
        flow.parking_judged += 1 if parking else 0
        flow.parking_valid += 1 if parking.get("allowed") else 0
        flow.riders |= bit
    return cells, flows


def _local(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(zone)


def _day_type(local: dt.datetime) -> int:
    return WEEKEND if local.isoweekday() >= 6 else WEEKDAY
