"""Fleet snapshots in: every vehicle placed in its H3 cell, its latest position kept, the
snapshot appended to the history that demand and turnover are learnt from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from geo.coords import lnglat_to_cell
from service.fleet.contract import Sighting, VehicleFailure
from service.fleet.positions import Position, PositionStore, record_sightings
from service.persistence.database import Database


def record_snapshot(
    db: Database,
    positions: PositionStore,
    operator_id: str,
    items: Sequence[Sighting | VehicleFailure],
    now: dt.datetime,
    cell_resolution: int,
) -> dict[str, Any]:
    """Store an operator's snapshot; answers how many vehicles were read, were newer than what
    was stored, and which could not be read (each with its field)."""
    sightings = [item for item in items if isinstance(item, Sighting)]
    failures = [item.as_dict() for item in items if isinstance(item, VehicleFailure)]
    latest: dict[str, Position] = {}
    for s in sightings:
        position = Position(operator_id, s.vehicle_id, s.lat, s.lng,
                            lnglat_to_cell(s.lng, s.lat, cell_resolution), s.state,
                            s.vehicle_type, s.range_m, s.reported_at)  # fmt: skip
        kept = latest.get(s.vehicle_id)
        if kept is None or kept.reported_at <= position.reported_at:
            latest[s.vehicle_id] = position
    record_sightings(db, list(latest.values()))
    updated = positions.record(list(latest.values()), now)
    return {
        "total": len(items),
        "vehicles": len(latest),
        "updated": updated,
        "failures": failures,
    }
