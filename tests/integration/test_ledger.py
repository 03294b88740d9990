"""The ledger's rules on real databases: exactly-once, caps, maturing, reversals, holds."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError

from service.ledger import postings
from service.ledger.ledger import CreditRequest, Ledger, credit_id
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database
from service.persistence.ledger_models import Account
from service.usecases import ledger_ops

NOW = dt.datetime(2026, 11, 2, 0, 15, tzinfo=dt.UTC)  # 08:15 in Shanghai
POLICY = LedgerPolicy(daily_cap_points=5000, fraud_window=dt.timedelta(hours=48))


@pytest.fixture
def db(database_url):
    database = Database.from_url(database_url)
    yield database
    database.dispose()


@pytest.fixture
def account(db):
    with db.transaction() as session:
        Ledger(session, POLICY).open_personal_account("acc_rider", NOW)
    return "acc_rider"


def _credit(db, account, ref, points, *, occurred_at=NOW, now=NOW, policy=POLICY):
    with db.transaction() as session:
        return Ledger(session, policy).credit(
            account, purpose="trip", ref=ref, points=points, occurred_at=occurred_at, now=now
        )


def _balances(db, account):
    with db.transaction() as session:
        return Ledger(session, POLICY).balances(account)


def _books_balance(db):
    discrepancies, unbalanced = ledger_ops.verify(db, POLICY)
    assert discrepancies == []
    assert unbalanced == []


def test_credit_is_pending_then_matures_after_the_window(db, account):
    # Shanghai cycling, 2.35 km at 98 g/km = 230.3 g -> 230 points.
    outcome = _credit(db, account, "t1", 230)
    assert (outcome.points, outcome.duplicate) == (230, False)
    assert _balances(db, account) == (230, 0, 0)
    assert ledger_ops.mature_due(db, POLICY, NOW + dt.timedelta(hours=47)) == 0
    assert ledger_ops.mature_due(db, POLICY, NOW + dt.timedelta(hours=48)) == 1
    assert ledger_ops.mature_due(db, POLICY, NOW + dt.timedelta(hours=49)) == 0
    assert _balances(db, account) == (0, 230, 0)
    _books_balance(db)


def test_same_credit_twice_is_one_credit(db, account):
    first = _credit(db, account, "t1", 230)
    again = _credit(db, account, "t1", 230)
    assert again.duplicate and again.transaction_id == first.transaction_id
    assert _balances(db, account).pending == 230
    _books_balance(db)


def test_daily_cap_credits_up_to_the_cap_and_records_the_rest(db, account):
    assert _credit(db, account, "a", 3000).points == 3000
    partial = _credit(db, account, "b", 3000)
    assert (partial.points, partial.requested, partial.capped) == (2000, 3000, True)
    nothing = _credit(db, account, "c", 500)
    assert (nothing.points, nothing.capped) == (0, True)
    assert _credit(db, account, "c", 500).duplicate  # the zero credit is recorded too
    next_day = _credit(db, account, "d", 500, occurred_at=NOW + dt.timedelta(days=1))
    assert next_day.points == 500
    assert _balances(db, account).pending == 5500
    _books_balance(db)


def _request(account, ref, points, occurred_at=NOW):
    return CreditRequest(account_id=account, purpose="trip", ref=ref, points=points,
                         occurred_at=occurred_at)  # fmt: skip


def test_credits_read_ahead_decide_as_credits_read_then(db, account):
    """The earlier credits and day totals sent ahead (with the lock, by ingestion) give the
    same decisions: a repeat is a duplicate and the cap counts what the day already has."""
    _credit(db, account, "t1", 4800)
    batch = [_request(account, "t1", 4800), _request(account, "t2", 230),
             _request(account, "t3", 230)]  # fmt: skip
    with db.transaction() as session:
        ledger = Ledger(session, POLICY)
        ledger.lock([account])
        ahead = ledger.send_credit_state([*batch, _request(account, "t4", 230)])
        outcomes = ledger.credit_many(batch, NOW, ahead)
        with pytest.raises(RuntimeError):  # read once: it would miss the credits just made
            ahead.read()
    assert [(o.points, o.duplicate, o.capped) for o in outcomes] == [
        (4800, True, False),
        (200, False, True),
        (0, False, True),
    ]
    assert _balances(db, account) == (5000, 0, 0)


def test_a_state_for_unwritten_credits_counts_the_day_and_never_credits_twice(db, account):
    """Ingestion vouches that its trips' credits were never written, so only the day totals
    are read: the cap still counts the day, and a credit that was written all the same is
    refused by its key rather than written again."""
    _credit(db, account, "t1", 4800)
    with db.transaction() as session:
        ledger = Ledger(session, POLICY)
        ledger.lock([account])
        ahead = ledger.send_credit_state([_request(account, "t2", 230)], unwritten=True)
        [outcome] = ledger.credit_many([_request(account, "t2", 230)], NOW, ahead)
    assert (outcome.points, outcome.duplicate, outcome.capped) == (200, False, True)

    with pytest.raises(DatabaseError), db.transaction() as session:
        ledger = Ledger(session, POLICY)
        ledger.lock([account])
        ahead = ledger.send_credit_state([_request(account, "t1", 4800)], unwritten=True)
        ledger.credit_many([_request(account, "t1", 4800)], NOW, ahead)
    assert _balances(db, account) == (5000, 0, 0)
    _books_balance(db)


def test_credits_read_ahead_for_others_are_read_again(db, account):
    """A state sent for other credits, or another day, is not used: the ledger reads its own."""
    _credit(db, account, "t1", 4800)
    next_day = NOW + dt.timedelta(days=1)
    with db.transaction() as session:
        ledger = Ledger(session, POLICY)
        ahead = ledger.send_credit_state([_request(account, "t9", 230, next_day)])
        [outcome] = ledger.credit_many([_request(account, "t2", 230)], NOW, ahead)
    assert (outcome.points, outcome.capped) == (200, True)
    assert _balances(db, account) == (5000, 0, 0)


def test_cap_day_is_the_scheme_local_day(db, account):
    # 23:30 UTC on 1 Nov is 07:30 on 2 Nov in Shanghai: the same local day as NOW.
    late_utc = dt.datetime(2026, 11, 1, 23, 30, tzinfo=dt.UTC)
    _credit(db, account, "a", 4000, occurred_at=late_utc)
    assert _credit(db, account, "b", 4000).points == 1000


def test_reversal_of_pending_and_of_spent_credit(db, account):
    _credit(db, account, "t1", 1000)
    _credit(db, account, "t2", 400)
    with db.transaction() as session:
        _, points, new = Ledger(session, POLICY).reverse_credit(
            credit_id("trip", "t2"), reason="fraud", now=NOW
        )
    assert (points, new) == (400, True)
    assert _balances(db, account) == (1000, 0, 0)

    ledger_ops.mature_due(db, POLICY, NOW + dt.timedelta(days=3))
    assert _balances(db, account) == (0, 1000, 0)
    with db.transaction() as session:
        Ledger(session, POLICY).hold(account, "red_1", 900, NOW)
        Ledger(session, POLICY).settle_hold("red_1", outcome="post", sink="sys:redemptions",
                                            now=NOW)  # fmt: skip
    with db.transaction() as session:
        Ledger(session, POLICY).reverse_credit(credit_id("trip", "t1"), reason="fraud", now=NOW)
        _, _, again = Ledger(session, POLICY).reverse_credit(
            credit_id("trip", "t1"), reason="fraud", now=NOW
        )
    assert not again
    assert _balances(db, account) == (0, -900, 0)  # an explicit debt
    _credit(db, account, "t3", 1200, occurred_at=NOW + dt.timedelta(days=4))
    ledger_ops.mature_due(db, POLICY, NOW + dt.timedelta(days=7))
    assert _balances(db, account) == (0, 300, 0)  # the later credit paid the debt first
    _books_balance(db)


def test_hold_then_void_returns_points_and_settles_once(db, account):
    _credit(db, account, "t1", 1000)
    ledger_ops.mature_due(db, POLICY, NOW + dt.timedelta(days=3))
    with db.transaction() as session:
        Ledger(session, POLICY).hold(account, "red_1", 600, NOW)
    assert _balances(db, account) == (0, 400, 600)
    with db.transaction() as session:
        ledger = Ledger(session, POLICY)
        assert ledger.settle_hold("red_1", outcome="void", sink="sys:redemptions", now=NOW)
        assert not ledger.settle_hold("red_1", outcome="post", sink="sys:redemptions", now=NOW)
    assert _balances(db, account) == (0, 1000, 0)
    _books_balance(db)


def test_hold_beyond_available_is_refused(db, account):
    _credit(db, account, "t1", 1000)  # still pending: nothing to spend
    with pytest.raises(Exception, match="available"), db.transaction() as session:
        Ledger(session, POLICY).hold(account, "red_1", 10, NOW)
    assert _balances(db, account) == (1000, 0, 0)


def test_verify_finds_a_tampered_cache(db, account):
    _credit(db, account, "t1", 230)
    with db.transaction() as session:
        session.get(Account, account).pending = 231
    discrepancies, _ = ledger_ops.verify(db, POLICY)
    assert [(d.account_id, d.bucket, d.cached, d.summed) for d in discrepancies] == [
        (account, "pending", 231, 230)
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount = amount + 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET kind = 'x'",
        "DELETE FROM ledger_transactions",
    ],
)
def test_database_refuses_to_change_ledger_rows(db, account, statement):
    _credit(db, account, "t1", 230)
    with pytest.raises(DatabaseError, match="append-only"), db.transaction() as session:
        session.execute(text(statement))
    _books_balance(db)
    assert _balances(db, account).pending == 230


def test_postgres_refuses_truncate_and_unbalanced_transactions(postgres_url):
    db = Database.from_url(postgres_url)
    with db.transaction() as session:
        Ledger(session, POLICY).open_personal_account("acc_x", NOW)
    with pytest.raises(DatabaseError, match="append-only"), db.transaction() as session:
        session.execute(text("TRUNCATE ledger_entries CASCADE"))
    with pytest.raises(DatabaseError, match="does not sum to zero"), db.transaction() as s:
        s.execute(
            text(
                "INSERT INTO ledger_transactions (id, kind, account_id, created_at, details) "
                "VALUES ('forged', 'credit', 'acc_x', now(), '{}')"
            )
        )
        s.execute(
            text(
                "INSERT INTO ledger_entries (transaction_id, account_id, bucket, amount, "
                "created_at) VALUES ('forged', 'acc_x', 'available', 1000000, now())"
            )
        )
    with db.transaction() as session:
        assert session.execute(text("SELECT count(*) FROM ledger_transactions")).scalar() == 0
    db.dispose()


def _write(db: Database, *statements: str) -> None:
    """Each statement on its own, in one database transaction."""
    with db.transaction() as session:
        for statement in statements:
            session.execute(text(statement))


def _transaction(transaction_id: str) -> str:
    return (
        "INSERT INTO ledger_transactions (id, kind, account_id, created_at, details) "
        f"VALUES ('{transaction_id}', 'credit', 'acc_x', now(), '{{}}')"
    )


def _entries(*entries: tuple[str, str, int]) -> str:
    values = ", ".join(f"('{t}', '{a}', 'pending', {amount}, now())" for t, a, amount in entries)
    return (
        "INSERT INTO ledger_entries (transaction_id, account_id, bucket, amount, created_at) "
        f"VALUES {values}"
    )


def test_postgres_checks_the_balance_after_each_statement(postgres_url):
    """Each INSERT must leave every transaction it touches balanced: entries written in one
    statement pass; halves written in two statements do not, nor does an entry added later to
    a transaction that balanced; and a refused statement leaves no row behind."""
    db = Database.from_url(postgres_url)
    with db.transaction() as session:
        Ledger(session, POLICY).open_personal_account("acc_x", NOW)
    source = postings.ISSUANCE
    _write(
        db, _transaction("together"), _entries(("together", "acc_x", 7), ("together", source, -7))
    )
    refused = {
        "halves": (
            _transaction("halves"),
            _entries(("halves", "acc_x", 7)),
            _entries(("halves", source, -7)),
        ),
        "together": (_entries(("together", "acc_x", 1)),),
        "split": (
            _transaction("split"),
            _transaction("whole"),
            _entries(("whole", "acc_x", 3), ("whole", source, -3), ("split", "acc_x", 5)),
        ),
    }
    for transaction_id, statements in refused.items():
        with pytest.raises(DatabaseError, match=f"transaction {transaction_id} does not sum"):
            _write(db, *statements)
    with db.transaction() as session:
        rows = session.execute(
            text("SELECT transaction_id, amount FROM ledger_entries ORDER BY amount")
        ).all()
    assert [tuple(r) for r in rows] == [("together", -7), ("together", 7)]
    db.dispose()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ((("ghost", "acc_x", 7), ("ghost", postings.ISSUANCE, -7)), "transaction ghost"),
        ((("real", "acc_ghost", 7), ("real", postings.ISSUANCE, -7)), "account acc_ghost"),
    ],
)
def test_postgres_refuses_entries_naming_what_does_not_exist(postgres_url, entries, message):
    """The entries' references are checked per statement (no foreign keys on PostgreSQL): a
    balanced pair naming a missing transaction or account is refused as a foreign-key
    violation, and the statement leaves nothing behind."""
    db = Database.from_url(postgres_url)
    with db.transaction() as session:
        Ledger(session, POLICY).open_personal_account("acc_x", NOW)
    with pytest.raises(DatabaseError, match=f"names {message}, which does not exist") as refused:
        _write(db, _transaction("real"), _entries(*entries))
    assert refused.value.orig.sqlstate == "23503"
    with db.transaction() as session:
        written = session.execute(
            text("SELECT (SELECT count(*) FROM ledger_entries), "
                 "(SELECT count(*) FROM ledger_transactions)")
        ).one()  # fmt: skip
    assert tuple(written) == (0, 0)
    db.dispose()


@pytest.mark.parametrize(
    "statement",
    ["DELETE FROM accounts WHERE id = 'acc_x'", "UPDATE accounts SET id = 'acc_y'"],
)
def test_postgres_keeps_every_account_an_entry_may_name(postgres_url, statement):
    """With no foreign keys on the entries, accounts can neither go nor change their id; their
    balances still move."""
    db = Database.from_url(postgres_url)
    with db.transaction() as session:
        Ledger(session, POLICY).open_personal_account("acc_x", NOW)
    _credit(db, "acc_x", "t1", 230)
    with pytest.raises(DatabaseError, match="never deleted or renumbered"):
        _write(db, statement)
    assert _balances(db, "acc_x").pending == 230
    _books_balance(db)
    db.dispose()


def test_postgres_balance_check_reads_only_the_transactions_written(postgres_url):
    """The check adds up the entries the INSERT wrote (stored ones already balance) and finds
    each transaction through its key. After PL/pgSQL has settled on a plan for the trigger with
    large inserts, a two-entry insert on the same connection must still read no stored entry
    and scan no transaction (a join once kept a plan that scanned the whole table)."""
    db = Database.from_url(postgres_url)
    with db.transaction() as session:
        Ledger(session, POLICY).open_personal_account("acc_x", NOW)
    db.dispose()
    source = postings.ISSUANCE
    engine = create_engine(postgres_url)
    with engine.connect() as connection:

        def entries_read() -> tuple[int, int, int]:
            """Entries read by sequential scans and fetched through indexes, and transactions
            read by sequential scans, so far."""
            connection.execute(text("SELECT pg_stat_force_next_flush()"))
            connection.commit()  # the flush happens between statements
            connection.execute(text("SELECT pg_stat_clear_snapshot()"))
            read = connection.execute(
                text(
                    "SELECT e.seq_tup_read, e.idx_tup_fetch, t.seq_tup_read "
                    "FROM pg_stat_user_tables AS e, pg_stat_user_tables AS t "
                    "WHERE e.relname = 'ledger_entries' AND t.relname = 'ledger_transactions'"
                )
            ).one()
            connection.commit()
            return read[0], read[1], read[2]

        for batch in range(8):
            ids = [f"big-{batch}-{n}" for n in range(200)]
            for transaction_id in ids:
                connection.execute(text(_transaction(transaction_id)))
            pairs = [e for t in ids for e in ((t, "acc_x", 2), (t, source, -2))]
            connection.execute(text(_entries(*pairs)))
            connection.commit()
        scanned, fetched, transactions_scanned = entries_read()
        connection.execute(text(_transaction("small")))
        connection.execute(text(_entries(("small", "acc_x", 2), ("small", source, -2))))
        connection.commit()
        scanned_after, fetched_after, transactions_scanned_after = entries_read()
    engine.dispose()
    assert (scanned_after - scanned, fetched_after - fetched) == (0, 0)
    # The reference check found its transaction through the key, not by reading 1,601 rows.
    assert transactions_scanned_after == transactions_scanned
