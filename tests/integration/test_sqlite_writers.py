"""SQLite write transactions of one process take turns in the process (``Database``): the next
starts when the last commits, and waiting too long fails as the database's own lock does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service.persistence import database
from service.persistence.database import Database

HELD_S = 0.5


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    handle = Database.from_url(f"sqlite:///{tmp_path / 'writers.db'}")
    with handle.transaction() as session:
        session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)"))
        session.execute(text("INSERT INTO counter VALUES (1, 0)"))
    yield handle
    handle.dispose()


def _hold_a_write(db: Database, holding: threading.Event, release: threading.Event) -> None:
    with db.transaction() as session:
        session.execute(text("UPDATE counter SET value = value + 1"))
        holding.set()
        release.wait(10)


def test_a_writer_waits_for_the_one_before_and_sees_its_commit(db):
    holding, release = threading.Event(), threading.Event()
    first = threading.Thread(target=_hold_a_write, args=(db, holding, release))
    first.start()
    assert holding.wait(10)
    seen: list[int] = []

    def second() -> None:
        with db.transaction() as session:
            seen.append(session.scalar(text("SELECT value FROM counter")))
            session.execute(text("UPDATE counter SET value = value + 1"))

    waiting = threading.Thread(target=second)
    waiting.start()
    time.sleep(HELD_S)
    assert not seen and waiting.is_alive()  # still queued behind the first
    release.set()
    first.join(10)
    waiting.join(10)
    assert seen == [1]
    with db.reading() as session:
        assert session.scalar(text("SELECT value FROM counter")) == 2


def test_waiting_longer_than_the_busy_timeout_fails_as_a_locked_database(db, monkeypatch):
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    holding, release = threading.Event(), threading.Event()
    first = threading.Thread(target=_hold_a_write, args=(db, holding, release))
    first.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"), db.transaction():
            pass
        assert 0.2 <= time.monotonic() - started < 5
    finally:
        release.set()
        first.join(10)
    with db.transaction() as session:  # the turn is free again
        session.execute(text("UPDATE counter SET value = value + 1"))
    with db.reading() as session:
        assert session.scalar(text("SELECT value FROM counter")) == 2


def test_reads_do_not_wait_for_a_writer(db):
    holding, release = threading.Event(), threading.Event()
    first = threading.Thread(target=_hold_a_write, args=(db, holding, release))
    first.start()
    try:
        assert holding.wait(10)
        with db.reading() as session:  # WAL: the committed state, at once
            assert session.scalar(text("SELECT value FROM counter")) == 0
    finally:
        release.set()
        first.join(10)
