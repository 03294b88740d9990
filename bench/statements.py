"""PostgreSQL's own time per statement over a benchmark phase, from ``pg_stat_statements``.

The CPU figures (``bench.cpu``) say how much PostgreSQL spent; this says on what: each
statement's execution and planning time, per unit of work. Planning counts too: a lookup of a
thousand ids is planned for its values each time (``service.persistence.direct``), and with
``pg_stat_statements.track_planning`` on that shows here. Execution time is the backend's wall
clock inside the statement, so a statement that waits for a lock counts the wait.

The extension must be loaded when the server starts, which a benchmark cannot do for itself:

    ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';
    ALTER SYSTEM SET pg_stat_statements.track_planning = on;   -- optional
    -- restart PostgreSQL; ALTER SYSTEM RESET both, and restart, to undo
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from bench.report import BenchError

TOP = 15
QUERY_CHARS = 90


@dataclasses.dataclass(frozen=True)
class StatementTime:
    """One statement's share of a phase, per unit of work (milliseconds, calls)."""

    exec_ms: float
    plan_ms: float
    calls: float
    query: str


@contextlib.contextmanager
def statement_times(libpq_url: str, units: int) -> Iterator[list[StatementTime]]:
    """Around a phase: the yielded list ends up holding the database's ``TOP`` statements by
    time spent during the phase (other databases' statements are left out), per ``units``."""
    import psycopg

    found: list[StatementTime] = []
    with psycopg.connect(libpq_url, autocommit=True) as connection:
        preloaded = connection.execute("SHOW shared_preload_libraries").fetchone()[0]
        if "pg_stat_statements" not in preloaded:
            raise BenchError("pg_stat_statements is not loaded (see bench/statements.py)")
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        database = connection.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
        connection.execute("SELECT pg_stat_statements_reset(0, %s, 0)", (database,))
    yield found
    with psycopg.connect(libpq_url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT total_exec_time, total_plan_time, calls, query FROM pg_stat_statements "
            "WHERE dbid = %s ORDER BY total_exec_time + total_plan_time DESC LIMIT %s",
            (database, TOP),
        ).fetchall()
    for exec_ms, plan_ms, calls, query in rows:
        found.append(StatementTime(exec_ms / units, plan_ms / units, calls / units,
                                   " ".join(query.split())[:QUERY_CHARS]))  # fmt: skip


def print_statement_times(found: list[StatementTime], unit: str) -> None:
    print(f"PostgreSQL's time per {unit} by statement (ms executing, ms planning, calls):")
    for row in found:
        print(f"  {row.exec_ms:7.2f} {row.plan_ms:6.2f} {row.calls:6.1f}  {row.query}")
    exec_ms = sum(row.exec_ms for row in found)
    plan_ms = sum(row.plan_ms for row in found)
    print(f"  {exec_ms:7.2f} {plan_ms:6.2f}         (the {len(found)} above together)")
