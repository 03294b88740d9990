"""The riders' neighbouring trips (the overlap and teleport checks), read for a batch arriving
in real time, on PostgreSQL: does the read grow with how long riders have been riding?

Two fresh migrated databases, each with ``--riders`` riders. In one, every rider has
``--history`` credited trips, one a day going back from yesterday; in the other (the
baseline), one. A batch of trips that ended within the last hour then asks for its riders'
neighbours, 900 riders at a time (the service's own ``store.send_neighbours``, as a batch of
that many sends it), best and median of ``--rounds`` after a warm-up. The two databases take
turns within each round, so a slow spell of the machine falls on both sides, not on whichever
was being timed then. The ratio is what the history adds; target: at most 4x. A read that
walks each rider's earlier trips grows with the history (about 6x at 365 days here); one that
reads only the trips that ended after the batch began grows only with the index's depth (the
trips table is 365 times larger: about 2.5x).

    python -m bench.neighbours_pg [--riders 1000] [--history 365] [--rounds 15]
    # TEST_POSTGRES_URL, else PostgreSQL on 127.0.0.1
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import time
from typing import Any

from bench.database import analyze, migrated_postgres
from bench.report import BenchError, report, run_from_command_line
from service.ingest.store import IN_LIST_CHUNK as LOOKUP_RIDERS  # one statement's worth

RIDERS = 1_000
HISTORY_DAYS = 365
ROUNDS = 15
TARGET_RATIO = 4.0


def _account(rider: int) -> str:
    return f"acc_bench_{rider:06d}"


def _load(svc: Any, riders: int, days: int, now: dt.datetime) -> None:
    """``riders`` accounts, each with ``days`` credited trips ending one a day before today."""
    from service.persistence import bulk
    from service.persistence.ledger_models import Account
    from service.persistence.rider_models import Trip

    accounts = [{"id": _account(r), "kind": "personal", "created_at": now, "pending": 0,
                 "available": 0, "held": 0} for r in range(riders)]  # fmt: skip
    trips = []
    for rider in range(riders):
        for day in range(1, days + 1):
            ended = now - dt.timedelta(days=day, minutes=rider % 600)
            trips.append({
                "uid": f"trp_bench_{rider:06d}_{day:05d}", "operator_id": "bench",
                "operator_trip_id": f"{rider}-{day}", "account_id": _account(rider),
                "mode": "bike", "started_at": ended - dt.timedelta(minutes=12),
                "ended_at": ended, "status": "credited", "reasons": [], "co2_g": 230,
                "points": 230, "pollutants_mg": {}, "created_at": ended,
                "methodology_id": "sh-cycling-2025", "methodology_version": 1,
                "start_lng": 121.48, "start_lat": 31.24, "end_lng": 121.474, "end_lat": 31.23,
            })  # fmt: skip
    with svc.db.transaction() as session:
        bulk.insert_rows(session, Account.__table__, accounts)
        bulk.insert_rows(session, Trip.__table__, trips)
    analyze(svc.settings.database_url)


def _batch(riders: int, now: dt.datetime) -> list[tuple[str, Any]]:
    """Trips of the first ``riders`` riders, each ended within the last hour, with the account
    each would be credited to: what settling a batch sends ``store.send_neighbours``."""
    from service.ingest.contract import LatLng, TripIn
    from service.ingest.evaluate import Candidate, trip_uid

    here = LatLng(lat=31.24, lng=121.48)
    trips = [
        TripIn(trip_id=f"new-{rider}", mode="bike", rider_ref=f"r{rider}",
               start_time=now - dt.timedelta(minutes=15 + rider % 45),
               end_time=now - dt.timedelta(minutes=3 + rider % 45), start=here, end=here)
        for rider in range(riders)
    ]  # fmt: skip
    return [(_account(rider), Candidate(rider, trip, "", trip_uid("bench", trip.trip_id)))
            for rider, trip in enumerate(trips)]  # fmt: skip


def _read_seconds(svc: Any, batch: list[tuple[str, Any]]) -> tuple[float, int]:
    """Seconds for one read of the batch's riders' neighbours, and how many it found."""
    from service.ingest import store

    started = time.perf_counter()
    with svc.db.reading() as session:
        spans = store.send_neighbours(session, batch)()
    return time.perf_counter() - started, sum(len(s) for s in spans.values())


def _alternating_seconds(
    databases: dict[int, Any], batch: list[tuple[str, Any]], rounds: int
) -> tuple[dict[int, list[float]], dict[int, int]]:
    """Seconds per read on each database, the databases taking turns within every round, and
    the neighbours each found; the first round warms the caches and the plans."""
    seconds: dict[int, list[float]] = {days: [] for days in databases}
    found: dict[int, int] = {}
    for round_ in range(rounds + 1):
        for days, svc in databases.items():
            took, found[days] = _read_seconds(svc, batch)
            if round_:
                seconds[days].append(took)
    return seconds, found


def run(
    *, riders: int = RIDERS, history: int = HISTORY_DAYS, rounds: int = ROUNDS
) -> list[dict[str, object]]:
    """The figures, after printing them and writing ``bench/results/neighbours_pg.json``."""
    if riders < LOOKUP_RIDERS:
        raise BenchError(f"--riders must be at least {LOOKUP_RIDERS}")
    if history < 2:
        raise BenchError("--history must be at least 2 (the baseline has one past trip)")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    batch = _batch(LOOKUP_RIDERS, now)
    with contextlib.ExitStack() as stack:
        databases = {}
        for days in (history, 1):
            databases[days] = svc = stack.enter_context(migrated_postgres())
            started = time.perf_counter()
            _load(svc, riders, days, now)
            print(f"{riders:,} riders x {days} past trips loaded in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        timings, found = _alternating_seconds(databases, batch, rounds)
    print(f"the batch's {LOOKUP_RIDERS} riders have {found[history]} and {found[1]} "
          f"neighbouring trips")  # fmt: skip
    if any(found.values()):
        raise BenchError("past trips fell inside the batch's window; nothing to compare")
    rows = []
    for name, pick in (("best", min), ("median", statistics.median)):
        value, base = pick(timings[history]) * 1000, pick(timings[1]) * 1000
        ratio = value / base
        rows.append({
            "name": f"neighbours_{LOOKUP_RIDERS}_riders_{history}_days_{name}", "value": value,
            "unit": "ms", "baseline": base, "ratio": ratio,
            "target": f"<= {TARGET_RATIO} x baseline", "met": ratio <= TARGET_RATIO,
        })  # fmt: skip
    report("neighbours_pg", rows)
    print("(baseline = the same read where every rider has one past trip; ratio = value / "
          "baseline)")  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--riders", type=int, default=RIDERS)
    parser.add_argument("--history", type=int, default=HISTORY_DAYS,
                        help="past trips per rider, one a day")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    run_from_command_line(run, parser)


if __name__ == "__main__":
    main()
