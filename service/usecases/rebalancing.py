"""Rebalancing: truck moves from surplus to deficit units (recommended, then started and done
by the operator), and the 15-minute incentive maps that pay riders for the same work.

A map is computed for the slot ``now`` falls in, from the fleet as it stands then, and written
once (``ON CONFLICT DO NOTHING``, then read back), so every process serves the same map and a
trip's bonus depends only on the map of the slot it started in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from geo.rebalancing import UnitState, balance_of, incentives, plan_moves
from service.errors import InvalidInput, NotFound
from service.fleet.positions import PositionStore
from service.fleet.units import ZONE_UNITS, DispatchUnits, Horizon, unit_states
from service.geofence.catalog import ZoneCatalog
from service.persistence import bulk
from service.persistence.database import Database
from service.persistence.fleet_models import IncentiveMap, RebalancingMove
from service.persistence.models import ApiClient
from service.settings import Settings

SLOT = dt.timedelta(minutes=15)
SLOT_SECONDS = int(SLOT.total_seconds())
_MAPS = IncentiveMap.__table__
_MOVES = RebalancingMove.__table__


@dataclasses.dataclass(frozen=True)
class RebalancingRules:
    resolution: int
    by_zone: bool
    window_hours: int
    weeks: int
    truck_capacity: int
    points_per_vehicle: int
    cap_points: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RebalancingRules:
        return cls(
            resolution=min(settings.rebalancing_resolution, settings.trip_cell_resolution),
            by_zone=settings.rebalancing_units == "parking",
            window_hours=settings.rebalancing_window_hours,
            weeks=settings.demand_weeks,
            truck_capacity=settings.truck_capacity,
            points_per_vehicle=settings.incentive_points_per_vehicle,
            cap_points=settings.incentive_cap_points,
        )

    def horizon(self, now: dt.datetime) -> Horizon:
        return Horizon(now, self.window_hours, self.weeks)

    def units(self, operator_id: str, catalog: ZoneCatalog) -> DispatchUnits:
        """The operator's dispatch units: H3 cells, or the parking zones in force."""
        if self.by_zone:
            return DispatchUnits(ZONE_UNITS, catalog.judge().index, operator_id)
        return DispatchUnits(self.resolution)


def recommend(
    db: Database,
    positions: PositionStore,
    rules: RebalancingRules,
    units: DispatchUnits,
    operator_id: str,
    now: dt.datetime,
    truck_capacity: int | None = None,
) -> dict[str, Any]:
    """Truck moves for the operator's fleet over the next window, and what they add up to."""
    states = unit_states(db, positions, operator_id, rules.horizon(now), units)
    balances = _balances(states, rules)
    moves = plan_moves(
        [(s.unit, s.lng, s.lat, balances[s.unit]) for s in states],
        truck_capacity or rules.truck_capacity,
    )
    return {
        "generated_at": now,
        "units": "parking_zones" if units.by_zone else "h3",
        "resolution": units.resolution,
        "window_hours": rules.window_hours,
        "truck_capacity": truck_capacity or rules.truck_capacity,
        "surplus_vehicles": sum(b for b in balances.values() if b > 0),
        "deficit_vehicles": -sum(b for b in balances.values() if b < 0),
        "moved_vehicles": sum(m.vehicles for m in moves),
        "vehicle_metres": sum(m.vehicles * m.distance_m for m in moves),
        "moves": [dataclasses.asdict(m) for m in moves],
    }


def _slot_start_s(moment: dt.datetime) -> float:
    """The epoch second a moment's slot starts at: slots are floored in UTC, which has no
    offset to apply, so epoch seconds floor the same way."""
    return moment.timestamp() // SLOT_SECONDS * SLOT_SECONDS


def slot_of(moment: dt.datetime) -> dt.datetime:
    """The start of the 15-minute slot ``moment`` falls in (UTC)."""
    return dt.datetime.fromtimestamp(_slot_start_s(moment), dt.UTC)


def slots_of(moments: Iterable[dt.datetime]) -> list[dt.datetime]:
    """The distinct slots of many moments, in order. A batch's trips share few slots, so only
    the distinct ones become datetimes, at a fifth of the cost of ``slot_of`` for each."""
    starts = {_slot_start_s(moment) for moment in moments}
    return [dt.datetime.fromtimestamp(start, dt.UTC) for start in sorted(starts)]


def require_operator(db: Database, operator_id: str) -> None:
    """Maps are made and kept per operator and slot: a rider gets one only for an operator in
    service, never for a name nobody uses."""
    with db.reading() as session:
        client = session.get(ApiClient, operator_id)
    if client is None or client.kind != "operator" or client.revoked_at is not None:
        raise NotFound(f"no operator {operator_id}")


def current_map(
    db: Database, positions: PositionStore, rules: RebalancingRules, units: DispatchUnits,
    operator_id: str, now: dt.datetime,
) -> IncentiveMapView:  # fmt: skip
    """The map of the slot ``now`` falls in: read if written, else computed and written once."""
    slot = slot_of(now)
    found = map_of_slot(db, operator_id, slot)
    if found is not None:
        return found
    states = unit_states(db, positions, operator_id, rules.horizon(slot), units)
    balances = _balances(states, rules)
    bonuses = incentives(balances, rules.points_per_vehicle, rules.cap_points)
    table = {unit: [balances[unit], *bonuses[unit]] for unit in sorted(balances)}
    row = {"operator_id": operator_id, "slot_start": slot, "resolution": units.resolution,
           "units": table, "created_at": now}  # fmt: skip
    with db.transaction() as session:
        statement = bulk.insert_for(session, _MAPS).on_conflict_do_nothing()
        session.connection().execute(statement, [row])
    written = map_of_slot(db, operator_id, slot)
    if written is None:
        raise RuntimeError(f"the incentive map of {operator_id} at {slot} was not kept")
    return written


@dataclasses.dataclass(frozen=True)
class IncentiveMapView:
    operator_id: str
    slot_start: dt.datetime
    resolution: int
    units: dict[str, tuple[int, int, int]]  # unit -> (balance, pickup, dropoff)

    def bonus(self, start_unit: str, end_unit: str) -> tuple[int, int]:
        """(pickup, dropoff) points a trip earns: both only when it starts in a surplus unit
        and ends in a deficit unit; otherwise none."""
        pickup = self.units.get(start_unit, (0, 0, 0))[1]
        dropoff = self.units.get(end_unit, (0, 0, 0))[2]
        if start_unit == end_unit or not pickup or not dropoff:
            return 0, 0
        return pickup, dropoff

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot_start": self.slot_start,
            "valid_until": self.slot_start + SLOT,
            "resolution": self.resolution,
            "units": [
                {"unit": unit, "balance": b, "pickup_points": p, "dropoff_points": d}
                for unit, (b, p, d) in sorted(self.units.items())
                if p or d
            ],
        }


def map_of_slot(db: Database, operator_id: str, slot: dt.datetime) -> IncentiveMapView | None:
    with db.reading() as session:
        row = session.connection().execute(
            select(_MAPS).where(_MAPS.c.operator_id == operator_id, _MAPS.c.slot_start == slot)
        ).mappings().first()  # fmt: skip
    return None if row is None else map_view(operator_id, row)


def map_view(operator_id: str, row: Mapping[str, Any]) -> IncentiveMapView:
    """A stored ``incentive_maps`` row as a map."""
    units = {unit: (int(b), int(p), int(d)) for unit, (b, p, d) in row["units"].items()}
    slot = row["slot_start"]
    slot = slot.astimezone(dt.UTC) if slot.tzinfo else slot.replace(tzinfo=dt.UTC)
    return IncentiveMapView(operator_id, slot, row["resolution"], units)


def _balances(states: list[UnitState], rules: RebalancingRules) -> dict[str, int]:
    return {s.unit: balance_of(s, rules.window_hours) for s in states}


MOVE_EXPIRY = dt.timedelta(hours=2)


def start_moves(
    db: Database,
    units: DispatchUnits,
    operator_id: str,
    moves: list[dict[str, Any]],
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Record truck moves the operator has started: their vehicles count as inbound at the
    destination until the move is done or its expiry (``eta_minutes``, else two hours) passes.
    Both ends must be dispatch units: a move elsewhere could never be counted."""
    unknown = {
        f"moves.{i}.{end}": ["not a dispatch unit"]
        for i, move in enumerate(moves)
        for end in ("from_unit", "to_unit")
        if not units.is_unit(move[end])
    }
    if unknown:
        raise InvalidInput("moves must be between dispatch units", errors=unknown)
    rows = [
        {"id": uuid.uuid4().hex, "operator_id": operator_id, "from_unit": m["from_unit"],
         "to_unit": m["to_unit"], "vehicles": m["vehicles"], "started_at": now,
         "expires_at": now + (dt.timedelta(minutes=m["eta_minutes"]) if m.get("eta_minutes")
                              else MOVE_EXPIRY),
         "done_at": None}
        for m in moves
    ]  # fmt: skip
    with db.transaction() as session:
        bulk.insert_rows(session, _MOVES, rows)
    return [_move_view(row) for row in rows]


def finish_move(db: Database, operator_id: str, move_id: str, now: dt.datetime) -> dict[str, Any]:
    """Mark the operator's move done (again: no change); another operator's move is not found."""
    with db.transaction() as session:
        move = session.get(RebalancingMove, move_id)
        if move is None or move.operator_id != operator_id:
            raise NotFound(f"no move {move_id}")
        if move.done_at is None:
            move.done_at = now
        return _move_view({c.name: getattr(move, c.name) for c in _MOVES.columns})


def moves_under_way(db: Database, operator_id: str, now: dt.datetime) -> list[dict[str, Any]]:
    with db.reading() as session:
        rows = session.connection().execute(
            select(_MOVES).where(_MOVES.c.operator_id == operator_id, _MOVES.c.done_at.is_(None),
                                 _MOVES.c.expires_at > now).order_by(_MOVES.c.started_at)
        ).mappings().all()  # fmt: skip
    return [_move_view(dict(row)) for row in rows]


def _move_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "from_unit", "to_unit", "vehicles", "started_at",
                                "expires_at", "done_at")}  # fmt: skip
