"""A PostgreSQL transaction's BEGIN sent with its first pipelined statements, not alone.

psycopg begins a transaction itself before the first statement, and in pipeline mode it waits
for that BEGIN on its own: one round trip with nothing else in it. A one-trip request makes
three more, so that one is a quarter of its waits for the database. When a transaction's first
statements go in a pipeline (``direct.pipelined``), the connection is switched to autocommit,
so psycopg sends no BEGIN of its own, and the same BEGIN psycopg would have sent (isolation
level and all) is queued first in that pipeline. The server then holds a transaction as
before: every later statement runs in it, and the driver's commit or rollback ends it.

Autocommit is switched back off when the next transaction begins on the connection and when
the connection goes back to the pool, so no other transaction ever starts without its BEGIN.
Only a connection switched here is switched back; one that SQLAlchemy set to autocommit on
purpose is left alone.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Engine, event

SWITCHED = "greenpoints.begun_in_pipeline"


def begin_command(driver: psycopg.Connection) -> str:
    """The BEGIN psycopg would send for the connection's transaction settings."""
    words = ["BEGIN"]
    if driver.isolation_level is not None:
        words.append("ISOLATION LEVEL " + driver.isolation_level.name.replace("_", " "))
    if driver.read_only is not None:
        words.append("READ ONLY" if driver.read_only else "READ WRITE")
    if driver.deferrable is not None:
        words.append("DEFERRABLE" if driver.deferrable else "NOT DEFERRABLE")
    return " ".join(words)


def own_begin(driver: psycopg.Connection, info: dict[str, Any]) -> str | None:
    """When psycopg would begin a transaction before the next statement: turn autocommit on,
    so that it sends no BEGIN (and waits for none), mark the connection in its pool record's
    ``info``, and return the BEGIN to queue instead. Otherwise None."""
    if driver.autocommit or driver.info.transaction_status != pq.TransactionStatus.IDLE:
        return None
    command = begin_command(driver)
    driver.autocommit = True
    info[SWITCHED] = True
    return command


def switch_back(driver: Any, info: dict[str, Any]) -> None:
    """Autocommit off again on a connection switched here (it must be idle: between
    transactions). A broken or closed connection is left as it is: the pool drops it."""
    if not info.pop(SWITCHED, False) or not isinstance(driver, psycopg.Connection):
        return
    if driver.closed or driver.broken:
        return
    driver.autocommit = False


def install(engine: Engine) -> None:
    """Switch connections back as each transaction begins and as each goes back to the
    pool."""

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        fairy = connection.connection
        switch_back(fairy.dbapi_connection, fairy.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            switch_back(dbapi_connection, record.info)
