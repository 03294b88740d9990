"""Dispatch units and what each holds and needs.

A dispatch unit is an H3 cell at ``REBALANCING_RESOLUTION`` (``REBALANCING_UNITS=h3``, the
default), or a parking zone of the zone catalogue (``REBALANCING_UNITS=parking``; a vehicle or a
trip end outside every parking zone that applies to the operator belongs to no unit).

For an operator at a moment ``now`` and a window of ``window_hours``:

- supply: its vehicles whose latest report (within the last hour) says available;
- expected demand: trip starts in the unit in the same window of the week, averaged over the
  last ``DEMAND_WEEKS`` weeks;
- turnover: trip starts in the unit over the last 7 days, per day, per vehicle there now (at
  least one);
- inbound: truck moves under way to the unit, plus vehicles on a trip now shared out over the
  units by where trips ended in the same window of the past weeks.

The balance formula is ``geo.rebalancing.balance_of``. Every figure comes from one query per
kind, never a query per unit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from geo.coords import cell_at_resolution, cell_to_lnglat, is_cell_at
from geo.index import ZoneIndex
from geo.rebalancing import UnitState
from geo.zones import Zone
from service.fleet.positions import PositionStore
from service.persistence.database import Database
from service.persistence.fleet_models import RebalancingMove
from service.persistence.rider_models import Trip

FRESH_FOR = dt.timedelta(hours=1)
TURNOVER_DAYS = 7
DISPATCHED_MODES = ("bike", "ebike")
ZONE_UNITS = 0  # the "resolution" recorded for maps whose units are parking zones


@dataclasses.dataclass(frozen=True)
class DispatchUnits:
    """How fine H3 cells or points become dispatch units."""

    resolution: int  # H3 resolution of the units, or ZONE_UNITS for parking zones
    zones: ZoneIndex | None = None
    operator_id: str | None = None

    @property
    def by_zone(self) -> bool:
        return self.resolution == ZONE_UNITS

    def of(
        self, cells: Sequence[str | None], points: Sequence[tuple[float, float] | None]
    ) -> list[str | None]:
        """The unit of each (fine cell, (lng, lat)) pair; None where there is none."""
        if not self.by_zone:
            return [None if c is None else cell_at_resolution(c, self.resolution) for c in cells]
        return self._zones_at(points)

    def is_unit(self, unit: str) -> bool:
        """Whether ``unit`` is one of these units: an H3 cell at their resolution, or a parking
        zone in force for the operator."""
        if self.by_zone:
            return unit in self._parking
        return is_cell_at(unit, self.resolution)

    def centre(self, unit: str) -> tuple[float, float]:
        """(lng, lat) a unit's distances are measured from."""
        if not self.by_zone:
            return cell_to_lnglat(unit)
        point = self._parking[unit].geometry.representative_point()
        return point.x, point.y

    @functools.cached_property
    def _parking(self) -> dict[str, Zone]:
        """The parking zones that apply to the operator, by id (looked up once)."""
        zones = self.zones.zones if self.zones is not None else []
        return {z.zone_id: z for z in zones if z.zone_type == "parking"
                and (z.operators is None or self.operator_id in z.operators)}  # fmt: skip

    def _zones_at(self, points: Sequence[tuple[float, float] | None]) -> list[str | None]:
        found: list[str | None] = [None] * len(points)
        if self.zones is None or not points:
            return found
        known = [i for i, p in enumerate(points) if p is not None]
        lngs = np.array([points[i][0] for i in known])  # type: ignore[index]
        lats = np.array([points[i][1] for i in known])  # type: ignore[index]
        usable = {id(z) for z in self._parking.values()}
        for p, z in zip(*self.zones.zones_at_many(lngs, lats), strict=True):
            zone = self.zones.zones[int(z)]
            here = known[int(p)]
            if found[here] is None and id(zone) in usable:  # the first by precedence
                found[here] = zone.zone_id
        return found


@dataclasses.dataclass(frozen=True)
class Horizon:
    now: dt.datetime
    window_hours: int
    weeks: int

    def past_windows(self) -> list[tuple[dt.datetime, dt.datetime]]:
        """The same window of the week, one to ``weeks`` weeks ago."""
        length = dt.timedelta(hours=self.window_hours)
        return [
            (self.now - dt.timedelta(weeks=k), self.now - dt.timedelta(weeks=k) + length)
            for k in range(1, self.weeks + 1)
        ]


def unit_states(
    db: Database,
    positions: PositionStore,
    operator_id: str,
    horizon: Horizon,
    units: DispatchUnits,
) -> list[UnitState]:
    """Every unit where the operator has vehicles, demand, or vehicles coming."""
    fresh = [p for p in positions.latest(operator_id) if p.reported_at >= horizon.now - FRESH_FOR]
    available = [p for p in fresh if p.state == "available"]
    on_trip = sum(p.state == "on_trip" for p in fresh)
    supply = Counter(
        u for u in units.of([p.cell for p in available], [(p.lng, p.lat) for p in available]) if u
    )
    windows = horizon.past_windows()
    week = [(horizon.now - dt.timedelta(days=TURNOVER_DAYS), horizon.now)]
    with db.reading() as session:
        connection = session.connection()
        demand = _trip_ends(connection, operator_id, units, windows, start=True)
        arrivals = _trip_ends(connection, operator_id, units, windows, start=False)
        turnover = _trip_ends(connection, operator_id, units, week, start=True)
        trucks = _moves_under_way(connection, operator_id, horizon.now)
    inbound = Counter(_share_out(on_trip, arrivals))
    # A move recorded under other units (before REBALANCING_UNITS changed, to a zone since
    # withdrawn) goes nowhere on this map.
    inbound.update({unit: n for unit, n in trucks.items() if units.is_unit(unit)})
    states = []
    for unit in sorted(set(supply) | set(demand) | set(inbound)):
        lng, lat = units.centre(unit)
        vehicles = supply.get(unit, 0)
        states.append(UnitState(
            unit=unit, lng=lng, lat=lat, supply=vehicles,
            expected_demand=demand.get(unit, 0) / horizon.weeks,
            turnover_per_day=turnover.get(unit, 0) / TURNOVER_DAYS / max(vehicles, 1),
            inbound=inbound.get(unit, 0),
        ))  # fmt: skip
    return states


def _trip_ends(
    connection: Connection,
    operator_id: str,
    units: DispatchUnits,
    windows: Iterable[tuple[dt.datetime, dt.datetime]],
    *,
    start: bool,
) -> Counter[str]:
    """Trips per unit of their start (or end) within the windows: grouped by cell in SQL for
    H3 units, placed point by point for parking zones."""
    cell = Trip.start_cell if start else Trip.end_cell
    moment = Trip.started_at if start else Trip.ended_at
    within = and_(
        Trip.operator_id == operator_id,
        Trip.mode.in_(DISPATCHED_MODES),
        cell.is_not(None),
        or_(*(and_(moment >= lo, moment < hi) for lo, hi in windows)),
    )
    counted: Counter[str] = Counter()
    if not units.by_zone:
        for c, n in connection.execute(select(cell, func.count()).where(within).group_by(cell)):
            counted[cell_at_resolution(c, units.resolution)] += int(n)
        return counted
    lng, lat = (Trip.start_lng, Trip.start_lat) if start else (Trip.end_lng, Trip.end_lat)
    rows = connection.execute(select(lng, lat).where(within, lng.is_not(None))).all()
    counted.update(u for u in units.of([None] * len(rows), [(x, y) for x, y in rows]) if u)
    return counted


def _moves_under_way(connection: Connection, operator_id: str, now: dt.datetime) -> Counter[str]:
    """Vehicles on trucks heading to each unit: moves started, not done, not yet overdue."""
    rows = connection.execute(
        select(RebalancingMove.to_unit, func.sum(RebalancingMove.vehicles))
        .where(RebalancingMove.operator_id == operator_id, RebalancingMove.done_at.is_(None),
               RebalancingMove.started_at <= now, RebalancingMove.expires_at > now)
        .group_by(RebalancingMove.to_unit)
    )  # fmt: skip
    return Counter({unit: int(n) for unit, n in rows})


def _share_out(vehicles: int, weights: Counter[str]) -> dict[str, int]:
    """``vehicles`` split in proportion to ``weights`` in whole vehicles (largest remainders)."""
    total = sum(weights.values())
    if vehicles <= 0 or total <= 0:
        return {}
    exact = {unit: vehicles * w / total for unit, w in weights.items()}
    shares = {unit: int(x) for unit, x in exact.items()}
    left = vehicles - sum(shares.values())
    for unit in sorted(exact, key=lambda u: (shares[u] - exact[u], u))[:left]:
        shares[unit] += 1
    return {unit: n for unit, n in shares.items() if n}
