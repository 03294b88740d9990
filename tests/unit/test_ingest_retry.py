"""Which database errors make a batch be judged again: only lost races."""

import sqlite3

from sqlalchemy.exc import IntegrityError, OperationalError

from service.ingest.batch import _lost_race


class PgError(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_unique_violations_deadlocks_and_serialisation_failures_are_races():
    assert _lost_race(IntegrityError("INSERT", {}, PgError("23505")))
    assert _lost_race(OperationalError("UPDATE", {}, PgError("40P01")))
    assert _lost_race(OperationalError("UPDATE", {}, PgError("40001")))
    unique = sqlite3.IntegrityError("UNIQUE constraint failed: trips.uid")
    assert _lost_race(IntegrityError("INSERT", {}, unique))


def test_an_outage_or_a_broken_rule_is_not_retried():
    assert not _lost_race(OperationalError("SELECT", {}, PgError("08006")))  # connection failure
    assert not _lost_race(IntegrityError("INSERT", {}, PgError("23514")))  # check violation
    gone = sqlite3.OperationalError("unable to open database file")
    assert not _lost_race(OperationalError("SELECT", {}, gone))
