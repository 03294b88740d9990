"""``GET /v1/rebalancing/recommendations`` end to end in process on PostgreSQL: 10,000 vehicles
over 2,000 dispatch units, with four weeks of trip history to learn demand from.

A fresh database is migrated; one operator's fleet is recorded as a snapshot (10,000 vehicles
multinomial over 2,000 resolution-9 cells around People's Square) and 52,000 past trips are
loaded with COPY: 8,000 in this hour's window of each of the last four weeks (demand, and
where trips end for inbound vehicles) and 20,000 over the last week (turnover). 200 vehicles
are on a trip. Timed, best and median of 3 after a warm-up:

* ``recommend`` (unit states from the database: supply, demand, turnover, inbound; balances;
  the truck plan), target < 1 s; baseline: ``plan_moves`` alone on the same units, in the same
  run (so the ratio is what reading the database adds);
* recording the 10,000-vehicle snapshot (latest positions and history), for the record.

    python -m bench.recommendations_pg [--cells 2000] [--vehicles 10000] [--rounds 3]
    # TEST_POSTGRES_URL, else PostgreSQL on 127.0.0.1
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import time
import uuid

import h3
import numpy as np

from bench.database import analyze, migrated_postgres
from bench.rebalancing import make_cells
from bench.report import bound, report, run_from_command_line
from geo.rebalancing import balance_of, plan_moves

SEED = 11
N_CELLS, N_VEHICLES, ON_TRIP = 2_000, 10_000, 200
WEEKLY_WINDOW_TRIPS, LAST_WEEK_TRIPS = 32_000, 20_000
ROUNDS = 3
TARGET_S = 1.0
OPERATOR = "op-bench"


@dataclasses.dataclass(frozen=True)
class Fleet:
    """How big the operator's fleet and its trip history are."""

    cells: int = N_CELLS
    vehicles: int = N_VEHICLES
    on_trip: int = ON_TRIP
    weekly_window_trips: int = WEEKLY_WINDOW_TRIPS
    last_week_trips: int = LAST_WEEK_TRIPS


def _positions(rng: np.random.Generator, cells: list[str], now: dt.datetime, fleet: Fleet) -> list:
    from geo.coords import lnglat_to_cell
    from service.fleet.positions import Position

    weights = rng.lognormal(0, 1, len(cells))
    counts = rng.multinomial(fleet.vehicles, weights / weights.sum())
    positions = []
    for cell, count in zip(cells, counts.tolist(), strict=True):
        lat, lng = h3.cell_to_latlng(cell)
        for _ in range(count):
            n = len(positions)
            state = "on_trip" if n < fleet.on_trip else "available"
            fine = lnglat_to_cell(lng, lat, 10)
            positions.append(
                Position(OPERATOR, f"V-{n:05d}", lat, lng, fine, state, "bike", None, now)
            )
    return positions


def _trips(
    rng: np.random.Generator, cells: list[str], now: dt.datetime, fleet: Fleet
) -> list[dict]:
    weights = rng.lognormal(0, 1.2, len(cells))
    weights /= weights.sum()
    children = {c: h3.cell_to_center_child(c, 10) for c in cells}
    rows = []

    def add(started: dt.datetime) -> None:
        start, end = rng.choice(len(cells), 2, p=weights)
        rows.append({
            "uid": uuid.uuid4().hex, "operator_id": OPERATOR, "operator_trip_id": uuid.uuid4().hex,
            "mode": "bike", "started_at": started, "ended_at": started + dt.timedelta(minutes=9),
            "status": "credited", "reasons": [], "co2_g": 100, "points": 100,
            "pollutants_mg": {}, "created_at": now, "start_cell": children[cells[start]],
            "end_cell": children[cells[end]],
            "vehicle_id": f"V-{int(rng.integers(fleet.vehicles))}",
        })  # fmt: skip

    for week in range(1, 5):
        base = now - dt.timedelta(weeks=week)
        for offset in rng.uniform(0, 3600, fleet.weekly_window_trips // 4).tolist():
            add(base + dt.timedelta(seconds=offset))
    for offset in rng.uniform(0, 7 * 86_400, fleet.last_week_trips).tolist():
        add(now - dt.timedelta(seconds=offset))
    return rows


def run(
    *,
    cells: int = N_CELLS,
    vehicles: int = N_VEHICLES,
    on_trip: int = ON_TRIP,
    weekly_window_trips: int = WEEKLY_WINDOW_TRIPS,
    last_week_trips: int = LAST_WEEK_TRIPS,
    rounds: int = ROUNDS,
) -> list[dict[str, object]]:
    """The figures, after printing them and writing ``bench/results/recommendations_pg.json``."""
    fleet = Fleet(cells, vehicles, on_trip, weekly_window_trips, last_week_trips)
    from service.fleet.positions import DatabasePositions, record_sightings
    from service.fleet.units import unit_states
    from service.persistence import bulk
    from service.persistence.rider_models import Trip
    from service.usecases.rebalancing import RebalancingRules, recommend

    rng = np.random.default_rng(SEED)
    cell_ids = make_cells(fleet.cells)
    now = dt.datetime.now(dt.UTC)
    with migrated_postgres() as svc:
        settings = svc.settings
        positions = _positions(rng, cell_ids, now, fleet)
        store = DatabasePositions(svc.db)
        started = time.perf_counter()
        record_sightings(svc.db, positions)
        store.record(positions, now)
        snapshot_s = time.perf_counter() - started
        with svc.db.transaction() as session:
            bulk.insert_rows(session, Trip.__table__, _trips(rng, cell_ids, now, fleet))
        analyze(svc.settings.database_url)
        rules = RebalancingRules.from_settings(settings)
        units = rules.units(OPERATOR, svc.zones)
        recommend(svc.db, store, rules, units, OPERATOR, now)  # warm-up
        seconds, plan = [], None
        for _ in range(rounds):
            started = time.perf_counter()
            plan = recommend(svc.db, store, rules, units, OPERATOR, now)
            seconds.append(time.perf_counter() - started)
        states = unit_states(svc.db, store, OPERATOR, rules.horizon(now), units)
        units = [(s.unit, s.lng, s.lat, balance_of(s, rules.window_hours)) for s in states]
        alone = []
        for _ in range(rounds):
            started = time.perf_counter()
            plan_moves(units, rules.truck_capacity)
            alone.append(time.perf_counter() - started)
    assert plan is not None
    print(f"recommendations on PostgreSQL: {vehicles:,} vehicles ({on_trip} on a trip), "
          f"{len(states):,} units with supply, demand or inbound; {len(plan['moves']):,} moves, "
          f"{plan['moved_vehicles']:,} vehicles, surplus {plan['surplus_vehicles']:,}, "
          f"deficit {plan['deficit_vehicles']:,}")  # fmt: skip
    rows = [
        _row("recommend_best_s", min(seconds), min(alone), TARGET_S),
        _row("recommend_median_s", statistics.median(seconds), statistics.median(alone), TARGET_S),
        _row(f"snapshot_{vehicles // 1000}k_vehicles_s", snapshot_s, None, None),
    ]
    report("recommendations_pg", rows)
    print("(baseline = plan_moves alone on the same units in the same run; ratio = value / "
          "baseline)")  # fmt: skip
    return rows


def _row(name: str, value: float, baseline: float | None, target: float | None) -> dict:
    return {
        "name": name, "value": value, "unit": "s", "baseline": baseline,
        "ratio": value / baseline if baseline else None,
        "target": None if target is None else bound("<=", target),
        "met": None if target is None else value <= target,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=N_CELLS)
    parser.add_argument("--vehicles", type=int, default=N_VEHICLES)
    parser.add_argument("--on-trip", type=int, default=ON_TRIP)
    parser.add_argument("--weekly-window-trips", type=int, default=WEEKLY_WINDOW_TRIPS)
    parser.add_argument("--last-week-trips", type=int, default=LAST_WEEK_TRIPS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    run_from_command_line(run, parser)


if __name__ == "__main__":
    main()
