"""Dispatch units (H3 cells at ``REBALANCING_RESOLUTION``) and what each holds and needs.

For an operator at a moment ``now`` and a window of ``window_hours``:

- supply: its vehicles whose latest report (within the last hour) says available;
- expected demand: trip starts in the unit in the same window of the week, averaged over the
  last ``DEMAND_WEEKS`` weeks;
- turnover: trip starts in the unit over the last 7 days, per day, per vehicle there now (at
  least one);
- inbound: vehicles on a trip now, shared out over the units by where trips ended in the same
  window of the past weeks.

The balance formula is ``geo.rebalancing.balance_of``. Every figure comes from one grouped
query per kind, never a query per unit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterable

import h3
from sqlalchemy import and_, func, or_, select

from geo.rebalancing import UnitState
from service.fleet.positions import PositionStore
from service.persistence.database import Database
from service.persistence.rider_models import Trip

FRESH_FOR = dt.timedelta(hours=1)
TURNOVER_DAYS = 7
DISPATCHED_MODES = ("bike", "ebike")


@dataclasses.dataclass(frozen=True)
class Horizon:
    now: dt.datetime
    window_hours: int
    weeks: int
    resolution: int

    def past_windows(self) -> list[tuple[dt.datetime, dt.datetime]]:
        """The same window of the week, one to ``weeks`` weeks ago."""
        length = dt.timedelta(hours=self.window_hours)
        return [
            (self.now - dt.timedelta(weeks=k), self.now - dt.timedelta(weeks=k) + length)
            for k in range(1, self.weeks + 1)
        ]


def unit_states(
    db: Database, positions: PositionStore, operator_id: str, horizon: Horizon
) -> list[UnitState]:
    """Every unit where the operator has vehicles, demand, or vehicles coming."""
    supply: Counter[str] = Counter()
    on_trip = 0
    for p in positions.latest(operator_id):
        if p.reported_at < horizon.now - FRESH_FOR:
            continue
        if p.state == "available":
            supply[unit_of(p.cell, horizon.resolution)] += 1
        elif p.state == "on_trip":
            on_trip += 1
    windows = horizon.past_windows()
    with db.reading() as session:
        connection = session.connection()
        starts = _per_cell(connection, operator_id, Trip.start_cell, Trip.started_at, windows)
        ends = _per_cell(connection, operator_id, Trip.end_cell, Trip.ended_at, windows)
        week = [(horizon.now - dt.timedelta(days=TURNOVER_DAYS), horizon.now)]
        recent = _per_cell(connection, operator_id, Trip.start_cell, Trip.started_at, week)
    demand = _to_units(starts, horizon.resolution)
    arrivals = _to_units(ends, horizon.resolution)
    turnover = _to_units(recent, horizon.resolution)
    inbound = _share_out(on_trip, arrivals)
    states = []
    for unit in sorted(set(supply) | set(demand) | set(inbound)):
        lat, lng = h3.cell_to_latlng(unit)
        vehicles = supply.get(unit, 0)
        states.append(UnitState(
            unit=unit, lng=lng, lat=lat, supply=vehicles,
            expected_demand=demand.get(unit, 0) / horizon.weeks,
            turnover_per_day=turnover.get(unit, 0) / TURNOVER_DAYS / max(vehicles, 1),
            inbound=inbound.get(unit, 0),
        ))  # fmt: skip
    return states


def unit_of(cell: str, resolution: int) -> str:
    """The dispatch unit of a fine H3 cell: its parent at the units' resolution."""
    return cell if h3.get_resolution(cell) <= resolution else h3.cell_to_parent(cell, resolution)


def _per_cell(
    connection: object,
    operator_id: str,
    cell: object,
    moment: object,
    windows: Iterable[tuple[dt.datetime, dt.datetime]],
) -> dict[str, int]:
    query = (
        select(cell, func.count())
        .where(
            Trip.operator_id == operator_id,
            Trip.mode.in_(DISPATCHED_MODES),
            cell.is_not(None),  # type: ignore[attr-defined]
            or_(*(and_(moment >= lo, moment < hi) for lo, hi in windows)),  # type: ignore[operator]
        )
        .group_by(cell)
    )
    return {c: int(n) for c, n in connection.execute(query)}  # type: ignore[attr-defined]


def _to_units(per_cell: dict[str, int], resolution: int) -> Counter[str]:
    units: Counter[str] = Counter()
    for cell, count in per_cell.items():
        units[unit_of(cell, resolution)] += count
    return units


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
