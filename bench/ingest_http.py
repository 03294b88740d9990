"""``POST /v1/trips`` end to end on PostgreSQL, against a raw-database floor in the same run.

The service runs as ``greenpoints serve`` (gunicorn, 2 workers x 4 threads) on 127.0.0.1 with
all validation on: the city's zones are loaded, every rider has an account and a consent, and
every trip is distinct and plausible, so each is credited 230 points. After a warm-up the
database is analyzed, as autovacuum keeps a live one (``bench.database.analyze``). Two phases:

- batches: ``--rounds`` timed rounds of ``--batches`` requests of 1000 trips from
  ``--concurrency`` client threads; trips/s of the best round (the median is printed too).
  Targets: >= 10,000 trips/s, and >= 50 % of the floor's best round.
- single trips: one trip a request, sent open-loop at ``--rate`` a second for
  ``--single-seconds``; each latency counts from the moment the request was due (so a stalled
  server is not hidden by a waiting client). Target: p99 < 20 ms.

The floor: the same trip and ledger rows (exported from the service's database after the run)
loaded into a fresh database migrated the same way with binary ``COPY`` (the format the
service writes them in) and one set-based balance update, in one transaction, commit included
(the statement trigger that checks each ledger transaction sums to zero runs after the
entries' COPY). No HTTP, no validation. Best of ``--floor-rounds``, each into its own copy of
the migrated database.

Each batch round also reports how the client's kept-alive connections fell across the two
workers (``bench.connections``): all four on one worker caps a round whatever the code does.

With ``--statements`` (``pg_stat_statements`` loaded: ``bench.statements``), both phases also
report PostgreSQL's execution and planning time statement by statement: per batch, and per
single-trip request.

Both phases and the floor also report the CPU they cost, read from ``/proc`` (``bench.cpu``): the
workers', PostgreSQL's and this client's, per 1000 trips or per request. On a shared 2-core
machine the rounds' wall clock swings; the CPU says which side to make cheaper.

A run in which any trip is not credited does not count: the reasons are printed and the
process exits non-zero.

    python -m bench.ingest_http [--rounds 3] [--batches 10] [--concurrency 4]
                                [--single-seconds 10] [--profile /tmp/ingest.raw]
                                [--statements]
    # TEST_POSTGRES_URL, else PostgreSQL on 127.0.0.1
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import dataclasses
import gc
import http.client
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from bench import connections
from bench.cpu import Meter, Spent
from bench.database import analyze, database_copy, libpq, postgres_admin_url
from bench.http_load import gunicorn
from bench.report import BenchError, report, run_from_command_line
from bench.riders import POINTS_PER_TRIP, Trips, prepare
from bench.statements import StatementTime, print_statement_times, statement_times
from tests.servers import free_port, wait_for_port

BATCH = 1000
TARGET_TRIPS_PER_S = 10_000
TARGET_FLOOR_RATIO = 0.5
TARGET_P99_MS = 20.0
BACKLOG_LIMIT_S = 20.0
ACCOUNT_COLUMNS = ("id", "kind", "created_at", "pending", "available", "held")


# -- the server and the client ---------------------------------------------------------------


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


class Client:
    """One keep-alive HTTP/1.1 connection to the service (one per client thread)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.connection: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        sock = self.connection.sock if self.connection else None
        # The server closes idle connections; a readable idle socket is one it closed.
        if sock is None or select.select([sock], [], [], 0)[0]:
            if self.connection:
                self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.connection.connect()
        return self.connection

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        connection = self._connection()
        connection.request("POST", path, body=body, headers=self.headers)
        answer = connection.getresponse()
        return answer.status, answer.read()

    def get(self, path: str) -> tuple[int, bytes]:
        connection = self._connection()
        connection.request("GET", path, headers=self.headers)
        answer = connection.getresponse()
        return answer.status, answer.read()

    def close(self) -> None:
        if self.connection:
            self.connection.close()


class Clients:
    """A ``Client`` per thread, closed together."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.local = threading.local()
        self.all: list[Client] = []
        self.lock = threading.Lock()

    def mine(self) -> Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = Client(self.port, self.token)
            with self.lock:
                self.all.append(client)
        return client

    def close(self) -> None:
        for client in self.all:
            client.close()


def _until_healthy(port: int, timeout_s: float = 60) -> None:
    client = Client(port, "-")
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                if client.get("/health")[0] == 200:
                    return
            client.close()
            client.connection = None
            time.sleep(0.2)
    finally:
        client.close()
    raise TimeoutError("the service did not answer /health")


def _send_all(port: int, token: str, bodies: list[bytes], concurrency: int) -> list[tuple]:
    """Post every body from ``concurrency`` threads: [(status, answer, seconds)] in order."""
    clients = Clients(port, token)

    def post(body: bytes) -> tuple:
        started = time.perf_counter()
        status, answer = clients.mine().post("/v1/trips", body)
        return status, answer, time.perf_counter() - started

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(post, bodies))
    finally:
        clients.close()


def _open_loop(port: int, token: str, bodies: list[bytes], rate: float,
               threads: int) -> tuple[list[tuple], list[float], float]:  # fmt: skip
    """Send ``bodies`` at ``rate`` a second whatever the answers' pace; each latency runs from
    the moment its request was due. Requests still waiting for a client thread
    ``BACKLOG_LIMIT_S`` after the last one was due are not sent (their latency counts as the
    time they waited). Returns the answers, latencies (s) and the rate answered."""
    clients = Clients(port, token)
    answers: list[tuple] = [(None, b"not sent: the client's backlog timed out")] * len(bodies)
    latencies = [0.0] * len(bodies)

    def send(i: int, due: float) -> None:
        answers[i] = clients.mine().post("/v1/trips", bodies[i])
        latencies[i] = time.perf_counter() - due

    try:
        with ThreadPoolExecutor(threads) as pool:
            # Open every thread's connection before the clock starts.
            barrier = threading.Barrier(threads, timeout=30)

            def connect() -> None:
                clients.mine().get("/health")
                barrier.wait()

            for opened in [pool.submit(connect) for _ in range(threads)]:
                opened.result(timeout=60)
            start = time.perf_counter()
            futures, dues = [], []
            for i in range(len(bodies)):
                due = start + i / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                futures.append(pool.submit(send, i, due))
                dues.append(due)
            deadline = start + len(bodies) / rate + BACKLOG_LIMIT_S
            concurrent.futures.wait(futures, timeout=max(0.0, deadline - time.perf_counter()))
            for i, future in enumerate(futures):
                if future.cancel():
                    latencies[i] = time.perf_counter() - dues[i]
            for future in futures:
                if not future.cancelled():
                    future.result(timeout=120)
            elapsed = time.perf_counter() - start
    finally:
        clients.close()
    answered = sum(1 for status, _ in answers if status is not None)
    return answers, latencies, answered / elapsed


@contextlib.contextmanager
def _client_garbage_settled() -> Iterator[None]:
    """This client's garbage collected, and what survives frozen, for the latency phase. The
    batch rounds leave their bodies and answers behind, and a full collection over them took
    100-120 ms here; falling inside the phase, it held up every request then in flight (all
    of them answered 102-145 ms late within 0.1 s). The service's workers do the same at start
    (``greenpoints serve``)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _check(answers: list[tuple], expected: int) -> tuple[int, collections.Counter]:
    """How many trips were credited with 230 points, and a count of everything else."""
    credited, other = 0, collections.Counter()
    for status, body, *_ in answers:
        if status is None:
            other[body.decode()] += 1
            continue
        if status != 200:
            other[f"HTTP {status}: {body[:200]!r}"] += 1
            continue
        answer = orjson.loads(body)
        for failure in answer["failures"]:
            other[f"failure {failure['error']} ({failure['field']})"] += 1
        for result in answer["results"]:
            if result["status"] == "credited" and result["points"] == POINTS_PER_TRIP:
                credited += 1
            else:
                why = ",".join(result["reasons"]) or "-"
                other[f"{result['status']} {result['points']} points ({why})"] += 1
    if credited + sum(other.values()) != expected:
        other[f"answers for {credited + sum(other.values())} of {expected} trips"] += 1
    return credited, other


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- profiling -------------------------------------------------------------------------------


@contextlib.contextmanager
def _profiled(pid: int, output: str | None, seconds: int = 600) -> Iterator[None]:
    """Around a phase: py-spy samples the process ``pid`` into ``output`` (raw), if given."""
    if output is None:
        yield
        return
    py_spy = Path(sys.executable).parent / "py-spy"
    command = [str(py_spy), "record", "-p", str(pid), "-d", str(seconds), "-f", "raw",
               "-o", output, "--nonblocking"]  # fmt: skip
    profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1)  # py-spy attaches
        yield
    finally:
        _stop_profiler(profiler)


def _statement_times(
    wanted: bool, url: str, units: int
) -> contextlib.AbstractContextManager[list[StatementTime]]:
    """Around a phase: PostgreSQL's time by statement per ``units`` (``bench.statements``)
    when ``--statements`` asks for it, else an empty list."""
    return statement_times(libpq(url), units) if wanted else contextlib.nullcontext([])


def _stop_profiler(profiler: subprocess.Popen) -> None:
    if profiler.poll() is None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
    try:
        profiler.wait(timeout=30)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait(timeout=10)


def _summarise_profile(path: str, top: int = 25) -> None:
    """Top functions by inclusive samples (each counted once per stack), from py-spy raw."""
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    with contextlib.suppress(FileNotFoundError), open(path) as lines:
        for line in lines:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = stack.split(";")
            total += count
            for frame in set(frames):
                inclusive[frame] += count
            own[frames[-1]] += count
    if not total:
        print(f"no profile samples in {path}")
        return
    print(f"\nprofile of one worker: {total} samples ({path}); top inclusive:")
    for frame, count in inclusive.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")
    print("top own (leaf) time:")
    for frame, count in own.most_common(12):
        print(f"  {100 * count / total:5.1f}%  {frame}")


# -- the floor -------------------------------------------------------------------------------


def _columns(table: str) -> list[str]:
    from service.persistence.ledger_models import LedgerEntry, LedgerTransaction
    from service.persistence.rider_models import Trip

    model = {"trips": Trip, "ledger_transactions": LedgerTransaction,
             "ledger_entries": LedgerEntry}[table]  # fmt: skip
    return [c.name for c in model.__table__.columns if not (table == "ledger_entries"
                                                            and c.name == "id")]  # fmt: skip


def _export(service_url: str, prefix: str) -> dict[str, bytes]:
    """The accounts, and the trip and ledger rows the service wrote for the trips whose ids
    start with ``prefix``, in COPY's binary format (the accounts, loaded once into the
    template and not timed, as text)."""
    import psycopg
    from psycopg import sql

    def select(table: str, where: str) -> sql.Composed:
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in _columns(table))
        head = sql.SQL("SELECT {} FROM {} WHERE ").format(columns, sql.Identifier(table))
        return head + sql.SQL(where)

    transactions = (
        "SELECT id FROM ledger_transactions WHERE trip_uid IN "
        "(SELECT uid FROM trips WHERE operator_trip_id LIKE %(prefix)s)"
    )
    queries = {
        "accounts": sql.SQL(
            "SELECT id, kind, created_at, 0, 0, 0 FROM accounts WHERE kind = 'personal'"
        ),
        "trips": select("trips", "operator_trip_id LIKE %(prefix)s"),
        "ledger_transactions": select("ledger_transactions", f"id IN ({transactions})"),
        "ledger_entries": select(
            "ledger_entries", f"transaction_id IN ({transactions}) ORDER BY id"
        ),
    }
    exported = {}
    with psycopg.connect(libpq(service_url)) as connection, connection.cursor() as cursor:
        for table, query in queries.items():
            binary = sql.SQL("") if table == "accounts" else sql.SQL(" (FORMAT BINARY)")
            statement = sql.SQL("COPY ({}) TO STDOUT{}").format(query, binary)
            chunks = []
            params = None if table == "accounts" else {"prefix": f"{prefix}-%"}
            with cursor.copy(statement, params) as copy:
                for chunk in copy:
                    chunks.append(bytes(chunk))
            exported[table] = b"".join(chunks)
    return exported


def _floor_round(url: str, rows: dict[str, bytes]) -> tuple[dict[str, float], int, Spent]:
    """Seconds of each step (COPY each table, update the balances in one statement, commit),
    the riders' pending points afterwards, and the CPU the steps cost (PostgreSQL's is the
    floor's; this process only sends bytes)."""
    import psycopg

    update = (
        "UPDATE accounts SET pending = accounts.pending + s.total "
        "FROM (SELECT account_id, sum(amount) AS total FROM ledger_entries "
        "WHERE bucket = 'pending' AND account_id <> 'sys:issuance' GROUP BY account_id) s "
        "WHERE accounts.id = s.account_id"
    )
    with psycopg.connect(libpq(url)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        connection.commit()
        steps: dict[str, float] = {}
        with Meter() as meter:
            mark = time.perf_counter()

            def step(name: str) -> None:
                nonlocal mark
                steps[name], mark = time.perf_counter() - mark, time.perf_counter()

            with connection.cursor() as cursor:
                for table in ("trips", "ledger_transactions", "ledger_entries"):
                    columns = ", ".join(_columns(table))
                    copying = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
                    with cursor.copy(copying) as copy:
                        copy.write(rows[table])
                    step(f"copy {table}")
                cursor.execute(update)
                step("update accounts")
            connection.commit()
            step("commit")
        with connection.cursor() as cursor:
            cursor.execute("SELECT sum(pending) FROM accounts WHERE kind = 'personal'")
            pending = cursor.fetchone()[0]
    return steps, pending, meter.spent


def _floor(
    admin_url: str, rows: dict[str, bytes], trips: int, rounds: int
) -> list[tuple[dict[str, float], Spent]]:
    """The steps' seconds and the CPU of each floor round, each into its own copy of a freshly
    migrated database."""
    import psycopg

    from service.persistence import migrate
    from tests.servers import fresh_postgres_database

    timings = []
    with fresh_postgres_database(admin_url) as template_url:
        migrate.upgrade(template_url)
        accounts = f"COPY accounts ({', '.join(ACCOUNT_COLUMNS)}) FROM STDIN"
        with (
            psycopg.connect(libpq(template_url)) as connection,
            connection.cursor() as cursor,
            cursor.copy(accounts) as copy,
        ):
            copy.write(rows["accounts"])
        for _ in range(rounds):
            with database_copy(admin_url, template_url) as url:
                steps, pending, spent = _floor_round(url, rows)
                if pending != trips * POINTS_PER_TRIP:
                    raise RuntimeError(f"floor credited {pending} points, not {trips * 230}")
                timings.append((steps, spent))
    return timings


# -- the run ---------------------------------------------------------------------------------


def _database_totals(url: str) -> tuple[int, int, int]:
    import psycopg

    with psycopg.connect(libpq(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*), coalesce(sum(points), 0) FROM trips "
                       "WHERE status = 'credited'")  # fmt: skip
        count, points = cursor.fetchone()
        cursor.execute("SELECT coalesce(sum(pending), 0) FROM accounts WHERE kind = 'personal'")
        pending = cursor.fetchone()[0]
    return count, points, pending


@dataclasses.dataclass(frozen=True)
class Options:
    """How much to send, and how."""

    batches: int = 10
    rounds: int = 3
    concurrency: int = 4
    single_seconds: float = 10
    rate: float = 200
    riders: int = 2000
    floor_rounds: int = 3
    profile: str | None = None
    statements: bool = False
    profile_singles: str | None = None


def run(
    *,
    batches: int = Options.batches,
    rounds: int = Options.rounds,
    concurrency: int = Options.concurrency,
    single_seconds: float = Options.single_seconds,
    rate: float = Options.rate,
    riders: int = Options.riders,
    floor_rounds: int = Options.floor_rounds,
    profile: str | None = None,
    statements: bool = False,
    profile_singles: str | None = None,
) -> list[dict]:
    """The figures, after printing them and writing ``bench/results/ingest_http.json``; a
    ``BenchError`` after that if any trip was not credited (the run does not count)."""
    args = Options(batches, rounds, concurrency, single_seconds, rate, riders, floor_rounds,
                   profile, statements, profile_singles)  # fmt: skip
    admin_url = postgres_admin_url()
    from tests.servers import fresh_postgres_database

    workdir = Path(tempfile.mkdtemp(prefix="gp-bench-"))
    server: subprocess.Popen | None = None
    problems: collections.Counter = collections.Counter()
    try:
        with fresh_postgres_database(admin_url) as service_url:
            started = time.perf_counter()
            prepared = prepare(service_url, workdir, args.riders)
            env, token, refs = prepared.env, prepared.token, prepared.refs
            print(f"prepared {len(refs)} riders in {time.perf_counter() - started:.1f} s")
            trips = Trips(refs)
            warm_batches = trips.bodies(2 * args.concurrency, BATCH, "w")
            warm_singles = trips.bodies(200, 1, "ws")
            round_bodies = [trips.bodies(args.batches, BATCH, "b") for _ in range(args.rounds)]
            singles = trips.bodies(int(args.single_seconds * args.rate), 1, "s")

            port = free_port()
            server = gunicorn("greenpoints", port, 2, 4, env)
            wait_for_port(port, timeout_s=60)
            _until_healthy(port)
            warm = _send_all(port, token, warm_batches, args.concurrency)
            warm += _send_all(port, token, warm_singles, 8)
            _, warm_problems = _check(warm, len(warm_batches) * BATCH + len(warm_singles))
            problems.update(warm_problems)
            analyze(service_url)  # the warm-up's trips and ledger rows counted, as in service

            answers, round_rates, round_spreads = [], [], []
            workers = _workers(server.pid)
            by_statement = _statement_times(args.statements, service_url,
                                            args.rounds * args.batches)  # fmt: skip
            with (
                _profiled(workers[0], args.profile),
                by_statement as per_statement,
                Meter(workers) as batch_meter,
            ):
                for batches in round_bodies:
                    started = time.perf_counter()
                    with connections.spread(port, workers, args.concurrency) as held:
                        answers += _send_all(port, token, batches, args.concurrency)
                    round_rates.append(args.batches * BATCH / (time.perf_counter() - started))
                    round_spreads.append(held)
            batch_credited, batch_problems = _check(answers, args.rounds * args.batches * BATCH)
            problems.update(batch_problems)
            # Each side's best round: the machine's slow spells only ever lower a round.
            trips_per_s = max(round_rates)
            seconds = [answer[2] for answer in answers]
            quarter = max(1, len(seconds) // 4)

            by_single_statement = _statement_times(args.statements, service_url, len(singles))
            with (
                _profiled(workers[0], args.profile_singles),
                by_single_statement as per_single_statement,
                _client_garbage_settled(),
                Meter(workers) as single_meter,
            ):
                single_answers, latencies, achieved = _open_loop(
                    port, token, singles, args.rate, threads=16
                )
            single_credited, single_problems = _check(single_answers, len(singles))
            problems.update(single_problems)

            server.terminate()
            server.wait(timeout=30)
            server = None
            count, points, pending = _database_totals(service_url)
            expected = trips.count
            if count != expected or not points == pending == expected * POINTS_PER_TRIP:
                problems[f"database: {count} credited trips, {points} points, {pending} "
                         f"pending; expected {expected} and {expected * 230}"] += 1  # fmt: skip
            rows = _export(service_url, "b")
        floor_runs = _floor(admin_url, rows, args.rounds * args.batches * BATCH, args.floor_rounds)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"batch rounds of {args.batches} x {BATCH} trips from {args.concurrency} threads: "
          f"{', '.join(f'{v:.0f}' for v in round_rates)} trips/s; {batch_credited} credited; "
          "a request took "
          f"{statistics.median(seconds[:quarter]):.2f} s (median of the first quarter), "
          f"{statistics.median(seconds[-quarter:]):.2f} s (of the last)")  # fmt: skip
    print(
        "the client's connections by worker in each round: "
        + ", ".join("+".join(map(str, held)) or "?" for held in round_spreads)
    )
    floor_steps = [steps for steps, _ in floor_runs]
    floor = [args.rounds * args.batches * BATCH / sum(steps.values()) for steps in floor_steps]
    best_steps = floor_steps[floor.index(max(floor))]
    print(
        f"floor rounds: {', '.join(f'{v:.0f}' for v in floor)} trips/s; the best one: "
        + ", ".join(f"{name} {1000 * seconds:.0f} ms" for name, seconds in best_steps.items())
    )
    print(
        "floor rows (binary COPY; the accounts' as text): "
        + ", ".join(f"{table} {len(data) / 1e6:.1f} MB" for table, data in rows.items())
    )
    print(f"single trips: {len(singles)} due at {args.rate:.0f}/s, answered {achieved:.0f}/s; "
          f"{single_credited} credited")  # fmt: skip
    batch_cpu = batch_meter.spent.per(args.rounds * args.batches * BATCH / 1000)
    single_cpu = single_meter.spent.per(len(singles))
    floor_cpu = statistics.median(
        spent.postgres * 1000 / (args.rounds * args.batches) for _, spent in floor_runs
    )
    print(f"CPU per 1000 trips in batches: workers {batch_cpu.workers:.0f} ms, PostgreSQL "
          f"{batch_cpu.postgres:.0f} ms, the client {batch_cpu.client:.0f} ms; the floor: "
          f"PostgreSQL {floor_cpu:.0f} ms (median of its rounds)")  # fmt: skip
    print(f"CPU per single-trip request: workers {single_cpu.workers:.2f} ms, PostgreSQL "
          f"{single_cpu.postgres:.2f} ms, the client {single_cpu.client:.2f} ms")  # fmt: skip
    if problems:
        print("NOT COUNTED: some trips were not credited:")
        for what, times in problems.most_common(20):
            print(f"  {times:6d}  {what}")
    if per_statement:
        print_statement_times(per_statement, f"batch of {BATCH} trips")
    if per_single_statement:
        print_statement_times(per_single_statement, "single-trip request")
    if args.profile:
        _summarise_profile(args.profile)

    valid = not problems
    best_floor = max(floor)
    ratio = trips_per_s / best_floor
    p50 = _percentile(latencies, 0.50) * 1000
    p99 = _percentile(latencies, 0.99) * 1000
    rows_out = [
        {"name": "ingest_batch_throughput_median",
         "value": round(statistics.median(round_rates), 1), "unit": "trips/s",
         "baseline": None, "ratio": None, "target": None, "met": None},
        {"name": "ingest_batch_throughput", "value": round(trips_per_s, 1), "unit": "trips/s",
         "baseline": None, "ratio": None, "target": f">= {TARGET_TRIPS_PER_S}",
         "met": valid and trips_per_s >= TARGET_TRIPS_PER_S},
        {"name": "ingest_floor_copy", "value": round(best_floor, 1), "unit": "trips/s",
         "baseline": None, "ratio": None, "target": None, "met": None},
        {"name": "ingest_floor_copy_median", "value": round(statistics.median(floor), 1),
         "unit": "trips/s", "baseline": None, "ratio": None, "target": None, "met": None},
        {"name": "ingest_batch_vs_floor", "value": round(trips_per_s, 1), "unit": "trips/s",
         "baseline": round(best_floor, 1), "ratio": round(ratio, 3),
         "target": f">= {TARGET_FLOOR_RATIO} x baseline",
         "met": valid and ratio >= TARGET_FLOOR_RATIO},
        {"name": "ingest_batch_cpu_workers", "value": round(batch_cpu.workers, 1),
         "unit": "ms/1000 trips", "baseline": None, "ratio": None, "target": None, "met": None},
        {"name": "ingest_batch_cpu_postgres", "value": round(batch_cpu.postgres, 1),
         "unit": "ms/1000 trips", "baseline": None, "ratio": None, "target": None, "met": None},
        {"name": "ingest_batch_cpu_vs_floor",
         "value": round(batch_cpu.workers + batch_cpu.postgres, 1), "unit": "ms/1000 trips",
         "baseline": round(floor_cpu, 1),
         "ratio": round((batch_cpu.workers + batch_cpu.postgres) / floor_cpu, 3),
         "target": None, "met": None},
        {"name": "ingest_single_cpu_workers", "value": round(single_cpu.workers, 2),
         "unit": "ms/request", "baseline": None, "ratio": None, "target": None, "met": None},
        {"name": "ingest_single_cpu_postgres", "value": round(single_cpu.postgres, 2),
         "unit": "ms/request", "baseline": None, "ratio": None, "target": None, "met": None},
        {"name": "ingest_single_p50", "value": round(p50, 2), "unit": "ms", "baseline": None,
         "ratio": None, "target": None, "met": None},
        {"name": "ingest_single_p99", "value": round(p99, 2), "unit": "ms", "baseline": None,
         "ratio": None, "target": f"< {TARGET_P99_MS:.0f} at {args.rate:.0f} requests/s",
         "met": valid and p99 < TARGET_P99_MS},
    ]  # fmt: skip
    report("ingest_http", rows_out)
    if not valid:
        raise BenchError("some trips were not credited: the run does not count")
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--batches", type=int, default=Options.batches, help="requests of 1000 trips a round"
    )
    parser.add_argument(
        "--rounds", type=int, default=Options.rounds, help="timed rounds of batches"
    )
    parser.add_argument(
        "--concurrency", type=int, default=Options.concurrency, help="client threads for batches"
    )
    parser.add_argument("--single-seconds", type=float, default=Options.single_seconds)
    parser.add_argument(
        "--rate", type=float, default=Options.rate, help="single-trip requests a second"
    )
    parser.add_argument("--riders", type=int, default=Options.riders)
    parser.add_argument("--floor-rounds", type=int, default=Options.floor_rounds)
    parser.add_argument("--profile", metavar="RAW", help="py-spy one worker during the batches")
    parser.add_argument(
        "--profile-singles", metavar="RAW", help="py-spy one worker during the single trips"
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="PostgreSQL's time by statement in both phases (bench/statements.py)",
    )
    run_from_command_line(run, parser)


if __name__ == "__main__":
    main()
