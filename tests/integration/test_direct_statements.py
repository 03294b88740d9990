"""``direct`` statements: on each database, what they write and read is what SQLAlchemy's
own execution writes and reads, type processors included."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, create_engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.persistence import bulk, direct
from service.persistence.database import Database
from service.persistence.ledger_models import LedgerTransaction
from service.persistence.planner_models import CELL_JOURNAL

TRANSACTIONS = LedgerTransaction.__table__
AWKWARD_IDS = ['credit:trip:a "quoted" one', "credit:trip:comma, brace } {", "credit:trip:雨天"]
BY_ID = direct.Statement(
    lambda dialect: select(TRANSACTIONS.c.id, TRANSACTIONS.c.created_at, TRANSACTIONS.c.details)
    .where(direct.one_of_param(dialect, TRANSACTIONS.c.id, "ids"),
           TRANSACTIONS.c.kind == bindparam("kind"))
    .order_by(TRANSACTIONS.c.id)
)  # fmt: skip
OTHERS = direct.Statement(
    lambda dialect: select(TRANSACTIONS.c.id)
    .where(direct.none_of_param(dialect, TRANSACTIONS.c.id, "ids"))
    .order_by(TRANSACTIONS.c.id)
)  # fmt: skip
RIDERS = direct.Statement(
    lambda dialect: select(CELL_JOURNAL.c.cell, CELL_JOURNAL.c.riders).where(
        direct.one_of_param(dialect, CELL_JOURNAL.c.cell, "cells")
    )
)


def _transaction(transaction_id: str, created_at: dt.datetime) -> dict:
    return {"id": transaction_id, "kind": "credit", "account_id": "sys:issuance",
            "created_at": created_at, "matures_at": None, "reverses_id": None,
            "trip_uid": None, "details": {"granted": 230, "reasons": ["cap"]}}  # fmt: skip


def test_rows_read_back_as_sqlalchemy_reads_them(database_url):
    db = Database.from_url(database_url)
    moment = dt.datetime(2026, 11, 22, 8, 15, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction(i, moment) for i in AWKWARD_IDS])
    with db.reading() as session:
        read = BY_ID.rows(session, ids=[AWKWARD_IDS[0], AWKWARD_IDS[2], "credit:trip:none"],
                          kind="credit")  # fmt: skip
        mapped = BY_ID.mappings(session, ids=AWKWARD_IDS[1:2], kind="credit")
        none = BY_ID.rows(session, ids=[], kind="credit")
        other_kind = BY_ID.rows(session, ids=AWKWARD_IDS, kind="penalty")
        expected = session.execute(
            select(TRANSACTIONS.c.id, TRANSACTIONS.c.created_at, TRANSACTIONS.c.details)
            .where(TRANSACTIONS.c.id.in_([AWKWARD_IDS[0], AWKWARD_IDS[2]]))
            .order_by(TRANSACTIONS.c.id)
        ).all()  # fmt: skip
    db.dispose()
    assert read == [tuple(row) for row in expected]
    assert [row[1] for row in read] == [moment, moment]  # the same instant, aware
    assert all(row[1].tzinfo is not None for row in read)
    assert read[0][2] == {"granted": 230, "reasons": ["cap"]}
    assert [row["id"] for row in mapped] == [AWKWARD_IDS[1]]
    assert none == other_kind == []


def test_rows_can_leave_out_a_list_of_values(database_url):
    """``none_of_param`` leaves out exactly the values listed, whatever they hold (quotes,
    commas, braces, Chinese); an empty list leaves out nothing."""
    db = Database.from_url(database_url)
    moment = dt.datetime(2026, 11, 22, 8, 15, tzinfo=dt.UTC)
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction(i, moment) for i in AWKWARD_IDS])
    with db.reading() as session:
        left = {name: OTHERS.scalars(session, ids=ids) for name, ids in (
            ("two", [AWKWARD_IDS[0], AWKWARD_IDS[2], "credit:trip:none"]),
            ("none", []), ("all", AWKWARD_IDS))}  # fmt: skip
    db.dispose()
    assert left == {"two": [AWKWARD_IDS[1]], "none": sorted(AWKWARD_IDS), "all": []}


def test_json_reads_back_the_same_whichever_path_wrote_it(database_url):
    """A statement and COPY (many rows, on PostgreSQL) write JSON columns with one encoder:
    integer keys become strings, as the standard library's made them, and text stays as it
    was sent, whatever COPY would have to escape in it."""
    db = Database.from_url(database_url)
    moment = dt.datetime(2026, 11, 22, 8, 15, tzinfo=dt.UTC)
    details = {"station": "人民广场", 7: "hour", "quote": 'a "b" \\ c\td\ne'}
    few = [{**_transaction("credit:trip:one", moment), "details": details}]
    many = [{**_transaction(f"credit:trip:copy{i:03d}", moment), "details": details}
            for i in range(bulk.FEW_ROWS + 1)]  # fmt: skip
    with db.transaction() as session:
        bulk.insert_rows(session, TRANSACTIONS, few)
        bulk.insert_rows(session, TRANSACTIONS, many)
    with db.reading() as session:
        read = session.execute(select(TRANSACTIONS.c.details)).scalars().all()
    db.dispose()
    assert len(read) == len(many) + 1
    assert all(r == {"station": "人民广场", "7": "hour", "quote": 'a "b" \\ c\td\ne'} for r in read)


def test_timestamps_read_back_as_the_same_instants_whichever_path_wrote_them(database_url):
    """COPY writes timestamps as text, once per distinct value: instants in any zone, down to
    the microsecond, come back the same, and rows sharing one keep sharing it."""
    db = Database.from_url(database_url)
    shanghai = dt.timezone(dt.timedelta(hours=8))
    moments = [dt.datetime(2026, 11, 22, 8, 15, 0, 123456, tzinfo=shanghai),
               dt.datetime(2026, 11, 22, 0, 15, 0, 123456, tzinfo=dt.UTC),  # the same instant
               dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(-dt.timedelta(hours=5))),
               dt.datetime(2026, 11, 22, 8, 15, 0, 999999, tzinfo=dt.UTC)]  # fmt: skip
    few = [_transaction("credit:trip:one", moments[2])]
    many = [{**_transaction(f"credit:trip:copy{i:03d}", moments[i % len(moments)]),
             "matures_at": moments[0]} for i in range(bulk.FEW_ROWS + 1)]  # fmt: skip
    with db.transaction() as session:
        bulk.insert_rows(session, TRANSACTIONS, few)
        bulk.insert_rows(session, TRANSACTIONS, many)
    with db.reading() as session:
        read = dict(session.execute(
            select(TRANSACTIONS.c.id, TRANSACTIONS.c.created_at)).all())  # fmt: skip
        matures = set(session.execute(select(TRANSACTIONS.c.matures_at)).scalars().all())
    db.dispose()
    assert read == {row["id"]: row["created_at"] for row in few + many}
    assert all(moment.tzinfo is not None for moment in read.values())
    assert matures == {None, moments[0]}


def test_copy_refuses_a_timestamp_without_a_zone(postgres_url):
    db = Database.from_url(postgres_url)
    naive = dt.datetime(2026, 11, 22, 8, 15)
    many = [_transaction(f"credit:trip:naive{i:03d}", naive) for i in range(bulk.FEW_ROWS + 1)]
    with pytest.raises(ValueError, match="timezone"), db.transaction() as session:
        bulk.insert_rows(session, TRANSACTIONS, many)
    with db.reading() as session:
        assert session.execute(select(TRANSACTIONS.c.id)).all() == []
    db.dispose()


def test_postgres_sessions_read_datetimes_in_utc_whatever_the_server_default(postgres_url):
    # A server whose default zone is not UTC (here Shanghai) still hands the service its
    # datetimes in datetime.UTC, the zone its own datetimes carry.
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        database = connection.execute(text("SELECT current_database()")).scalar_one()
        connection.execute(text(f"ALTER DATABASE \"{database}\" SET timezone = 'Asia/Shanghai'"))
    engine.dispose()
    db = Database.from_url(postgres_url)
    moment = dt.datetime(2026, 11, 22, 8, 15, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction(AWKWARD_IDS[0], moment)])
    with db.reading() as session:
        [(_, read, _)] = BY_ID.rows(session, ids=[AWKWARD_IDS[0]], kind="credit")
        zone = session.execute(text("SHOW timezone")).scalar_one()
    db.dispose()
    assert read == moment
    assert read.tzinfo is dt.UTC
    assert zone == "UTC"


def test_custom_types_go_through_their_processors(database_url):
    """A rider bitmap is a Python int; on PostgreSQL the column is bit(1024)."""
    db = Database.from_url(database_url)
    bitmap = (1 << 1023) | (1 << 5) | 1
    row = {"cell": "89309959da7ffff", "month": "2026-11", "mode": "bike", "hour": 8,
           "day_type": 1, "c5": "8530995bfffffff", "c6": "86309959fffffff",
           "c7": "87309959dffffff", "c8": "88309959dbfffff", "starts": 1, "co2_g": 230,
           "distance_m": 2350, "riders": bitmap}  # fmt: skip
    with db.transaction() as session:
        direct.insert(session, CELL_JOURNAL, [row])
    with db.reading() as session:
        read = RIDERS.rows(session, cells=[row["cell"]])
        expected = session.execute(select(CELL_JOURNAL.c.cell, CELL_JOURNAL.c.riders)).all()
    db.dispose()
    assert read == [tuple(r) for r in expected] == [(row["cell"], bitmap)]


def test_insert_new_inserts_only_the_missing_and_says_which(database_url):
    db = Database.from_url(database_url)
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:old", moment)])
    fresh = [_transaction(i, moment) for i in ("credit:trip:new1", "credit:trip:old",
                                               "credit:trip:new2")]  # fmt: skip
    with db.transaction() as session:
        inserted = direct.insert_new(session, TRANSACTIONS, fresh, "id")
        again = direct.insert_new(session, TRANSACTIONS, fresh, "id")
        nothing = direct.insert_new(session, TRANSACTIONS, [], "id")
    with db.reading() as session:
        stored = BY_ID.scalars(session, ids=[f["id"] for f in fresh], kind="credit")
    db.dispose()
    assert inserted == {"credit:trip:new1", "credit:trip:new2"}
    assert again == nothing == set()
    assert stored == ["credit:trip:new1", "credit:trip:new2", "credit:trip:old"]


def test_rows_beyond_a_statements_parameter_cap_go_in_several(database_url, monkeypatch):
    """PostgreSQL caps a statement's parameters: more rows than fit in one statement go in
    several, and the keys inserted are those of all of them."""
    monkeypatch.setattr(direct, "_MAX_PARAMETERS", 3 * len(TRANSACTIONS.c))  # 3 rows a statement
    db = Database.from_url(database_url)
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    ids = [f"credit:trip:{n}" for n in range(8)]
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction(i, moment) for i in ids[:4]])
        inserted = direct.insert_new(session, TRANSACTIONS,
                                     [_transaction(i, moment) for i in ids], "id")  # fmt: skip
    with db.reading() as session:
        stored = BY_ID.scalars(session, ids=ids, kind="credit")
    db.dispose()
    assert inserted == set(ids[4:])
    assert stored == ids


def test_a_conflict_is_the_error_sqlalchemy_raises(database_url):
    """Callers retry a lost race on SQLAlchemy's IntegrityError: the direct path raises it too."""
    db = Database.from_url(database_url)
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:taken", moment)])
    with pytest.raises(IntegrityError) as raised, db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:taken", moment)])
    with db.reading() as session:
        stored = BY_ID.scalars(session, ids=["credit:trip:taken"], kind="credit")
    db.dispose()
    assert stored == ["credit:trip:taken"]
    if database_url.startswith("postgresql"):
        assert raised.value.orig.sqlstate == "23505"


def test_in_a_pipeline_reads_and_inserts_see_everything_sent_before(database_url):
    """Writes are queued there; a read, a RETURNING insert and a bulk insert (over COPY's
    threshold) each see the writes before them, and say what they inserted."""
    db = Database.from_url(database_url)
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    many = [_transaction(f"credit:trip:bulk{i:03d}", moment) for i in range(bulk.FEW_ROWS + 10)]
    with db.transaction() as session, direct.pipelined(session):
        direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:a", moment)])
        seen = BY_ID.scalars(session, ids=["credit:trip:a"], kind="credit")
        one = direct.insert_new(session, TRANSACTIONS, [_transaction("credit:trip:b", moment)],
                                "id")  # fmt: skip
        taken = direct.insert_new(session, TRANSACTIONS, [_transaction("credit:trip:a", moment)],
                                  "id")  # fmt: skip
        two = direct.insert_new(session, TRANSACTIONS, [_transaction("credit:trip:c", moment),
                                                        _transaction("credit:trip:a", moment),
                                                        _transaction("credit:trip:d", moment)],
                                "id")  # fmt: skip
        bulk.insert_rows(session, TRANSACTIONS, many)
    with db.reading() as session:
        stored = BY_ID.scalars(session, ids=[f"credit:trip:{k}" for k in "abcd"], kind="credit")
        bulked = BY_ID.scalars(session, ids=[row["id"] for row in many], kind="credit")
    db.dispose()
    assert seen == ["credit:trip:a"]
    assert (one, taken, two) == ({"credit:trip:b"}, set(), {"credit:trip:c", "credit:trip:d"})
    assert stored == [f"credit:trip:{k}" for k in "abcd"]
    assert len(bulked) == len(many)


def test_a_conflict_in_a_pipeline_fails_the_whole_transaction(database_url):
    db = Database.from_url(database_url)
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:taken", moment)])
    with pytest.raises(IntegrityError), db.transaction() as session, direct.pipelined(session):
        direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:new", moment)])
        direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:taken", moment)])
    with db.reading() as session:
        stored = BY_ID.scalars(session, ids=["credit:trip:new", "credit:trip:taken"],
                               kind="credit")  # fmt: skip
    db.dispose()
    assert stored == ["credit:trip:taken"]


def test_statements_sent_in_a_pipeline_are_read_after_it(database_url):
    db = Database.from_url(database_url)
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction(i, moment) for i in AWKWARD_IDS])
    with db.transaction() as session:
        with direct.pipelined(session):
            first = BY_ID.send(session, ids=AWKWARD_IDS[:1], kind="credit")
            direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:later", moment)])
            second = BY_ID.send(session, ids=[*AWKWARD_IDS[1:], "credit:trip:later"],
                                kind="credit")  # fmt: skip
        expected = BY_ID.rows(session, ids=[*AWKWARD_IDS, "credit:trip:later"], kind="credit")
        read_first, read_second = first.rows(), second.rows()
    db.dispose()
    assert [row[0] for row in read_first] == AWKWARD_IDS[:1]
    assert {row[0] for row in read_second} == {*AWKWARD_IDS[1:], "credit:trip:later"}
    assert sorted(read_first + read_second) == sorted(expected)  # the same values, processed


def test_a_long_list_is_planned_for_its_values_not_by_a_prepared_plan(postgres_url):
    """Once psycopg has prepared a statement, PostgreSQL may run it with a generic plan that
    cannot see how many values its array holds: a run with a long list must not use it."""
    db = Database.from_url(postgres_url)
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    many = [_transaction(f"credit:trip:long{i:04d}", moment) for i in range(300)]
    with db.transaction() as session:
        bulk.insert_rows(session, TRANSACTIONS, many)

    def plans_of_prepared(session) -> int:
        return session.execute(text(
            "SELECT coalesce(sum(generic_plans + custom_plans), 0) FROM pg_prepared_statements "
            "WHERE statement LIKE 'SELECT ledger_transactions.id, ledger_transactions.created_at%'"
        )).scalar_one()  # fmt: skip

    long_ids = [row["id"] for row in many]
    assert len(long_ids) > direct.GENERIC_PLAN_MAX_VALUES
    with db.reading() as session:
        for k in range(8):  # psycopg prepares from the sixth run on
            assert BY_ID.scalars(session, ids=[long_ids[k]], kind="credit") == [long_ids[k]]
        runs_of_prepared = plans_of_prepared(session)
        long_read = BY_ID.scalars(session, ids=long_ids, kind="credit")
        after_long = plans_of_prepared(session)
        BY_ID.scalars(session, ids=long_ids[:2], kind="credit")
        after_short = plans_of_prepared(session)
    db.dispose()
    assert runs_of_prepared >= 1  # short lists do use the prepared statement
    assert long_read == long_ids
    assert after_long == runs_of_prepared
    assert after_short == runs_of_prepared + 1


def test_a_pipeline_inside_another_adds_to_it(postgres_url):
    """What is sent inside an inner pipeline is read after the outer one ends, and a statement
    failing inside the inner one fails the whole transaction."""
    db = Database.from_url(postgres_url)
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:taken", moment)])
    try:
        with db.transaction() as session:
            with direct.pipelined(session):
                with direct.pipelined(session):
                    sent = direct.send_new(session, TRANSACTIONS,
                                           [_transaction("credit:trip:new", moment),
                                            _transaction("credit:trip:taken", moment)],
                                           "id")  # fmt: skip
                assert direct.pipelining(session)
                direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:after", moment)])
            assert not direct.pipelining(session)
            assert sent() == {"credit:trip:new"}
        taken, lost = (
            _transaction("credit:trip:taken", moment),
            _transaction("credit:trip:lost", moment),
        )
        with pytest.raises(IntegrityError), db.transaction() as session, direct.pipelined(session):
            direct.insert(session, TRANSACTIONS, [lost])
            with direct.pipelined(session):
                direct.insert(session, TRANSACTIONS, [taken])
        with db.reading() as session:
            stored = BY_ID.scalars(session, ids=["credit:trip:after", "credit:trip:lost",
                                                 "credit:trip:new"], kind="credit")  # fmt: skip
    finally:
        db.dispose()
    assert stored == ["credit:trip:after", "credit:trip:new"]


def test_generic_plans_hold_for_their_own_transaction_only(postgres_url):
    """``plan_generically`` reaches the server with the transaction's first pipeline and ends
    with it, committed or rolled back: the connection's next transaction plans as usual."""
    db = Database.from_url(postgres_url)
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)

    def plan_cache_mode(session) -> str:
        return session.execute(text("SHOW plan_cache_mode")).scalar_one()

    try:
        with db.engine.connect() as connection:  # one connection throughout
            with Session(bind=connection) as session, session.begin():
                direct.plan_generically(session)
                with direct.pipelined(session):
                    direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:g", moment)])
                during = plan_cache_mode(session)
            with Session(bind=connection) as session, session.begin():
                after_commit = plan_cache_mode(session)
            with (
                pytest.raises(IntegrityError),
                Session(bind=connection) as session,
                session.begin(),
            ):
                direct.plan_generically(session)
                with direct.pipelined(session):  # the same id again: refused, rolled back
                    direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:g", moment)])
            with Session(bind=connection) as session, session.begin():
                after_rollback = plan_cache_mode(session)
    finally:
        db.dispose()
    assert during == "force_generic_plan"
    assert (after_commit, after_rollback) == ("auto", "auto")


def test_prepared_statements_outlive_rollbacks_and_repeated_statements(postgres_url):
    """The statements ``direct`` prepares stay prepared through what would make psycopg
    deallocate every prepared statement of the connection: a rollback after statements it ran
    often enough to prepare its own."""
    db = Database.from_url(postgres_url)
    db.engine.pool.dispose()
    moment = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    with db.transaction() as session:
        direct.insert(session, TRANSACTIONS, [_transaction("credit:trip:kept", moment)])
    for _ in range(3):
        with pytest.raises(ZeroDivisionError), db.transaction() as session:
            assert BY_ID.scalars(session, ids=["credit:trip:kept"], kind="credit")
            for _ in range(8):  # run through psycopg, as SQLAlchemy's own statements are
                session.execute(text("SELECT count(*) FROM ledger_transactions")).scalar()
            raise ZeroDivisionError  # the session rolls its transaction back
    with db.reading() as session:
        found = BY_ID.scalars(session, ids=["credit:trip:kept"], kind="credit")
        prepared = session.execute(text("SELECT count(*) FROM pg_prepared_statements "
                                        "WHERE statement LIKE 'SELECT ledger_transactions.id%'"
                                        )).scalar_one()  # fmt: skip
    db.dispose()
    assert found == ["credit:trip:kept"]
    assert prepared == 1
