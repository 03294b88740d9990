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

    python -m bench.recommendations_pg   # needs TEST_POSTGRES_URL or a local PostgreSQL
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid

import h3
import numpy as np

from bench.database import migrated_postgres
from bench.rebalancing import make_cells
from bench.report import report
from geo.rebalancing import balance_of, plan_moves

SEED = 11
N_CELLS, N_VEHICLES, ON_TRIP = 2_000, 10_000, 200
WEEKLY_WINDOW_TRIPS, LAST_WEEK_TRIPS = 32_000, 20_000
ROUNDS = 3
TARGET_S = 1.0
OPERATOR = "op-bench"


def _positions(rng: np.random.Generator, cells: list[str], now: dt.datetime) -> list:
    from geo.coords import lnglat_to_cell
    from service.fleet.positions import Position

    weights = rng.lognormal(0, 1, len(cells))
    counts = rng.multinomial(N_VEHICLES, weights / weights.sum())
    positions = []
    for cell, count in zip(cells, counts.tolist(), strict=True):
        lat, lng = h3.cell_to_latlng(cell)
        for _ in range(count):
            n = len(positions)
            state = "on_trip" if n < ON_TRIP else "available"
            fine = lnglat_to_cell(lng, lat, 10)
            positions.append(
                Position(OPERATOR, f"V-{n:05d}", lat, lng, fine, state, "bike", None, now)
            )
    return positions


def _trips(rng: np.random.Generator, cells: list[str], now: dt.datetime) -> list[dict]:
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
            "end_cell": children[cells[end]], "vehicle_id": f"V-{int(rng.integers(N_VEHICLES))}",
        })  # fmt: skip

    for week in range(1, 5):
        base = now - dt.timedelta(weeks=week)
        for offset in rng.uniform(0, 3600, WEEKLY_WINDOW_TRIPS // 4).tolist():
            add(base + dt.timedelta(seconds=offset))
    for offset in rng.uniform(0, 7 * 86_400, LAST_WEEK_TRIPS).tolist():
        add(now - dt.timedelta(seconds=offset))
    return rows


def main() -> list[dict[str, object]]:
    from service.fleet.positions import DatabasePositions, record_sightings
    from service.fleet.units import unit_states
    from service.persistence import bulk
    from service.persistence.rider_models import Trip
    from service.usecases.rebalancing import RebalancingRules, recommend

    rng = np.random.default_rng(SEED)
    cells = make_cells(N_CELLS)
    now = dt.datetime.now(dt.UTC)
    with migrated_postgres() as svc:
        settings = svc.settings
        positions = _positions(rng, cells, now)
        store = DatabasePositions(svc.db)
        started = time.perf_counter()
        record_sightings(svc.db, positions)
        store.record(positions, now)
        snapshot_s = time.perf_counter() - started
        with svc.db.transaction() as session:
            bulk.insert_rows(session, Trip.__table__, _trips(rng, cells, now))
        with svc.db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        rules = RebalancingRules.from_settings(settings)
        units = rules.units(OPERATOR, svc.zones)
        recommend(svc.db, store, rules, units, OPERATOR, now)  # warm-up
        seconds, plan = [], None
        for _ in range(ROUNDS):
            started = time.perf_counter()
            plan = recommend(svc.db, store, rules, units, OPERATOR, now)
            seconds.append(time.perf_counter() - started)
        states = unit_states(svc.db, store, OPERATOR, rules.horizon(now), units)
        units = [(s.unit, s.lng, s.lat, balance_of(s, rules.window_hours)) for s in states]
        alone = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            plan_moves(units, rules.truck_capacity)
            alone.append(time.perf_counter() - started)
    assert plan is not None
    print(f"recommendations on PostgreSQL: {N_VEHICLES:,} vehicles ({ON_TRIP} on a trip), "
          f"{len(states):,} units with supply, demand or inbound; {len(plan['moves']):,} moves, "
          f"{plan['moved_vehicles']:,} vehicles, surplus {plan['surplus_vehicles']:,}, "
          f"deficit {plan['deficit_vehicles']:,}")  # fmt: skip
    rows = [
        _row("recommend_best_s", min(seconds), min(alone), TARGET_S),
        _row("recommend_median_s", statistics.median(seconds), statistics.median(alone), TARGET_S),
        _row("snapshot_10k_vehicles_s", snapshot_s, None, None),
    ]
    report("recommendations_pg", rows)
    print("(baseline = plan_moves alone on the same units in the same run; ratio = value / "
          "baseline)")  # fmt: skip
    return rows


def _row(name: str, value: float, baseline: float | None, target: float | None) -> dict:
    return {
        "name": name, "value": value, "unit": "s", "baseline": baseline,
        "ratio": value / baseline if baseline else None, "target": target,
        "met": None if target is None else value <= target,
    }  # fmt: skip


if __name__ == "__main__":
    main()
