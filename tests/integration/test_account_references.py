"""Trips and ledger transactions name only accounts that exist, on both databases: foreign keys
on SQLite, a trigger per statement on PostgreSQL (migration 0016), for every way rows are
written (one row, many rows, COPY, an update)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from service.ledger.ledger import Ledger
from service.ledger.policy import LedgerPolicy
from service.persistence import bulk
from service.persistence.database import Database
from service.persistence.ledger_models import LedgerTransaction
from service.persistence.rider_models import Trip

NOW = dt.datetime(2026, 11, 2, 0, 15, tzinfo=dt.UTC)
POLICY = LedgerPolicy(daily_cap_points=5000, fraud_window=dt.timedelta(hours=48))
MANY = bulk.FEW_ROWS + 10  # enough for COPY on PostgreSQL


@pytest.fixture
def db(database_url):
    database = Database.from_url(database_url)
    with database.transaction() as session:
        Ledger(session, POLICY).open_personal_account("acc_x", NOW)
    yield database
    database.dispose()


def _trip(n: int, account_id: str | None) -> dict[str, Any]:
    return {
        "uid": f"trp_{n:04d}", "operator_id": "op_1", "operator_trip_id": f"t{n}",
        "account_id": account_id, "rider_ref": "r1", "mode": "bike",
        "started_at": NOW - dt.timedelta(minutes=20), "ended_at": NOW - dt.timedelta(minutes=5),
        "status": "credited" if account_id else "rejected", "reasons": [], "co2_g": 230,
        "points": 230, "pollutants_mg": {}, "created_at": NOW,
    }  # fmt: skip


def _transaction(n: int, account_id: str) -> dict[str, Any]:
    return {"id": f"credit:test:{n}", "kind": "credit", "account_id": account_id,
            "created_at": NOW, "matures_at": None, "reverses_id": None, "trip_uid": None,
            "details": {}}  # fmt: skip


def _counts(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        trips = session.execute(text("SELECT count(*) FROM trips")).scalar_one()
        credits = session.execute(
            text("SELECT count(*) FROM ledger_transactions WHERE id LIKE 'credit:test:%'")
        ).scalar_one()
    return trips, credits


def _refused(db: Database, write) -> IntegrityError:
    with pytest.raises(IntegrityError) as refused, db.transaction() as session:
        write(session)
    if db.engine.dialect.name == "postgresql":
        assert refused.value.orig.sqlstate == "23503"
        assert "names account acc_ghost, which does not exist" in str(refused.value)
    return refused.value


@pytest.mark.parametrize("rows", [1, MANY], ids=["one", "many"])
def test_a_trip_naming_a_missing_account_is_refused_with_its_statement(db, rows):
    """The missing account is the last of the rows: nothing of the statement stays."""
    trips = [_trip(n, "acc_x") for n in range(rows - 1)] + [_trip(rows, "acc_ghost")]
    _refused(db, lambda session: bulk.insert_rows(session, Trip.__table__, trips))
    assert _counts(db) == (0, 0)
    with db.transaction() as session:
        bulk.insert_rows(session, Trip.__table__, [*trips[:-1], _trip(rows, None)])
    assert _counts(db) == (rows, 0)


def test_a_trip_cannot_be_moved_to_a_missing_account(db):
    with db.transaction() as session:
        bulk.insert_rows(session, Trip.__table__, [_trip(1, None), _trip(2, None)])
    moved = update(Trip).where(Trip.uid == "trp_0002")
    _refused(db, lambda session: session.execute(moved.values(account_id="acc_ghost")))
    with db.transaction() as session:
        session.execute(moved.values(account_id="acc_x"))
        named = session.execute(text("SELECT uid, account_id FROM trips ORDER BY uid")).all()
    assert [tuple(row) for row in named] == [("trp_0001", None), ("trp_0002", "acc_x")]


@pytest.mark.parametrize("rows", [1, MANY], ids=["one", "many"])
def test_a_ledger_transaction_naming_a_missing_account_is_refused(db, rows):
    written = [_transaction(n, "acc_x") for n in range(rows - 1)]
    written.append(_transaction(rows, "acc_ghost"))
    table = LedgerTransaction.__table__
    _refused(db, lambda session: bulk.insert_rows(session, table, written))
    assert _counts(db) == (0, 0)
    with db.transaction() as session:
        bulk.insert_rows(session, table, written[:-1])
    assert _counts(db) == (0, rows - 1)
