"""The planner roll-ups in the database: added to at ingestion, rebuilt and checked from raw
trips by ``greenpoints aggregates rebuild``.

On PostgreSQL one upsert per table adds a batch's atoms (counters add up, rider bitmaps OR
together, ``bit_count`` keeps the lower bound). On SQLite, a single writer, the batch's atoms are
read, merged in Python and written back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import h3
from sqlalchemy import Table, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.persistence.database import Database
from service.persistence.planner_models import PlannerCell, PlannerFlow
from service.persistence.rider_models import Trip
from service.planner.atoms import (
    CellKey,
    CellTotals,
    FlowKey,
    FlowTotals,
    parents,
    riders_at_least,
    trip_atoms,
)

CELLS: Table = PlannerCell.__table__  # type: ignore[assignment]
FLOWS: Table = PlannerFlow.__table__  # type: ignore[assignment]
CELL_KEY = ("cell", "month", "mode", "hour", "day_type")
FLOW_KEY = ("origin", "month", "mode", "hour", "day_type", "destination")
CELL_SUMS = ("starts", "co2_g", "distance_m")
FLOW_SUMS = ("trips", "parking_judged", "parking_valid")
TRIP_COLUMNS = ("status", "account_id", "mode", "started_at", "ended_at", "start_cell",
                "end_cell", "co2_g", "distance_m", "parking")  # fmt: skip
CHUNK = 500
REBUILD_BATCH = 20_000


def add_trips(session: Session, trips: Sequence[Mapping[str, Any]], zone: dt.tzinfo) -> None:
    """Count newly credited trips (stored trip rows) into the roll-ups, in the caller's
    transaction."""
    cells, flows = trip_atoms(trips, zone)
    if cells:
        _add(session, CELLS, CELL_KEY, CELL_SUMS, [_cell_row(k, v) for k, v in cells.items()])
    if flows:
        _add(session, FLOWS, FLOW_KEY, FLOW_SUMS, [_flow_row(k, v) for k, v in flows.items()])


def adjust_co2(session: Session, trip: Trip, delta_g: int, zone: dt.tzinfo) -> None:
    """A credited trip's reduction was recomputed: move its atoms' CO2 by the difference
    (counts and riders stay as they are)."""
    if not delta_g:
        return
    cells, _ = trip_atoms([row_of(trip)], zone)
    _add(session, CELLS, CELL_KEY, CELL_SUMS,
         [_cell_row(k, CellTotals(co2_g=delta_g)) for k in cells])  # fmt: skip


def row_of(trip: Trip) -> dict[str, Any]:
    """The columns of a stored trip that the roll-ups read."""
    return {"uid": trip.uid, **{name: getattr(trip, name) for name in TRIP_COLUMNS}}


def refresh_for(session: Session, trip_uids: Sequence[str], zone: dt.tzinfo) -> None:
    """Recount, from raw trips, every atom the given trips touch (after a reversal: counters
    could be taken down, but a bitmap cannot lose a rider's bit)."""
    rows = session.execute(select(*_trip_columns()).where(Trip.uid.in_(trip_uids))).mappings()
    touched = [{**row, "status": "credited"} for row in rows if row["account_id"]]
    cells, flows = trip_atoms(touched, zone)
    for table, names, keys in ((CELLS, CELL_KEY, list(cells)), (FLOWS, FLOW_KEY, list(flows))):
        for chunk in _chunks(keys):
            session.execute(delete(table).where(tuple_(*(table.c[n] for n in names)).in_(chunk)))
    if not cells and not flows:
        return
    # Only trips that started in the same cells can share these atoms.
    fine = h3.get_resolution(next(row["start_cell"] for row in touched if row["start_cell"]))
    nearby = sorted({child for key in cells for child in h3.cell_to_children(key[0], fine)})
    lo = min(row["started_at"] for row in touched) - dt.timedelta(days=32)
    hi = max(row["started_at"] for row in touched) + dt.timedelta(days=32)
    near = Trip.start_cell.in_(nearby) & (Trip.started_at > lo) & (Trip.started_at < hi)
    recount_cells, recount_flows = _recount(session, zone, set(cells), set(flows), near)
    if recount_cells:
        _add(session, CELLS, CELL_KEY, CELL_SUMS,
             [_cell_row(k, v) for k, v in recount_cells.items()])  # fmt: skip
    if recount_flows:
        _add(session, FLOWS, FLOW_KEY, FLOW_SUMS,
             [_flow_row(k, v) for k, v in recount_flows.items()])  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RebuildReport:
    cells: int
    flows: int
    differing_cells: list[CellKey]
    differing_flows: list[FlowKey]

    @property
    def matches(self) -> bool:
        return not self.differing_cells and not self.differing_flows


def rebuild(db: Database, zone: dt.tzinfo, *, apply: bool) -> RebuildReport:
    """Count every credited trip again; compare with the kept roll-ups, and with ``apply``
    replace them by the recount (in one transaction)."""
    with db.reading() as session:
        cells, flows = _recount(session, zone, None, None)
        kept_cells = {_key(row, CELL_KEY): _cell_totals(row)
                      for row in session.execute(select(CELLS)).mappings()}  # fmt: skip
        kept_flows = {_key(row, FLOW_KEY): _flow_totals(row)
                      for row in session.execute(select(FLOWS)).mappings()}  # fmt: skip
    report = RebuildReport(
        len(cells), len(flows),
        sorted(k for k in set(cells) | set(kept_cells) if cells.get(k) != kept_cells.get(k)),
        sorted(k for k in set(flows) | set(kept_flows) if flows.get(k) != kept_flows.get(k)),
    )  # fmt: skip
    if apply and not report.matches:
        with db.transaction() as session:
            session.execute(delete(CELLS))
            session.execute(delete(FLOWS))
            _add(session, CELLS, CELL_KEY, CELL_SUMS, [_cell_row(k, v) for k, v in cells.items()])
            _add(session, FLOWS, FLOW_KEY, FLOW_SUMS, [_flow_row(k, v) for k, v in flows.items()])
    return report


def _recount(
    session: Session,
    zone: dt.tzinfo,
    only_cells: set | None,
    only_flows: set | None,
    where: Any = None,
) -> tuple[dict[CellKey, CellTotals], dict[FlowKey, FlowTotals]]:
    """Atoms from raw credited trips (all, or only the given keys, among the trips ``where``
    picks), read in batches."""
    cells: dict[CellKey, CellTotals] = {}
    flows: dict[FlowKey, FlowTotals] = {}
    query = select(*_trip_columns()).where(Trip.status == "credited").order_by(Trip.uid)
    if where is not None:
        query = query.where(where)
    last = ""
    for _ in range(1_000_000):  # bounded: one pass over the trips, REBUILD_BATCH at a time
        rows = session.execute(query.where(Trip.uid > last).limit(REBUILD_BATCH)).mappings().all()
        if not rows:
            break
        last = rows[-1]["uid"]
        batch_cells, batch_flows = trip_atoms(rows, zone)
        for key, totals in batch_cells.items():
            if only_cells is None or key in only_cells:
                cells.setdefault(key, CellTotals()).add(totals)
        for key, totals in batch_flows.items():
            if only_flows is None or key in only_flows:
                flows.setdefault(key, FlowTotals()).add(totals)
    return cells, flows


def _trip_columns() -> list:
    return [Trip.uid, *(getattr(Trip, name) for name in TRIP_COLUMNS if name != "parking"),
            Trip.parking]  # fmt: skip


def _add(
    session: Session,
    table: Table,
    key: tuple[str, ...],
    sums: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    rows.sort(key=lambda row: tuple(row[k] for k in key))
    if session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
        connection = session.connection()
        for chunk in _chunks(rows):
            connection.execute(_postgres_upsert(table, key, sums), chunk)
        return
    session.flush()
    for chunk in _chunks(rows):
        wanted = [tuple(row[k] for k in key) for row in chunk]
        stored = {
            _key(row, key): row
            for row in session.execute(
                select(table).where(tuple_(*(table.c[k] for k in key)).in_(wanted))
            ).mappings()
        }
        for row in chunk:
            old = stored.get(tuple(row[k] for k in key))
            if old is not None:
                for name in sums:
                    row[name] += old[name]
                row["riders"] |= old["riders"]
                row["riders_at_least"] = riders_at_least(row["riders"])
        statement = sqlite.insert(table)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=list(key),
                set_={c.name: statement.excluded[c.name] for c in table.columns},
            ),
            chunk,
        )


@functools.cache
def _postgres_upsert(table: Table, key: tuple[str, ...], sums: tuple[str, ...]) -> Any:
    """Counters add up, bitmaps OR together, the lower bound follows (built once: this runs in
    every ingestion transaction)."""
    statement = postgresql.insert(table)
    merged = table.c.riders.op("|")(statement.excluded.riders)
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={
            **{name: table.c[name] + statement.excluded[name] for name in sums},
            "riders": merged,
            "riders_at_least": func.bit_count(merged),
        },
    )


def _cell_row(key: CellKey, totals: CellTotals) -> dict[str, Any]:
    cell, month, mode, hour, day_type = key
    coarse = parents(cell)
    return {"cell": cell, "month": month, "mode": mode, "hour": hour, "day_type": day_type,
            **{f"c{r}": coarse[r] for r in (5, 6, 7, 8)},
            **{name: getattr(totals, name) for name in CELL_SUMS},
            "riders": totals.riders, "riders_at_least": riders_at_least(totals.riders)}  # fmt: skip


def _flow_row(key: FlowKey, totals: FlowTotals) -> dict[str, Any]:
    origin, month, mode, hour, day_type, destination = key
    o = parents(origin)
    d = parents(destination) if destination else dict.fromkeys((5, 6, 7), "")
    return {"origin": origin, "month": month, "mode": mode, "hour": hour, "day_type": day_type,
            "destination": destination, **{f"o{r}": o[r] for r in (5, 6, 7, 8)},
            **{f"d{r}": d[r] for r in (5, 6, 7)},
            **{name: getattr(totals, name) for name in FLOW_SUMS},
            "riders": totals.riders, "riders_at_least": riders_at_least(totals.riders)}  # fmt: skip


def _cell_totals(row: Mapping[str, Any]) -> CellTotals:
    return CellTotals(**{name: int(row[name]) for name in CELL_SUMS}, riders=row["riders"])


def _flow_totals(row: Mapping[str, Any]) -> FlowTotals:
    return FlowTotals(**{name: int(row[name]) for name in FLOW_SUMS}, riders=row["riders"])


def _key(row: Mapping[str, Any], names: Iterable[str]) -> tuple:
    return tuple(row[n] for n in names)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
