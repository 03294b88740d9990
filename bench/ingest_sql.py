"""What a single-trip ``POST /v1/trips`` costs against the SQL it sends, in one process.

The service answers ``--requests`` one-trip requests (through the app, in process, on
PostgreSQL, all validation on) while every statement psycopg is asked to run is recorded. The
same statements, with the same parameters, are then replayed on bare psycopg, one transaction
per request, into a copy of the database as it was before the requests: once one statement at
a time, once each request's statements in one pipeline (a lower bound: the service needs some
answers before it can write). The difference is what the request costs above its SQL (Flask,
SQLAlchemy, judging, the answer). Each side reports this process's CPU, PostgreSQL's CPU and
the wall clock per request, and checks that every trip ended credited.

    python -m bench.ingest_sql [--requests 300]
    # TEST_POSTGRES_URL, else PostgreSQL on 127.0.0.1
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import tempfile
import unittest.mock
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from bench.cpu import Meter, Spent
from bench.database import database_copy, libpq, postgres_admin_url
from bench.report import BenchError, report, run_from_command_line
from bench.riders import POINTS_PER_TRIP, Trips, prepare

WARM_REQUESTS = 50
Statement = tuple[str, Any, Any]  # ("execute" | "executemany" | "commit", query, params)


@contextlib.contextmanager
def _settled_collector() -> Iterator[None]:
    """The garbage collector as ``greenpoints serve`` sets it, for this phase only (the other
    benchmarks of a ``python -m bench`` run share this process)."""
    from service.serve import settle_garbage_collector

    thresholds = gc.get_threshold()
    settle_garbage_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@contextlib.contextmanager
def _recording(into: list[list[Statement]]) -> Iterator[None]:
    """Record what psycopg runs (and each commit) into ``into[-1]``."""
    execute, executemany, commit = (psycopg.Cursor.execute, psycopg.Cursor.executemany,
                                    psycopg.Connection.commit)  # fmt: skip

    def text(cursor: psycopg.Cursor, query: Any) -> Any:
        return query.as_string(cursor) if hasattr(query, "as_string") else query

    def recorded_execute(self: psycopg.Cursor, query: Any, params: Any = None, **kw: Any) -> Any:
        into[-1].append(("execute", text(self, query), params))
        return execute(self, query, params, **kw)

    def recorded_executemany(self: psycopg.Cursor, query: Any, seq: Any, **kw: Any) -> Any:
        seq = list(seq)
        into[-1].append(("executemany", text(self, query), seq))
        return executemany(self, query, seq, **kw)

    def recorded_commit(self: psycopg.Connection) -> None:
        into[-1].append(("commit", None, None))
        commit(self)

    with (
        unittest.mock.patch.object(psycopg.Cursor, "execute", recorded_execute),
        unittest.mock.patch.object(psycopg.Cursor, "executemany", recorded_executemany),
        unittest.mock.patch.object(psycopg.Connection, "commit", recorded_commit),
    ):
        yield


def _replay(url: str, requests: list[list[Statement]], *, pipeline: bool) -> tuple[Spent, int]:
    """Each request's statements as one transaction; the cost (this process's CPU, PostgreSQL's
    and the wall clock, per request) and the trips credited."""
    with psycopg.connect(libpq(url)) as conn:
        cursor = conn.cursor()
        with Meter() as meter:
            for statements in requests:
                with conn.pipeline() if pipeline else contextlib.nullcontext():
                    for kind, query, params in statements:
                        if kind == "execute":
                            cursor.execute(query, params)
                        elif kind == "executemany":
                            cursor.executemany(query, params)
                        else:
                            conn.commit()
                conn.commit()
        cursor.execute("SELECT count(*) FROM trips WHERE status = 'credited' "
                       "AND operator_trip_id LIKE 's-%%' AND points = %s",
                       (POINTS_PER_TRIP,))  # fmt: skip
        credited = cursor.fetchone()[0]
    return meter.spent.per(len(requests)), credited


def run(*, requests: int = 300) -> list[dict]:
    """The figures, after printing them and writing ``bench/results/ingest_sql.json``."""
    from tests.servers import fresh_postgres_database

    admin_url = postgres_admin_url()
    with tempfile.TemporaryDirectory() as workdir, fresh_postgres_database(admin_url) as url:
        prepared = prepare(url, Path(workdir), max(WARM_REQUESTS + requests, 100))
        from service.app import create_app
        from service.container import build_services
        from service.settings import Settings

        trips = Trips(prepared.refs)
        headers = {"Authorization": f"Bearer {prepared.token}",
                   "Content-Type": "application/json"}  # fmt: skip
        with database_copy(admin_url, url) as before:
            services = build_services(Settings.from_env(prepared.env))
            client = create_app(services=services).test_client()
            for body in trips.bodies(WARM_REQUESTS, 1, "w"):
                client.post("/v1/trips", data=body, headers=headers)
            recorded: list[list[Statement]] = []
            answers = []
            with _settled_collector(), _recording(recorded), Meter() as service_meter:
                for body in trips.bodies(requests, 1, "s"):
                    recorded.append([])
                    answers.append(client.post("/v1/trips", data=body, headers=headers))
            services.db.dispose()
            service = service_meter.spent.per(requests)
            credited = sum(b'"status":"credited"' in a.data for a in answers)
            if credited != requests:
                raise BenchError(f"the service credited {credited} of {requests} trips")
            replays = {}
            for pipeline in (False, True):
                with database_copy(admin_url, before) as replay_url:
                    replays[pipeline] = _replay(replay_url, recorded, pipeline=pipeline)
    for _, replayed in replays.values():
        if replayed != requests:
            raise BenchError(f"a replay credited {replayed} of {requests} trips")
    statements = sum(len(r) for r in recorded) / requests
    sequential, piped = replays[False][0], replays[True][0]
    print(f"{requests} one-trip requests, {statements:.1f} statements and commits each")
    rows = []
    for name, cost in (("service", service), ("sql", sequential), ("sql_pipelined", piped)):
        for measure, value, base in (("cpu", cost.client, service.client),
                                     ("cpu_postgres", cost.postgres, service.postgres),
                                     ("wall", cost.wall, service.wall)):  # fmt: skip
            rows.append({"name": f"ingest_single_{name}_{measure}", "value": round(value, 2),
                         "unit": "ms/request",
                         "baseline": None if name == "service" else round(base, 2),
                         "ratio": None if name == "service" else round(value / base, 3),
                         "target": None, "met": None})  # fmt: skip
    report("ingest_sql", rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    run_from_command_line(run, parser)


if __name__ == "__main__":
    main()
