"""The planner roll-ups in the database: added to at ingestion (through the journal,
``journal.py``), recounted from raw trips after a reversal, and rebuilt and checked from raw
trips by ``greenpoints aggregates rebuild``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import h3
from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from service.persistence.database import Database
from service.persistence.rider_models import Trip
from service.planner import journal
from service.planner.atoms import (
    CellKey,
    CellTotals,
    FlowKey,
    FlowTotals,
    trip_atoms,
)
from service.planner.tables import (
    CELL_KEY,
    CELLS,
    FLOW_KEY,
    FLOWS,
    add_cells,
    add_flows,
    cell_rows,
    chunks,
    flow_rows,
    summed,
)

TRIP_COLUMNS = ("status", "account_id", "mode", "started_at", "ended_at", "start_cell",
                "end_cell", "co2_g", "distance_m", "parking")  # fmt: skip
REBUILD_BATCH = 20_000


def add_trips(session: Session, trips: Sequence[Mapping[str, Any]], zone: dt.tzinfo) -> None:
    """Count newly credited trips (stored trip rows) into the roll-ups, in the caller's
    transaction (journalled: call it last there)."""
    cells, flows = trip_atoms(trips, zone)
    journal.append(session, cells, flows)


def adjust_co2(session: Session, trip: Trip, delta_g: int, zone: dt.tzinfo) -> None:
    """A credited trip's reduction was recomputed: move its atoms' CO2 by the difference
    (counts and riders stay as they are)."""
    if not delta_g:
        return
    cells, _ = trip_atoms([row_of(trip)], zone)
    journal.append(session, {key: CellTotals(co2_g=delta_g) for key in cells}, {})


def row_of(trip: Trip) -> dict[str, Any]:
    """The columns of a stored trip that the roll-ups read."""
    return {"uid": trip.uid, **{name: getattr(trip, name) for name in TRIP_COLUMNS}}


def refresh_for(session: Session, trip_uids: Sequence[str], zone: dt.tzinfo) -> None:
    """Recount, from raw trips, every atom the given trips touch (after a reversal: counters
    could be taken down, but a bitmap cannot lose a rider's bit). Holds the journal until the
    caller's transaction ends."""
    journal.hold(session)
    rows = session.execute(select(*_trip_columns()).where(Trip.uid.in_(trip_uids))).mappings()
    touched = [{**row, "status": "credited"} for row in rows if row["account_id"]]
    cells, flows = trip_atoms(touched, zone)
    for table, names, keys in ((CELLS, CELL_KEY, list(cells)), (FLOWS, FLOW_KEY, list(flows))):
        for chunk in chunks(keys):
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
    add_cells(session, cell_rows(recount_cells))
    add_flows(session, flow_rows(recount_flows))


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
    """Count every credited trip again and compare with the kept roll-ups (the atoms and the
    journal, read in one snapshot). With ``apply``, replace them by the recount in one
    transaction that holds the journal: ingestion waits for it."""
    if not apply:
        with db.snapshot() as session:
            report, _, _ = _compare(session, zone)
        return report
    with db.transaction() as session:
        journal.hold(session)
        report, cells, flows = _compare(session, zone)
        if not report.matches:
            session.execute(delete(CELLS))
            session.execute(delete(FLOWS))
            add_cells(session, cell_rows(cells))
            add_flows(session, flow_rows(flows))
    return report


def _compare(
    session: Session, zone: dt.tzinfo
) -> tuple[RebuildReport, dict[CellKey, CellTotals], dict[FlowKey, FlowTotals]]:
    """The recount from raw trips beside what is kept: the atoms plus the journal."""
    cells, flows = _recount(session, zone, None, None)
    kept_cells, kept_flows = summed(session, CELLS, FLOWS, *journal.pending(session))
    report = RebuildReport(
        len(cells), len(flows),
        sorted(k for k in set(cells) | set(kept_cells) if cells.get(k) != kept_cells.get(k)),
        sorted(k for k in set(flows) | set(kept_flows) if flows.get(k) != kept_flows.get(k)),
    )  # fmt: skip
    return report, cells, flows


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
