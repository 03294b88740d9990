"""Pooled PostgreSQL connections: checked without a query while nothing reached them, and
replaced when the server ended them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from service.persistence.database import Database

CHECKOUTS = 20
GONE_WITHIN_S = 5.0


@pytest.fixture
def queried_pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the pre-pings that asked the server (the dialect's own ``SELECT 1``)."""
    calls: list[int] = []
    full_ping = PGDialect_psycopg.do_ping

    def counted(self: PGDialect_psycopg, dbapi_connection: object) -> bool:
        calls.append(1)
        return full_ping(self, dbapi_connection)

    monkeypatch.setattr(PGDialect_psycopg, "do_ping", counted)
    return calls


def _backend(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(text("SELECT pg_backend_pid()"))


def _terminate(url: str, pid: int) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + GONE_WITHIN_S
            gone = text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")
            while not connection.scalar(gone, {"pid": pid}):
                assert time.monotonic() < deadline, f"backend {pid} still there"
                time.sleep(0.05)
    finally:
        admin.dispose()


@pytest.fixture
def db(postgres_url: str, queried_pings: list[int]) -> Iterator[Database]:
    """The service's own database handle (made after the ping is counted)."""
    database = Database.from_url(postgres_url)
    yield database
    database.dispose()


def test_a_quiet_pooled_connection_is_reused_without_a_query(db, queried_pings):
    first = _backend(db)
    for _ in range(CHECKOUTS):
        assert _backend(db) == first
    with db.transaction() as session:
        session.execute(text("SELECT 1"))
    assert queried_pings == []


def test_a_connection_the_server_ended_is_replaced_not_failed(db, postgres_url, queried_pings):
    ended = _backend(db)
    _terminate(postgres_url, ended)
    replacement = _backend(db)  # the pooled connection is dead: this must not raise
    assert replacement != ended
    assert len(queried_pings) == 1  # the socket said something happened: the server asked
    with db.transaction() as session:
        assert session.scalar(text("SELECT 1")) == 1
    assert len(queried_pings) == 1
