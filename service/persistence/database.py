"""The database handle: one engine per process, transactions owned by the use cases.

SQLite (the embedded default) runs in WAL mode with foreign keys on, and every transaction
starts with ``BEGIN IMMEDIATE`` so that two writers queue for the lock instead of failing
half-way with "database is locked"; within a process they queue on a lock of their own first.
PostgreSQL gets a short connect timeout so an outage turns into a quick error rather than a
hung request, and its pooled connections are checked with a query only when their socket says
something happened (``liveness``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.persistence import pipelined_begin
from service.persistence.liveness import ping_psycopg_only_in_doubt

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "greenpoints_read_only"


def create_database_engine(url: str, *, connect_timeout_s: int = 3) -> Engine:
    """An engine for ``url`` with the connection settings this service relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=connect_timeout_s,
        # Sessions in UTC whatever the server's default: psycopg then returns datetimes in
        # ``datetime.UTC``, the zone the service's own datetimes carry, and comparing two
        # datetimes of one zone object skips the offset lookups a zone like 'Etc/UTC' costs.
        # psycopg prepares nothing itself: the service's small statements are prepared by
        # ``pipeline`` once per connection, and psycopg, holding prepared statements of its
        # own, sends DEALLOCATE ALL after a rollback, which would drop those too.
        connect_args={
            "connect_timeout": connect_timeout_s,
            "options": "-c timezone=UTC",
            "prepare_threshold": None,
        },
        json_serializer=json_text,
        json_deserializer=orjson.loads,
    )
    ping_psycopg_only_in_doubt(engine)
    pipelined_begin.install(engine)
    return engine


def json_bytes(value: Any) -> bytes:
    """A JSON column's text in UTF-8, on every path (statements through ``json_text``, COPY
    as it is): orjson, where the standard library's encoder cost about 2 % of a one-trip
    request's CPU. JSON columns are read back with ``orjson.loads`` too
    (``json_deserializer``)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def json_text(value: Any) -> str:
    """``json_bytes`` as the ``str`` SQLAlchemy's JSON type hands its driver."""
    return json_bytes(value).decode()


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        json_serializer=json_text,
        json_deserializer=orjson.loads,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; we emit BEGIN ourselves below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Readers take no write lock (WAL lets them run beside the one writer).
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


class Database:
    """Owns the engine and hands out sessions bound to one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        # SQLite lets one transaction write at a time, and a thread that finds the database
        # locked polls for it, sleeping up to 100 ms between tries. Within this process the
        # writers queue here instead, and the next one starts as soon as the last commits.
        self._writers = threading.RLock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, url: str, *, connect_timeout_s: int = 3) -> Database:
        return cls(create_database_engine(url, connect_timeout_s=connect_timeout_s))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on normal exit and rolls back on any exception."""
        with self._writer_turn(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """On SQLite, this process's turn to write; waiting for it fails as waiting for the
        database's own lock does, after ``SQLITE_BUSY_TIMEOUT_MS``."""
        if self._writers is None:
            yield
            return
        if not self._writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            locked = sqlite3.OperationalError("database is locked")
            raise OperationalError("BEGIN IMMEDIATE", None, locked)
        try:
            yield
        finally:
            self._writers.release()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: on SQLite it does not queue behind writers."""
        with self._read_only() as session:
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A session for reads only whose statements all see the database as it was at the
        first one (PostgreSQL: REPEATABLE READ; a SQLite read transaction always does)."""
        isolation = {"isolation_level": "REPEATABLE READ"} if self.dialect == "postgresql" else {}
        with self._read_only(**isolation) as session:
            yield session

    @contextmanager
    def _read_only(self, **options: Any) -> Iterator[Session]:
        with (
            self.engine.connect().execution_options(**{READ_ONLY: True}, **options) as connection,
            Session(bind=connection, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.reading() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
