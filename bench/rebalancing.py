"""Truck-move planning of ``geo.rebalancing.plan_moves`` against the nearest-pair greedy baseline,
in one run.

10,000 vehicles are spread over 2,000 H3 cells at resolution 9 around People's Square, Shanghai
(the cells nearest the centre cell, within about 8.4 km of it), with a fixed seed: supply is
multinomial over log-normal cell weights, a few vehicles are inbound, turnover is 2-8 trips per
vehicle per day, and the expected demand over a 6-hour window follows independent log-normal
weights scaled so that the vehicles needed, rounded up per cell, about match the fleet.
``balance_of`` then puts roughly half the cells in surplus and half in deficit. Trucks carry 10
vehicles. Measured with ``time.perf_counter_ns`` after a warm-up, best and median of 3 runs:

* ``plan_moves`` time (target < 1 s), against ``greedy_moves`` timed in the same run;
* vehicle-metres of the plan against greedy's (target: optimal / greedy <= 1), and vehicles the
  plan leaves unmoved out of min(total surplus, total deficit) (target 0).

For the record, without targets, one run each of two variants of the same fleet, with vehicles
removed at random from one side: "equal totals" trims the larger side until total surplus equals
total deficit; "spare" removes a quarter of the deficit, so surplus clearly exceeds deficit and
the candidate arcs usually carry everything without a fallback. At this size ``plan_moves``
solves the full graph (every surplus unit to every deficit unit), so its plan is the optimum.
``ratio`` is value / baseline.

    python -m bench.rebalancing [--cells 2000] [--vehicles 10000] [--rounds 3]

Prints a table and writes ``bench/results/rebalancing.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import h3
import numpy as np

from bench.report import bound, report, run_from_command_line
from geo.rebalancing import Move, UnitState, balance_of, greedy_moves, plan_moves

SEED = 20_240_611
LNG0, LAT0 = 121.4737, 31.2304
RESOLUTION = 9
N_CELLS = 2_000
N_VEHICLES = 10_000
WINDOW_HOURS = 6.0
TRUCK_CAPACITY = 10
NEIGHBOURS = 12
ROUNDS = 3
TARGET_S = 1.0

Units = list[tuple[str, float, float, int]]
Planner = Callable[[Sequence[tuple[str, float, float, int]], int, int], list[Move]]


def make_cells(count: int) -> list[str]:
    """The ``count`` resolution-9 cells nearest People's Square, by grid distance then id."""
    centre = h3.latlng_to_cell(LAT0, LNG0, RESOLUTION)
    k = 1
    while 3 * k * (k + 1) + 1 < count:  # cells in a disk of radius k
        k += 1
    disk = h3.grid_disk(centre, k)
    return sorted(disk, key=lambda c: (h3.grid_distance(centre, c), c))[:count]


def make_states(
    rng: np.random.Generator, cells: list[str], vehicles: int = N_VEHICLES
) -> list[UnitState]:
    """Seeded supply, inbound, turnover and demand per cell, about balanced over the fleet."""
    n = len(cells)
    weights = rng.lognormal(0.0, 0.6, n)
    supply = rng.multinomial(vehicles, weights / weights.sum())
    inbound = rng.poisson(0.3, n)
    turnover = rng.uniform(2.0, 8.0, n)
    trips = np.maximum(1.0, turnover * WINDOW_HOURS / 24)
    pull = rng.lognormal(0.0, 0.6, n)
    fleet = supply.sum() + inbound.sum()
    demand = pull / pull.sum() * (fleet - n / 2) / 1.2 * trips  # ceil adds ~1/2 per cell
    states = []
    for i, cell in enumerate(cells):
        lat, lng = h3.cell_to_latlng(cell)
        states.append(
            UnitState(
                cell,
                lng,
                lat,
                int(supply[i]),
                float(demand[i]),
                float(turnover[i]),
                int(inbound[i]),
            )
        )
    return states


def trim(rng: np.random.Generator, units: Units, side: int, count: int) -> Units:
    """The same units with ``count`` vehicles removed at random from the surplus (``side`` 1) or
    the deficit (``side`` -1) units, in proportion to their imbalance."""
    balances = np.array([u[3] for u in units])
    owners = np.repeat(np.arange(len(units)), np.maximum(side * balances, 0))
    picked = rng.choice(len(owners), count, replace=False)
    removed = np.bincount(owners[picked], minlength=len(units)) * side
    return [
        (name, lng, lat, b - int(r))
        for (name, lng, lat, b), r in zip(units, removed.tolist(), strict=True)
    ]


def totals(units: Units) -> tuple[int, int]:
    """(total surplus, total deficit) in vehicles."""
    return sum(u[3] for u in units if u[3] > 0), -sum(u[3] for u in units if u[3] < 0)


def timed(planner: Planner, units: Units, rounds: int) -> tuple[list[float], list[Move]]:
    """Seconds per run over ``rounds`` runs, and the last answer."""
    seconds, moves = [], []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        moves = planner(units, TRUCK_CAPACITY, NEIGHBOURS)
        seconds.append((time.perf_counter_ns() - start) / 1e9)
    return seconds, moves


def vehicle_metres(moves: list[Move]) -> int:
    return sum(m.vehicles * m.distance_m for m in moves)


def moved(moves: list[Move]) -> int:
    return sum(m.vehicles for m in moves)


def _row(
    name: str, value: float, unit: str, baseline: float | None, target: float | None = None
) -> dict[str, object]:
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": value / baseline if baseline else None,
        "target": None if target is None else bound("<=", target),
        "met": None if target is None else value <= target,
    }


def variant_rows(name: str, units: Units) -> list[dict[str, object]]:
    """One timed run of the plan and of greedy on a variant fleet."""
    plan_s, plan = timed(plan_moves, units, 1)
    greedy_s, greedy = timed(greedy_moves, units, 1)
    return [
        _row(f"{name}_plan_moves_s", plan_s[0], "s", greedy_s[0]),
        _row(
            f"{name}_vehicle_km",
            vehicle_metres(plan) / 1e3,
            "vehicle-km",
            vehicle_metres(greedy) / 1e3,
        ),
        _row(
            f"{name}_vehicles_not_moved",
            float(min(totals(units)) - moved(plan)),
            "vehicles",
            None,
            0.0,
        ),
    ]


def run(
    *, cells: int = N_CELLS, vehicles: int = N_VEHICLES, rounds: int = ROUNDS
) -> list[dict[str, object]]:
    """The figures, after printing them and writing ``bench/results/rebalancing.json``."""
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    states = make_states(rng, make_cells(cells), vehicles)
    units = [(s.unit, s.lng, s.lat, balance_of(s, WINDOW_HOURS)) for s in states]
    balances = np.array([u[3] for u in units])
    surplus, deficit = totals(units)

    plan_moves(units, TRUCK_CAPACITY, NEIGHBOURS)  # warm-up
    greedy_moves(units, TRUCK_CAPACITY, NEIGHBOURS)
    plan_s, plan = timed(plan_moves, units, rounds)
    greedy_s, greedy = timed(greedy_moves, units, rounds)
    optimal_vm, greedy_vm = vehicle_metres(plan), vehicle_metres(greedy)

    equal = trim(rng, units, 1 if surplus > deficit else -1, abs(surplus - deficit))
    spare = trim(rng, units, -1, deficit // 4)

    rows = [
        _row("plan_moves_best_s", min(plan_s), "s", min(greedy_s), TARGET_S),
        _row(
            "plan_moves_median_s",
            statistics.median(plan_s),
            "s",
            statistics.median(greedy_s),
            TARGET_S,
        ),
        _row("vehicle_km", optimal_vm / 1e3, "vehicle-km", greedy_vm / 1e3),
        _row("vehicle_metres_optimal_over_greedy", optimal_vm / greedy_vm, "ratio", None, 1.0),
        _row("vehicles_moved", float(moved(plan)), "vehicles", float(moved(greedy))),
        _row(
            "vehicles_not_moved", float(min(surplus, deficit) - moved(plan)), "vehicles", None, 0.0
        ),
        *variant_rows("equal_totals", equal),
        *variant_rows("spare", spare),
    ]
    elapsed = time.perf_counter() - started

    print(
        f"rebalancing: {vehicles:,} vehicles in {cells:,} res-{RESOLUTION} cells, "
        f"{(balances > 0).sum()} in surplus ({surplus:,} vehicles), {(balances < 0).sum()} in "
        f"deficit ({deficit:,}), {(balances == 0).sum()} balanced; trucks of {TRUCK_CAPACITY}, "
        f"{NEIGHBOURS} neighbours, {len(plan):,} moves (greedy {len(greedy):,}); "
        f"equal totals {min(totals(equal)):,} vehicles, spare {totals(spare)[0]:,} over "
        f"{totals(spare)[1]:,}; python {platform.python_version()}, {os.cpu_count()} cpus"
    )
    report("rebalancing", rows)
    print(
        f"(baseline = greedy_moves in the same run; ratio = value / baseline; whole run "
        f"{elapsed:.1f} s)"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=N_CELLS)
    parser.add_argument("--vehicles", type=int, default=N_VEHICLES)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed runs of each planner")
    run_from_command_line(run, parser)


if __name__ == "__main__":
    main()
