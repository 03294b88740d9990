"""Rebalancing bonuses: a credited bike or e-bike trip that started in a unit with pick-up
points and ended in one with drop-off points earns both, by the incentive map of the 15-minute
slot it started in, as a ledger credit of its own (``credit:rebalancing:<trip uid>``) whose
details are its receipt.

Moving a vehicle back and forth earns nothing: when the same vehicle made the opposite trip
(from this end unit to this start unit) within ``BACK_AND_FORTH`` of this one, this trip earns
no bonus and the other trip's bonus, if it had one, is reversed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from geo.index import ZoneIndex
from service.fleet.units import ZONE_UNITS, DispatchUnits
from service.ingest.contract import LatLng, TripIn
from service.ingest.evaluate import Candidate
from service.ledger.ledger import CreditRequest, Ledger, credit_id
from service.ledger.policy import LedgerPolicy
from service.persistence import direct
from service.persistence.fleet_models import IncentiveMap
from service.persistence.rider_models import Trip
from service.usecases.rebalancing import IncentiveMapView, map_view, slot_of, slots_of

BACK_AND_FORTH = dt.timedelta(hours=24)
PURPOSE = "rebalancing"
MODES = ("bike", "ebike")  # the modes that earn bonuses
_TRIPS = Trip.__table__
_MAPS = IncentiveMap.__table__
_MAPS_AT = direct.Statement(
    lambda dialect: select(_MAPS).where(
        _MAPS.c.operator_id == bindparam("operator_id"),
        direct.one_of_param(dialect, _MAPS.c.slot_start, "slots"),
    )
)
_VEHICLE_TRIPS = direct.Statement(
    lambda dialect: select(
        _TRIPS.c.uid, _TRIPS.c.vehicle_id, _TRIPS.c.started_at, _TRIPS.c.start_cell,
        _TRIPS.c.end_cell, _TRIPS.c.start_lng, _TRIPS.c.start_lat, _TRIPS.c.end_lng,
        _TRIPS.c.end_lat,
    ).where(
        _TRIPS.c.operator_id == bindparam("operator_id"),
        _TRIPS.c.status == "credited",
        direct.one_of_param(dialect, _TRIPS.c.vehicle_id, "vehicles"),
        _TRIPS.c.started_at >= bindparam("lo"),
        _TRIPS.c.started_at <= bindparam("hi"),
    )
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Move:
    uid: str
    vehicle_id: str
    started_at: dt.datetime
    start_unit: str
    end_unit: str


def send_incentive_maps(
    session: Session, operator_id: str, trips: Sequence[TripIn]
) -> Callable[[], dict[dt.datetime, IncentiveMapView]]:
    """The operator's incentive maps for the slots the trips started in, sent now (inside
    ``direct.pipelined``, with the statements around it) and read when called."""
    slots = slots_of(t.start_time for t in trips if t.mode in MODES)
    if not slots:
        return dict
    sent = _MAPS_AT.send(session, operator_id=operator_id, slots=slots)

    @functools.cache
    def maps() -> dict[dt.datetime, IncentiveMapView]:
        views = (map_view(operator_id, row) for row in sent.mappings())
        return {view.slot_start: view for view in views}

    return maps


def credit_bonuses(
    session: Session,
    policy: LedgerPolicy,
    operator_id: str,
    credited: Sequence[Candidate],
    now: dt.datetime,
    incentive_maps: Callable[[], dict[dt.datetime, IncentiveMapView]],
    zones: ZoneIndex | None = None,
) -> dict[str, int]:
    """Credit the bonuses the batch's credited trips earned, by the maps
    ``send_incentive_maps`` read for these trips or more; returns points per trip uid. The
    caller holds the riders' account locks. ``zones`` places trip ends in parking zones, for
    maps whose units are parking zones."""
    eligible = [c for c in credited if _may_earn(c)]
    if not eligible:
        return {}
    published = incentive_maps()
    if not published:  # most slots have no map: nothing to work out per trip
        return {}
    slots = set(slots_of(c.trip.start_time for c in eligible))
    maps = {slot: view for slot, view in published.items() if slot in slots}
    if not maps:
        return {}
    schemes = {slot: _scheme(view, zones, operator_id) for slot, view in maps.items()}
    earlier = _recent_moves(session, operator_id, eligible, schemes)
    requests: list[CreditRequest] = []
    in_batch: list[_Move] = []
    for c in sorted(eligible, key=lambda c: (c.trip.start_time, c.uid)):
        slot = slot_of(c.trip.start_time)
        if slot not in maps:
            continue
        bonus_map = maps[slot]
        ends = [_lnglat(c.trip.start), _lnglat(c.trip.end)]
        start, end = schemes[slot].of([c.start_cell, c.end_cell], ends)
        if start is None or end is None:
            continue
        move = _Move(c.uid, c.trip.vehicle_id or "", c.trip.start_time, start, end)
        opposite = [m for m in (*earlier.get(move.vehicle_id, ()), *in_batch)
                    if _reverses(m, move)]  # fmt: skip
        in_batch.append(move)
        if opposite:
            for other in opposite:
                requests = [r for r in requests if r.ref != other.uid]
                _reverse_bonus(session, policy, other.uid, now)
            continue
        pickup, dropoff = bonus_map.bonus(move.start_unit, move.end_unit)
        if not pickup:
            continue
        requests.append(CreditRequest(
            account_id=c.account_id or "", purpose=PURPOSE, ref=c.uid, points=pickup + dropoff,
            occurred_at=c.trip.end_time, trip_uid=c.uid,
            details={"reason": f"rebalancing bonus: picked up in {move.start_unit} (surplus, "
                               f"{pickup} points), left in {move.end_unit} (deficit, {dropoff} "
                               "points)",
                     "from_unit": move.start_unit, "to_unit": move.end_unit,
                     "slot_start": slot.isoformat(), "pickup_points": pickup,
                     "dropoff_points": dropoff, "resolution": bonus_map.resolution},
        ))  # fmt: skip
    outcomes = Ledger(session, policy).credit_many(requests, now)
    return {r.ref: o.points for r, o in zip(requests, outcomes, strict=True) if o.points}


def _may_earn(c: Candidate) -> bool:
    return (c.status == "credited" and c.trip.mode in MODES and c.withheld is None
            and bool(c.trip.vehicle_id) and bool(c.start_cell) and bool(c.end_cell)
            and c.account_id is not None)  # fmt: skip


def _reverses(earlier: _Move, later: _Move) -> bool:
    return (earlier.vehicle_id == later.vehicle_id and earlier.uid != later.uid
            and earlier.start_unit == later.end_unit and earlier.end_unit == later.start_unit
            and abs(later.started_at - earlier.started_at) <= BACK_AND_FORTH)  # fmt: skip


def _recent_moves(
    session: Session,
    operator_id: str,
    batch: Sequence[Candidate],
    schemes: dict[dt.datetime, DispatchUnits],
) -> dict[str, list[_Move]]:
    """The vehicles' other credited trips around the batch, in the units of the batch's maps
    (one scheme: a deployment does not change its units within a day)."""
    scheme = next(iter(schemes.values()))
    vehicles = sorted({c.trip.vehicle_id for c in batch if c.trip.vehicle_id})
    lo = min(c.trip.start_time for c in batch) - BACK_AND_FORTH
    hi = max(c.trip.start_time for c in batch) + BACK_AND_FORTH
    uids = {c.uid for c in batch}
    rows = [
        row
        for row in _VEHICLE_TRIPS.mappings(
            session, operator_id=operator_id, vehicles=vehicles, lo=lo, hi=hi
        )
        if row["uid"] not in uids
    ]
    cells = [c for row in rows for c in (row["start_cell"], row["end_cell"])]
    points = [p for row in rows for p in ((row["start_lng"], row["start_lat"]),
                                          (row["end_lng"], row["end_lat"]))]  # fmt: skip
    placed = scheme.of(cells, [None if p[0] is None else p for p in points])
    found: dict[str, list[_Move]] = {}
    for k, row in enumerate(rows):
        start, end = placed[2 * k], placed[2 * k + 1]
        if start is None or end is None:
            continue
        started = row["started_at"]
        if started.tzinfo is None:
            started = started.replace(tzinfo=dt.UTC)
        found.setdefault(row["vehicle_id"], []).append(
            _Move(row["uid"], row["vehicle_id"], started, start, end)
        )
    return found


def _scheme(view: IncentiveMapView, zones: ZoneIndex | None, operator_id: str) -> DispatchUnits:
    """The units a map was made in: H3 cells at its resolution, or parking zones."""
    if view.resolution == ZONE_UNITS:
        return DispatchUnits(ZONE_UNITS, zones, operator_id)
    return DispatchUnits(view.resolution)


def _lnglat(point: LatLng | None) -> tuple[float, float] | None:
    return None if point is None else (point.lng, point.lat)


def _reverse_bonus(session: Session, policy: LedgerPolicy, trip_uid: str, now: dt.datetime) -> None:
    ledger = Ledger(session, policy)
    bonus = credit_id(PURPOSE, trip_uid)
    if ledger.has_transaction(bonus):
        ledger.reverse_credit(bonus, reason="back_and_forth", now=now)
