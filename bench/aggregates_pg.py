"""A month's resolution-8 planner map for one mode on PostgreSQL, from the roll-ups, against
the same answer computed from raw trips with SQL, in one run.

The demo city's generator (``mock_clients``: riders with homes, workplaces and commuting
styles, their legs day by day) produces a month of trips, about ``--trips`` of them (10
million by default), written straight into a fresh database with COPY, as credited trips of
consenting riders; the roll-ups are counted from the same rows with the service's own
``trip_atoms`` and written once. Then, best and median of 5 after a warm-up:

* the map: ``service.planner.queries.cells`` at resolution 8 for one mode and one month (what
  ``GET /v1/aggregates/cells`` runs), target < 200 ms;
* the baseline: the same figures from raw trips in SQL (trips joined to each start cell's
  resolution-9 and -8 parents, grouped into atoms whose riders are counted as the roll-ups
  count them, by distinct rider bits, atoms below k dropped, summed per resolution-8 cell).
  Target: the map at least 10 times faster.

The two answers are compared cell by cell (trips, CO2, distance must be equal).

    python -m bench.aggregates_pg [--trips N] [--rounds 5]
    # TEST_POSTGRES_URL, else PostgreSQL on 127.0.0.1
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import h3
from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.orm import Session

from bench.database import analyze, migrated_postgres
from bench.report import bound, report, run_from_command_line
from mock_clients import city as cities
from mock_clients.population import populate
from mock_clients.travel import Leg, day_of
from service.persistence import bulk
from service.persistence.database import Database
from service.persistence.ledger_models import Account
from service.persistence.rider_models import Trip
from service.planner import tables
from service.planner.atoms import CellTotals, FlowTotals, trip_atoms
from service.planner.queries import Slice, cells

SHANGHAI = ZoneInfo("Asia/Shanghai")
LEGS_PER_RIDER_DAY = 1.85  # measured on the demo city's generator over a month
MONTH_DAYS = 30
CHUNK = 200_000
ROUNDS = 5
TARGET_MS = 200.0
TARGET_TIMES = 10.0
TRIPS = 10_000_000
FACTOR_G_PER_KM = {"bike": 98.0, "ebike": 54.01, "metro": 97.0}  # METHODOLOGIES.md, Shanghai
BUS_G_PER_RIDE = 422
MODE = "bike"
K = 10


def _legs(riders: int, first_day: dt.date, seed: int) -> Iterator[Leg]:
    """A month of the demo city's riders' legs, day by day."""
    city = cities.load()
    rng = random.Random(seed)  # noqa: S311 - a seeded simulation
    population = populate(city, riders, MONTH_DAYS, rng)
    for offset in range(MONTH_DAYS):
        day = first_day + dt.timedelta(days=offset)
        for rider in population:
            yield from day_of(rider, city, day, SHANGHAI, rng)


def _row(leg: Leg, now: dt.datetime) -> dict:
    if leg.mode == "bus":
        co2 = BUS_G_PER_RIDE
        distance = None
    else:
        distance = leg.distance_m or round(leg.start.metres_to(leg.end) * 1.15)
        co2 = int(FACTOR_G_PER_KM[leg.mode] * distance / 1000)
    return {
        "uid": uuid.uuid4().hex, "operator_id": f"op-{leg.mode}",
        "operator_trip_id": uuid.uuid4().hex, "account_id": f"acct-{leg.rider.index:07d}",
        "rider_ref": f"r-{leg.rider.index}", "mode": leg.mode,
        "started_at": leg.start_time.astimezone(dt.UTC),
        "ended_at": leg.end_time.astimezone(dt.UTC),
        "distance_m": distance, "status": "credited", "reasons": [], "co2_g": co2, "points": co2,
        "pollutants_mg": {}, "created_at": now,
        "parking": {"allowed": not leg.parked_badly} if leg.mode in ("bike", "ebike") else None,
        "start_cell": h3.latlng_to_cell(leg.start.lat, leg.start.lng, 10),
        "end_cell": h3.latlng_to_cell(leg.end.lat, leg.end.lng, 10),
    }  # fmt: skip


RAW_SQL = """
WITH atoms AS (
    SELECT m.c8, m.c9, extract(hour FROM t.started_at AT TIME ZONE 'Asia/Shanghai') AS hour,
           extract(isodow FROM t.started_at AT TIME ZONE 'Asia/Shanghai') >= 6 AS weekend,
           count(*) AS trips, sum(t.co2_g) AS co2_g, sum(coalesce(t.distance_m, 0)) AS distance_m,
           count(DISTINCT ('x' || substr(encode(sha256(t.account_id::bytea), 'hex'), 1, 8))
                 ::bit(32)::bigint %% 1024) AS riders
    FROM trips t JOIN bench_cells m ON m.cell = t.start_cell
    WHERE t.status = 'credited' AND t.mode = %(mode)s
      AND t.started_at >= %(start)s AND t.started_at < %(end)s
    GROUP BY m.c8, m.c9, 3, 4
)
SELECT c8, sum(trips), sum(co2_g), sum(distance_m) FROM atoms WHERE riders >= %(k)s GROUP BY c8
"""


def run(*, trips: int = TRIPS, rounds: int = ROUNDS) -> list[dict[str, object]]:
    """The figures, after printing them and writing ``bench/results/aggregates_pg.json``."""
    riders = max(100, round(trips / MONTH_DAYS / LEGS_PER_RIDER_DAY))
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    first_day = dt.date(now.year, now.month, 1) - dt.timedelta(days=62)
    first_day = first_day.replace(day=1)
    month = first_day.strftime("%Y-%m")
    with migrated_postgres() as svc:
        with svc.db.transaction() as session:
            bulk.insert_rows(session, Account.__table__, [
                {"id": f"acct-{i:07d}", "kind": "personal", "created_at": now, "pending": 0,
                 "available": 0, "held": 0} for i in range(riders)])  # fmt: skip
        all_cells: dict = {}
        all_flows: dict = {}
        total = 0
        batch: list[dict] = []
        for leg in _legs(riders, first_day, seed=11):
            batch.append(_row(leg, now))
            if len(batch) >= CHUNK:
                total += _load(svc.db, batch, all_cells, all_flows)
                batch = []
        total += _load(svc.db, batch, all_cells, all_flows)
        with svc.db.transaction() as session:
            tables.add_cells(session, tables.cell_rows(all_cells))
            tables.add_flows(session, tables.flow_rows(all_flows))
            starts = {c for (c,) in session.execute(
                Trip.__table__.select().with_only_columns(Trip.start_cell).distinct())}  # fmt: skip
            bulk.insert_rows(session, _cell_map_table(session), [
                {"cell": c, "c9": h3.cell_to_parent(c, 9), "c8": h3.cell_to_parent(c, 8)}
                for c in starts if c])  # fmt: skip
        analyze(svc.settings.database_url)
        loaded_s = time.perf_counter() - started
        view = Slice(month, month, mode=MODE, k=K)
        cells(svc.db, view, 8)  # warm-up
        map_s, answer = [], None
        for _ in range(rounds):
            t0 = time.perf_counter()
            answer = cells(svc.db, view, 8)
            map_s.append(time.perf_counter() - t0)
        start = dt.datetime.combine(first_day, dt.time(), SHANGHAI)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        raw_s, raw = [], None
        params = {"mode": MODE, "start": start, "end": end, "k": K}
        with svc.db.engine.connect() as connection:
            cursor = connection.connection.cursor()
            cursor.execute(RAW_SQL, params)  # warm-up
            for _ in range(rounds):
                t0 = time.perf_counter()
                cursor.execute(RAW_SQL, params)
                raw = cursor.fetchall()
                raw_s.append(time.perf_counter() - t0)
    assert answer is not None and raw is not None
    ours = {c["cell"]: (c["trips"], c["co2_g"], c["distance_m"]) for c in answer
            if not c["suppressed"]}  # fmt: skip
    theirs = {c8: (int(n), int(g), int(d)) for c8, n, g, d in raw}
    same = ours == theirs
    print(f"planner map on PostgreSQL: {total:,} trips of {riders:,} riders over 30 days of "
          f"{month}; {len(all_cells):,} start atoms, {len(all_flows):,} flow atoms; "
          f"loaded in {loaded_s:.0f} s; {len(ours):,} resolution-8 cells for {MODE}; answers "
          f"{'equal' if same else 'DIFFER'}")  # fmt: skip
    best, base = min(map_s) * 1000, min(raw_s) * 1000
    rows = [
        {"name": "map_res8_month_one_mode_ms", "value": best, "unit": "ms", "baseline": base,
         "ratio": best / base, "target": bound("<", TARGET_MS), "met": best < TARGET_MS},
        {"name": "map_median_ms", "value": statistics.median(map_s) * 1000, "unit": "ms",
         "baseline": statistics.median(raw_s) * 1000,
         "ratio": statistics.median(map_s) / statistics.median(raw_s), "target": None,
         "met": None},
        {"name": "raw_sql_over_map", "value": base / best, "unit": "x", "baseline": None,
         "ratio": None, "target": bound(">=", TARGET_TIMES), "met": base / best >= TARGET_TIMES},
        {"name": "answers_equal", "value": float(same), "unit": "bool", "baseline": None,
         "ratio": None, "target": bound("==", 1), "met": same},
    ]  # fmt: skip
    report("aggregates_pg", rows)
    print("(baseline = the same map from raw trips in SQL, in the same run)")
    return rows


def _cell_map_table(session: Session) -> Table:
    """A lookup of each trip start cell's resolution-9 and -8 parents, for the raw SQL (plain
    SQL cannot compute H3 parents)."""
    table = Table("bench_cells", MetaData(), Column("cell", String(16), primary_key=True),
                  Column("c9", String(16)), Column("c8", String(16)))  # fmt: skip
    table.create(session.connection())
    return table


def _load(db: Database, batch: list[dict], all_cells: dict, all_flows: dict) -> int:
    """COPY a batch of trips in, and count it into the roll-ups being built."""
    if not batch:
        return 0
    with db.transaction() as session:
        bulk.insert_rows(session, Trip.__table__, batch)
    found_cells, found_flows = trip_atoms(batch, SHANGHAI)
    for key, totals in found_cells.items():
        all_cells.setdefault(key, CellTotals()).add(totals)
    for key, totals in found_flows.items():
        all_flows.setdefault(key, FlowTotals()).add(totals)
    return len(batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trips", type=int, default=TRIPS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    run_from_command_line(run, parser)


if __name__ == "__main__":
    main()
