"""Many credits at once, on real databases: exactly one per trip, never past the daily cap."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.ledger.ledger import Ledger
from service.persistence.ledger_models import DailyCredit, LedgerTransaction
from service.usecases import ledger_ops
from tests.factories import TRIP_END, open_rider

WORKERS = 64


@pytest.fixture
def svc(make_app):
    return make_app(daily_cap_points=5000).extensions["greenpoints"]


def _all_at_once(calls):
    """Run the calls in 64 threads released together; return results and errors."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        try:
            return call(), None
        except Exception as exc:
            return None, exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        outcomes = list(pool.map(run, calls))
    return [r for r, _ in outcomes], [e for _, e in outcomes if e is not None]


def _credit(svc, account_id, ref, points):
    def call():
        with svc.db.transaction() as session:
            return Ledger(session, svc.policy).credit(
                account_id, purpose="trip", ref=ref, points=points,
                occurred_at=TRIP_END, now=TRIP_END,
            )  # fmt: skip

    return call


def test_64_identical_credits_credit_once(svc):
    _, account_id = open_rider(svc)
    results, errors = _all_at_once([_credit(svc, account_id, "trp_same", 230)] * WORKERS)
    assert errors == []
    assert sum(not r.duplicate for r in results) == 1
    assert {r.transaction_id for r in results} == {"credit:trip:trp_same"}
    with svc.db.transaction() as session:
        assert Ledger(session, svc.policy).balances(account_id) == (230, 0, 0)
        assert session.query(LedgerTransaction).filter_by(account_id=account_id).count() == 1


def test_64_credits_for_one_rider_day_never_pass_the_cap(svc):
    _, account_id = open_rider(svc)
    wanted = [100 + 7 * i for i in range(WORKERS)]  # 100..541 points, 20,608 in all
    calls = [_credit(svc, account_id, f"trp_{i}", p) for i, p in enumerate(wanted)]
    results, errors = _all_at_once(calls)
    assert errors == []
    granted = sum(r.points for r in results)
    assert granted == 5000
    assert sum(r.capped for r in results) >= 1
    with svc.db.transaction() as session:
        assert Ledger(session, svc.policy).balances(account_id).pending == 5000
        day = session.get(DailyCredit, (account_id, svc.policy.local_day(TRIP_END)))
        assert day.points == 5000


def test_concurrent_maturing_moves_each_credit_once(svc):
    """Eight cron runs at once: every due credit matures exactly once."""
    accounts = [open_rider(svc)[1] for _ in range(5)]
    for n in range(40):
        _credit(svc, accounts[n % 5], f"trp_due_{n}", 100)()
    later = TRIP_END + svc.policy.fraud_window
    results, errors = _all_at_once([lambda: ledger_ops.mature_due(svc.db, svc.policy, later)] * 8)
    assert errors == []
    assert sum(results) == 40
    with svc.db.transaction() as session:
        ledger = Ledger(session, svc.policy)
        assert [ledger.balances(a) for a in accounts] == [(0, 800, 0)] * 5
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])
