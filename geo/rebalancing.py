"""Fleet rebalancing maths: how many vehicles a unit (an H3 cell or a station) has too many or too
few, which truck moves even that out for the fewest vehicle-metres, and the points offered to
riders who even it out themselves. Pure: plain numbers in, plain numbers out.

Balance of a unit over a window of ``window_hours``::

    trips_per_vehicle = max(1, turnover_per_day * window_hours / 24)
    needed            = ceil(safety * expected_demand / trips_per_vehicle)
    balance           = supply + inbound - needed        (> 0 surplus, < 0 deficit)

A vehicle serves several trips in the window when turnover is high, so fewer vehicles are needed;
it never serves fewer than one (a vehicle parked in the unit can always take the next trip).
``safety`` (1.2 by default) keeps a margin over the forecast. ``inbound`` counts vehicles already
on their way (trips ending there, trucks en route). The ceiling ignores floating-point noise below
1e-9, so 1.2 * 3.5 / 1.4, computed as 3.000000000000001, needs 3 vehicles, not 4.

Truck moves solve a transportation problem as a min-cost flow::

    source --[cap surplus_i, cost 0]--> surplus unit i
    surplus unit i --[cap truck_capacity, cost d_ij]--> deficit unit j
    deficit unit j --[cap deficit_j, cost 0]--> sink

with ``d_ij`` the great-circle distance in whole metres. It sends the most vehicles it can,
F = min(sum of surpluses, sum of deficits) unless the one-truck-load-per-pair cap forbids it,
and among those flows minimises the vehicle-metres sum(x_ij * d_ij); no single move carries more
than one truck load (x_ij <= truck_capacity), so each pair of units is one truck run. The solver
is OR-Tools' min-cost flow (C++; exact on integer data; about a third of a second for a
thousand surplus by a thousand deficit units here, where networkx's pure-Python network simplex
took seconds).

Up to ``FULL_GRAPH_ARCS`` pairs, every surplus unit gets an arc to every deficit unit and the
plan is the optimum. Beyond that, only candidate arcs are built: each surplus unit to its
``neighbours`` nearest deficit units and each deficit unit from its ``neighbours`` nearest
surplus units; when they carry fewer than F vehicles, every surplus unit still holding stock
gets an arc to every deficit unit and the flow is solved again, and if truck loads still block
it, over the full graph. That plan is optimal over the arcs built, not necessarily over the full
graph.

Rider incentives follow a published formula, like Citi Bike's Bike Angels but public: picking up
a vehicle at a surplus unit earns ``min(cap, points_per_vehicle * surplus)`` points and dropping
one at a deficit unit earns ``min(cap, points_per_vehicle * deficit)``; a balanced unit earns
nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from geo.coords import great_circle_m_many

FULL_GRAPH_ARCS = 4_000_000  # up to this many surplus x deficit pairs, every pair is an arc
_ROUNDING_SLACK = 1e-9  # floating-point noise the ceiling of ``needed`` ignores
_PAIRS_PER_BLOCK = 4_000_000  # distance-matrix entries held at once by the nearest-unit search


@dataclass
class UnitState:
    """What is known about one unit at planning time."""

    unit: str
    lng: float
    lat: float
    supply: int  # vehicles parked in the unit now
    expected_demand: float  # trips expected to start in the unit over the window
    turnover_per_day: float  # trips per vehicle per day, historically
    inbound: int  # vehicles already on their way to the unit


@dataclass(frozen=True)
class Move:
    """Take ``vehicles`` vehicles by truck from one unit to another, ``distance_m`` apart."""

    from_unit: str
    to_unit: str
    vehicles: int
    distance_m: int


def trips_per_vehicle(turnover_per_day: float, window_hours: float) -> float:
    """Trips one vehicle serves in the window: turnover scaled to the window, never below one."""
    return max(1.0, turnover_per_day * window_hours / 24)


def vehicles_needed(state: UnitState, window_hours: float, safety: float = 1.2) -> int:
    """Vehicles the unit needs to serve its expected demand, with the safety margin."""
    trips = safety * state.expected_demand / trips_per_vehicle(state.turnover_per_day, window_hours)
    return max(0, math.ceil(trips - _ROUNDING_SLACK))


def balance_of(state: UnitState, window_hours: float, safety: float = 1.2) -> int:
    """Vehicles the unit has beyond (> 0) or short of (< 0) what the window needs."""
    if window_hours <= 0 or safety <= 0:
        raise ValueError("window_hours and safety must be positive")
    if state.expected_demand < 0 or state.turnover_per_day < 0:
        raise ValueError(f"{state.unit}: demand and turnover cannot be negative")
    return state.supply + state.inbound - vehicles_needed(state, window_hours, safety)


def incentives(
    balances: Mapping[str, int], points_per_vehicle: int = 20, cap: int = 200
) -> dict[str, tuple[int, int]]:
    """(pickup_bonus, dropoff_bonus) per unit: riders are paid to take vehicles away from
    surpluses and to bring them to deficits, by the published formula, capped per trip."""
    if points_per_vehicle < 0 or cap < 0:
        raise ValueError("points_per_vehicle and cap cannot be negative")
    return {
        unit: (
            min(cap, points_per_vehicle * balance) if balance > 0 else 0,
            min(cap, points_per_vehicle * -balance) if balance < 0 else 0,
        )
        for unit, balance in balances.items()
    }


@dataclass(frozen=True)
class _Sides:
    """The units split into surpluses and deficits, each in input order."""

    surplus_units: list[str]
    surplus: np.ndarray  # vehicles, > 0
    s_lng: np.ndarray
    s_lat: np.ndarray
    deficit_units: list[str]
    deficit: np.ndarray  # vehicles, > 0
    d_lng: np.ndarray
    d_lat: np.ndarray


def _split(units: Sequence[tuple[str, float, float, int]]) -> _Sides:
    """Separate surplus from deficit units; balanced units take no part in any move."""
    names = [u[0] for u in units]
    if len(set(names)) != len(names):
        raise ValueError("unit names must be unique")
    plus = [u for u in units if u[3] > 0]
    minus = [u for u in units if u[3] < 0]
    return _Sides(
        surplus_units=[u[0] for u in plus],
        surplus=np.array([u[3] for u in plus], dtype=np.int64),
        s_lng=np.array([u[1] for u in plus], dtype=np.float64),
        s_lat=np.array([u[2] for u in plus], dtype=np.float64),
        deficit_units=[u[0] for u in minus],
        deficit=np.array([-u[3] for u in minus], dtype=np.int64),
        d_lng=np.array([u[1] for u in minus], dtype=np.float64),
        d_lat=np.array([u[2] for u in minus], dtype=np.float64),
    )


def _nearest(
    a_lng: np.ndarray, a_lat: np.ndarray, b_lng: np.ndarray, b_lat: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row in a, row in b) for the ``k`` points of b nearest each point of a. The distance
    matrix is built in blocks of rows so memory stays bounded for large fleets."""
    k = min(k, len(b_lng))
    block = max(1, _PAIRS_PER_BLOCK // max(1, len(b_lng)))
    rows, cols = [], []
    for start in range(0, len(a_lng), block):
        stop = min(start + block, len(a_lng))
        dist = great_circle_m_many(
            a_lng[start:stop, None], a_lat[start:stop, None], b_lng[None, :], b_lat[None, :]
        )
        if k < len(b_lng):
            cols.append(np.argpartition(dist, k - 1, axis=1)[:, :k].ravel())
        else:
            cols.append(np.tile(np.arange(len(b_lng)), stop - start))
        rows.append(np.repeat(np.arange(start, stop), k))
    return np.concatenate(rows), np.concatenate(cols)


def _arcs(sides: _Sides, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (surplus i, deficit j) pairs, sorted, with their distance in whole metres."""
    codes = np.unique(i.astype(np.int64) * len(sides.deficit_units) + j.astype(np.int64))
    i, j = np.divmod(codes, len(sides.deficit_units))
    dist = great_circle_m_many(sides.s_lng[i], sides.s_lat[i], sides.d_lng[j], sides.d_lat[j])
    return i, j, np.rint(dist).astype(np.int64)


def _candidate_arcs(sides: _Sides, neighbours: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surplus units to their nearest deficit units and deficit units from their nearest surplus
    units, union of both."""
    si, sj = _nearest(sides.s_lng, sides.s_lat, sides.d_lng, sides.d_lat, neighbours)
    dj, di = _nearest(sides.d_lng, sides.d_lat, sides.s_lng, sides.s_lat, neighbours)
    return _arcs(sides, np.concatenate([si, di]), np.concatenate([sj, dj]))


def _all_arcs(sides: _Sides, surplus_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair from the given (sorted, distinct) surplus units to every deficit unit, built
    by broadcasting: already distinct and sorted, so no deduplication pass."""
    n = len(sides.deficit_units)
    dist = great_circle_m_many(
        sides.s_lng[surplus_rows, None], sides.s_lat[surplus_rows, None],
        sides.d_lng[None, :], sides.d_lat[None, :],
    )  # fmt: skip
    i = np.repeat(surplus_rows.astype(np.int64), n)
    j = np.tile(np.arange(n, dtype=np.int64), len(surplus_rows))
    return i, j, np.rint(dist).astype(np.int64).ravel()


def _min_cost_flow(
    sides: _Sides, arcs: tuple[np.ndarray, np.ndarray, np.ndarray], truck_capacity: int
) -> tuple[int, np.ndarray]:
    """The most vehicles the arcs can carry, at the least cost (OR-Tools' min-cost flow, exact
    on integers); returns that amount and the flow on each arc."""
    i, j, dist = arcs
    n_s, n_d = len(sides.surplus_units), len(sides.deficit_units)
    source, sink = n_s + n_d, n_s + n_d + 1
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(
        np.concatenate([np.full(n_s, source), i, n_s + np.arange(n_d)]),
        np.concatenate([np.arange(n_s), n_s + j, np.full(n_d, sink)]),
        np.concatenate([sides.surplus, np.full(len(i), truck_capacity), sides.deficit]),
        np.concatenate([np.zeros(n_s, np.int64), dist, np.zeros(n_d, np.int64)]),
    )
    solver.set_node_supply(source, int(sides.surplus.sum()))
    solver.set_node_supply(sink, -int(sides.deficit.sum()))
    status = solver.solve_max_flow_with_min_cost()
    if status != solver.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")
    flows = solver.flows(np.arange(n_s, n_s + len(i)))
    return int(flows.sum()), flows


def _solve(
    sides: _Sides, truck_capacity: int, neighbours: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Arcs and their flow: the full graph when it is small enough, else the candidate arcs,
    enlarged by every arc of the surplus units they leave stocked when they carry too little,
    and by every pair when even that falls short (truck loads blocking the arcs)."""
    n_s, n_d = len(sides.surplus_units), len(sides.deficit_units)
    if n_s * n_d <= FULL_GRAPH_ARCS:
        arcs = _all_arcs(sides, np.arange(n_s))
        return arcs, _min_cost_flow(sides, arcs, truck_capacity)[1]
    target = int(min(sides.surplus.sum(), sides.deficit.sum()))
    arcs = _candidate_arcs(sides, neighbours)
    carried, flows = _min_cost_flow(sides, arcs, truck_capacity)
    if carried < target:
        sent = np.bincount(arcs[0], weights=flows, minlength=n_s)
        stocked = np.flatnonzero(sent < sides.surplus)
        wider = _all_arcs(sides, stocked)
        i = np.concatenate([arcs[0], wider[0]])
        j = np.concatenate([arcs[1], wider[1]])
        arcs = _arcs(sides, i, j)
        carried, flows = _min_cost_flow(sides, arcs, truck_capacity)
    if carried < target:  # truck loads block even those: every pair
        arcs = _all_arcs(sides, np.arange(n_s))
        flows = _min_cost_flow(sides, arcs, truck_capacity)[1]
    return arcs, flows


def _check(truck_capacity: int, neighbours: int) -> None:
    if truck_capacity < 1 or neighbours < 1:
        raise ValueError("truck_capacity and neighbours must be at least 1")


def plan_moves(
    units: Sequence[tuple[str, float, float, int]], truck_capacity: int, neighbours: int = 12
) -> list[Move]:
    """Truck moves, as (unit, lng, lat, balance) in and moves out, that carry min(surplus,
    deficit) vehicles for the fewest vehicle-metres; sorted by (from_unit, to_unit)."""
    _check(truck_capacity, neighbours)
    sides = _split(units)
    if not sides.surplus_units or not sides.deficit_units:
        return []
    (i, j, dist), flows = _solve(sides, truck_capacity, neighbours)
    moves = [
        Move(sides.surplus_units[a], sides.deficit_units[b], int(f), int(d))
        for a, b, d, f in zip(i.tolist(), j.tolist(), dist.tolist(), flows.tolist(), strict=True)
        if f > 0
    ]
    return sorted(moves, key=lambda m: (m.from_unit, m.to_unit))


def _greedy_pass(
    arcs: tuple[np.ndarray, np.ndarray, np.ndarray],
    left_s: np.ndarray,
    left_d: np.ndarray,
    truck_capacity: int,
    sides: _Sides,
) -> list[Move]:
    """Walk the pairs nearest first, each moving as much as both ends and one truck allow."""
    i, j, dist = arcs
    moves = []
    for k in np.lexsort((j, i, dist)).tolist():
        a, b = int(i[k]), int(j[k])
        amount = min(int(left_s[a]), int(left_d[b]), truck_capacity)
        if amount > 0:
            left_s[a] -= amount
            left_d[b] -= amount
            moves.append(Move(sides.surplus_units[a], sides.deficit_units[b], amount, int(dist[k])))
    return moves


def greedy_moves(
    units: Sequence[tuple[str, float, float, int]], truck_capacity: int, neighbours: int = 12
) -> list[Move]:
    """Nearest-pair-first baseline for benchmarks only; never used for recommendations, as it can
    cost far more than ``plan_moves`` (an early short move can force a long one later). Pairs
    come from the same candidate arcs, then, while stock and need remain, from every pair of a
    stocked surplus unit and a short deficit unit not used yet."""
    _check(truck_capacity, neighbours)
    sides = _split(units)
    if not sides.surplus_units or not sides.deficit_units:
        return []
    left_s, left_d = sides.surplus.copy(), sides.deficit.copy()
    arcs = _candidate_arcs(sides, neighbours)
    moves = _greedy_pass(arcs, left_s, left_d, truck_capacity, sides)
    stocked, short = np.flatnonzero(left_s > 0), np.flatnonzero(left_d > 0)
    if len(stocked) and len(short):
        used = set(zip(arcs[0].tolist(), arcs[1].tolist(), strict=True))
        pairs = [(a, b) for a in stocked.tolist() for b in short.tolist() if (a, b) not in used]
        if pairs:
            i, j = (np.array(side, dtype=np.int64) for side in zip(*pairs, strict=True))
            moves += _greedy_pass(_arcs(sides, i, j), left_s, left_d, truck_capacity, sides)
    return sorted(moves, key=lambda m: (m.from_unit, m.to_unit))
