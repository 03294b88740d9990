"""What planners may see: maps, flows and totals built only from published atoms.

Atoms (``atoms.py``) are of two kinds, start atoms and the flow atoms that split each start atom
by destination; together they partition the credited trips. The rules:

1. A start atom is published when it has at least k riders; otherwise nothing of it appears in
   any figure, at any resolution, in any total (its flow atoms included).
2. In a published start atom, a flow atom is published when it has at least k riders and a
   known destination, provided that what stays unpublished of the start atom (its remainder)
   is empty or has at least k riders itself; while it is not, the smallest published flow atom
   joins the remainder.
3. Starts, CO2, distance and riders come from published start atoms; trip ends, parking and
   flows from published flow atoms.

So every published number is a sum of published atoms, and what any combination of published
numbers can single out (a parent cell minus its children, all hours minus one hour, all modes
minus one, a month range minus a month, the summary minus the map, a cell's starts minus its
outgoing flows) is a sum of published atoms or of whole remainders: groups of at least k
riders, never a part of a small one. Distinct riders do not add up, so they are published
rounded to tens. Cells where trips started but no start atom could be published are listed as
suppressed, with no figures.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, and_, func, select

from geo.coords import cell_to_lnglat
from service.persistence.database import Database
from service.persistence.planner_models import RiderBits
from service.planner.atoms import WEEKDAY, WEEKEND, riders_at_least, riders_published
from service.planner.journal import fold_now
from service.planner.tables import CELL_SUMS, CELLS, FLOW_SUMS, FLOWS

ATOM = ("month", "mode", "hour", "day_type")
DAY_TYPES = {"weekday": WEEKDAY, "weekend": WEEKEND}


@dataclasses.dataclass(frozen=True)
class Slice:
    """The filters of a planner query: whole atoms only (months, hour, day type, mode)."""

    month_from: str  # YYYY-MM, inclusive
    month_to: str
    mode: str | None = None
    hour: int | None = None  # local hour of day, 0-23
    day_type: str | None = None  # weekday or weekend
    k: int = 10

    def where(self, table: Table) -> list[Any]:
        conditions = [table.c.month >= self.month_from, table.c.month <= self.month_to]
        if self.mode is not None:
            conditions.append(table.c.mode == self.mode)
        if self.hour is not None:
            conditions.append(table.c.hour == self.hour)
        if self.day_type is not None:
            conditions.append(table.c.day_type == DAY_TYPES[self.day_type])
        return conditions


def cells(
    db: Database, view: Slice, resolution: int, *, with_ends: bool = False
) -> list[dict[str, Any]]:
    """Per cell at ``resolution`` (5-9): starts, CO2, distance and riders; with ``with_ends``,
    also trip ends and parking, at 8 and coarser (flow atoms know destinations at 8)."""
    fold_now(db)
    unit = CELLS.c.cell if resolution == 9 else CELLS.c[f"c{resolution}"]
    starts = _grouped(db, CELLS, unit, CELL_SUMS, [*view.where(CELLS),
                                                    CELLS.c.riders_at_least >= view.k])  # fmt: skip
    with db.reading() as session:
        small = set(session.connection().scalars(
            select(unit).where(*view.where(CELLS), CELLS.c.riders_at_least < view.k).distinct()
        ))  # fmt: skip
    ends: dict[str, dict[str, Any]] = {}
    if with_ends and resolution <= 8:
        column = "destination" if resolution == 8 else f"d{resolution}"
        for row in published_flows(db, view):
            _merge(ends.setdefault(row[column], _empty(FLOW_SUMS)), row, FLOW_SUMS)
    found = []
    for cell in sorted(set(starts) | set(ends) | small):
        if cell not in starts and cell not in ends:
            found.append({"cell": cell, "suppressed": True})
            continue
        here = starts.get(cell, _empty(CELL_SUMS))
        there = ends.get(cell)
        found.append({
            "cell": cell, "suppressed": False, "trips": here["starts"],
            "co2_g": here["co2_g"], "distance_m": here["distance_m"],
            "riders": riders_published(here["riders"]) if here["riders"] else None,
            "ends": there["trips"] if there else None,
            **_compliance(there),
        })  # fmt: skip
    return found


def flows(db: Database, view: Slice, resolution: int) -> list[dict[str, Any]]:
    """Origin-destination flows between cells at ``resolution`` (5-8), from published flow
    atoms."""
    fold_now(db)
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    origin = f"o{resolution}"
    destination = "destination" if resolution == 8 else f"d{resolution}"
    for row in published_flows(db, view):
        key = (row[origin], row[destination])
        _merge(grouped.setdefault(key, _empty(FLOW_SUMS)), row, FLOW_SUMS)
    found = []
    for (o, d), g in grouped.items():
        (o_lng, o_lat), (d_lng, d_lat) = cell_to_lnglat(o), cell_to_lnglat(d)
        found.append({
            "origin": o, "destination": d, "trips": g["trips"],
            "riders": riders_published(g["riders"]),
            "origin_lat": round(o_lat, 6), "origin_lng": round(o_lng, 6),
            "destination_lat": round(d_lat, 6), "destination_lng": round(d_lng, 6),
        })  # fmt: skip
    return sorted(found, key=lambda f: (-f["trips"], f["origin"], f["destination"]))


def summary(db: Database, view: Slice) -> dict[str, Any]:
    """Totals and mode share from published start atoms, parking from published flow atoms."""
    fold_now(db)
    modes = _grouped(db, CELLS, CELLS.c.mode, CELL_SUMS,
                     [*view.where(CELLS), CELLS.c.riders_at_least >= view.k])  # fmt: skip
    total = _empty(CELL_SUMS)
    for figures in modes.values():
        _merge(total, figures, CELL_SUMS)
    parking = _empty(FLOW_SUMS)
    for row in published_flows(db, view):
        _merge(parking, row, FLOW_SUMS)
    trips = total["starts"]
    return {
        "trips": trips,
        "co2_g": total["co2_g"],
        "distance_m": total["distance_m"],
        "riders": riders_published(total["riders"]) if total["riders"] else 0,
        "modes": {
            mode: {
                "trips": f["starts"],
                "co2_g": f["co2_g"],
                "distance_m": f["distance_m"],
                "share": round(f["starts"] / trips, 4) if trips else None,
            }
            for mode, f in sorted(modes.items())
        },
        **_compliance(parking if parking["trips"] else None),
    }


def published_flows(db: Database, view: Slice) -> list[Mapping[str, Any]]:
    """The published flow atoms in the slice (rules 1 and 2 of the module docstring)."""
    start = CELLS.alias("start")
    joined = FLOWS.join(
        start,
        and_(FLOWS.c.origin == start.c.cell, *(FLOWS.c[name] == start.c[name] for name in ATOM)),
    )
    query = select(FLOWS).select_from(joined).where(*view.where(FLOWS),
                                                    start.c.riders_at_least >= view.k)  # fmt: skip
    siblings: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    with db.reading() as session:
        for row in session.connection().execute(query).mappings():
            siblings[(row["origin"], *(row[name] for name in ATOM))].append(row)
    return [row for group in siblings.values() for row in _publishable(group, view.k)]


def _publishable(group: list[Mapping[str, Any]], k: int) -> list[Mapping[str, Any]]:
    """Rule 2 for the flow atoms of one published start atom."""
    ranked = sorted(group, key=lambda r: (-r["riders_at_least"], r["destination"]))
    shown = [r for r in ranked if r["destination"] and r["riders_at_least"] >= k]
    for _ in range(len(group) + 1):  # bounded: each pass hides one more
        hidden = [r for r in group if r not in shown]
        bits = 0
        for r in hidden:
            bits |= r["riders"]
        if not hidden or riders_at_least(bits) >= k or not shown:
            return shown
        shown = shown[:-1]
    return []


def _grouped(
    db: Database, table: Table, key: Any, sums: tuple[str, ...], conditions: list[Any]
) -> dict[str, dict[str, Any]]:
    """Sums and the OR of rider bitmaps per ``key``: in SQL on PostgreSQL (``bit_or``), in
    Python elsewhere."""
    found: dict[str, dict[str, Any]] = {}
    with db.reading() as session:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            query = select(key, *(func.sum(table.c[n]) for n in sums),
                           func.bit_or(table.c.riders, type_=RiderBits()))  # fmt: skip
            for row in connection.execute(query.where(*conditions).group_by(key)):
                found[row[0]] = {**dict(zip(sums, map(int, row[1:-1]), strict=True)),
                                 "riders": row[-1]}  # fmt: skip
            return found
        query = select(key, *(table.c[n] for n in sums), table.c.riders).where(*conditions)
        for row in connection.execute(query):
            into = found.setdefault(row[0], _empty(sums))
            for name, value in zip(sums, row[1:-1], strict=True):
                into[name] += int(value)
            into["riders"] |= row[-1]
    return found


def _empty(sums: tuple[str, ...]) -> dict[str, Any]:
    return {**dict.fromkeys(sums, 0), "riders": 0}


def _merge(into: dict[str, Any], row: Mapping[str, Any], sums: tuple[str, ...]) -> None:
    for name in sums:
        into[name] += int(row[name])
    into["riders"] |= row["riders"]


def _compliance(sums: Mapping[str, int] | None) -> dict[str, Any]:
    if sums is None:
        return {"parking_judged": None, "parking_valid": None, "parking_compliance": None}
    judged = sums["parking_judged"]
    return {
        "parking_judged": judged,
        "parking_valid": sums["parking_valid"],
        "parking_compliance": round(sums["parking_valid"] / judged, 4) if judged else None,
    }
