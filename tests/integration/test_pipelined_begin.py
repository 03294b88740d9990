"""A PostgreSQL transaction whose first statements are pipelined sends its BEGIN with them
(``service.persistence.pipelined_begin``): it must stay one transaction, with the isolation
asked for, and leave no connection that starts a later transaction without BEGIN."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from service.persistence import direct
from service.persistence.database import Database
from service.persistence.ledger_models import LedgerTransaction
from tests.round_trips import round_trip_relay

TRANSACTIONS = LedgerTransaction.__table__
MOMENT = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


class Refused(Exception):
    pass


def _row(transaction_id: str) -> dict:
    return {"id": transaction_id, "kind": "credit", "account_id": "sys:issuance",
            "created_at": MOMENT, "matures_at": None, "reverses_id": None, "trip_uid": None,
            "details": {}}  # fmt: skip


def _count(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(TRANSACTIONS))


@pytest.fixture
def db(postgres_url):
    database = Database.from_url(postgres_url)
    yield database
    database.dispose()


def test_a_transaction_begun_in_a_pipeline_is_undone_whole(db):
    """Pipelined writes, then writes through the ORM and outside any pipeline: an error after
    them leaves none."""
    with pytest.raises(Refused), db.transaction() as session:
        with direct.pipelined(session):
            direct.insert(session, TRANSACTIONS, [_row("credit:a")])
        session.execute(insert(TRANSACTIONS).values(**_row("credit:b")))
        direct.insert(session, TRANSACTIONS, [_row("credit:c")])
        raise Refused
    assert _count(db) == 0


def test_its_connection_begins_the_next_transaction_as_usual(db):
    """One pooled connection only: the transaction after a pipelined one starts with a plain
    statement, and is still undone whole."""
    with db.transaction() as session, direct.pipelined(session):
        direct.insert(session, TRANSACTIONS, [_row("credit:kept")])
    for _ in range(3):  # whichever connection the pool hands out
        with pytest.raises(Refused), db.transaction() as session:
            session.execute(insert(TRANSACTIONS).values(**_row("credit:undone")))
            session.execute(insert(TRANSACTIONS).values(**_row("credit:undone too")))
            raise Refused
    assert _count(db) == 1


def test_a_connection_kept_across_transactions_begins_each(db):
    """Sessions bound to one connection, not handed back to the pool in between."""
    with db.engine.connect() as connection:
        with Session(bind=connection) as session, session.begin(), direct.pipelined(session):
            direct.insert(session, TRANSACTIONS, [_row("credit:kept")])
        with pytest.raises(Refused), Session(bind=connection) as session, session.begin():
            session.execute(insert(TRANSACTIONS).values(**_row("credit:undone")))
            raise Refused
    assert _count(db) == 1


def test_a_snapshot_begun_in_a_pipeline_keeps_its_isolation(db):
    with db.snapshot() as session:
        with direct.pipelined(session):
            direct.insert(session, TRANSACTIONS, [_row("credit:seen")])
        isolation = session.execute(text("SHOW transaction_isolation")).scalar_one()
    assert isolation == "repeatable read"
    with db.transaction() as session:
        with direct.pipelined(session):
            direct.insert(session, TRANSACTIONS, [_row("credit:also")])
        isolation = session.execute(text("SHOW transaction_isolation")).scalar_one()
    assert isolation == "read committed"


def test_the_begin_goes_in_the_first_pipelines_round_trip(postgres_url):
    target = make_url(postgres_url)
    with round_trip_relay(target.host or "127.0.0.1", target.port or 5432) as relay:
        db = Database.from_url(str(target.set(host="127.0.0.1", port=relay.port)
                                   .render_as_string(hide_password=False)))  # fmt: skip
        try:
            _count(db)  # the pool's first connection, outside the count
            before = relay.round_trips
            with db.transaction() as session, direct.pipelined(session):
                direct.insert(session, TRANSACTIONS, [_row("credit:one")])
            # the insert with its BEGIN, then the commit
            assert relay.round_trips - before == 2
            assert _count(db) == 1
        finally:
            db.dispose()
