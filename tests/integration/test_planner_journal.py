"""The planner roll-up journal: ingestion appends, folds move it into the atoms, and nothing is
counted twice or lost, whatever runs at the same time (ingestion, folds, reversals, checks).

Every trip here goes from the same street point to the same corral, so concurrent batches add to
the same few atoms: the case the journal is for.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import h3
import pytest
from sqlalchemy import func, select, update

from service.persistence.database import Database
from service.persistence.planner_models import CELL_JOURNAL, FLOW_JOURNAL, PlannerCell
from service.persistence.rider_models import Trip
from service.planner import journal, store
from service.planner.atoms import CellTotals
from service.planner.journal import Folding, fold_now
from service.planner.queries import Slice, summary
from service.usecases import consents
from service.usecases.crediting import reverse_trip
from tests.factories import client_headers, open_rider
from tests.geo_fixtures import CITY_ZONES, IN_CORRAL, STREET

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
STREET_CELL = h3.latlng_to_cell(*STREET, 9)


@pytest.fixture
def svc(app):
    services = app.extensions["greenpoints"]
    _, admin = client_headers(services, "admin")
    answer = app.test_client().post("/v1/fences", headers=admin, json=CITY_ZONES)
    assert answer.status_code == 201, answer.get_json()
    return services


def _operator_and_riders(svc, riders: int) -> tuple[dict[str, str], list[str]]:
    operator_id, headers = client_headers(svc, "operator")
    refs = []
    for _ in range(riders):
        user_id, _ = open_rider(svc)
        ref = f"ref-{uuid.uuid4().hex[:8]}"
        consents.grant(svc.db, user_id, operator_id, rider_ref=ref, scenarios=["bike"])
        refs.append(ref)
    return headers, refs


def _trips(refs: list[str], per_rider: int) -> list[dict]:
    """Each rider's trips an hour apart, all from the street point to the corral."""
    trips = []
    for hour in range(per_rider):
        ended = NOW - dt.timedelta(hours=2 + hour)
        for ref in refs:
            trips.append({
                "trip_id": f"t-{uuid.uuid4().hex[:12]}", "mode": "bike", "rider_ref": ref,
                "vehicle_id": "B-1", "start_time": (ended - dt.timedelta(minutes=12)).isoformat(),
                "end_time": ended.isoformat(), "start": {"lat": STREET[0], "lng": STREET[1]},
                "end": {"lat": IN_CORRAL[0], "lng": IN_CORRAL[1]}, "distance_m": 2350,
            })  # fmt: skip
    return trips


def _post(app, headers, trips) -> list[dict]:
    # Buffered, the answer is read whole and closed, as a WSGI server does once it has sent
    # it: the fold runs then.
    answer = app.test_client().post(
        "/v1/trips", headers=headers, json={"trips": trips}, buffered=True
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["results"]


def _journalled(db: Database) -> int:
    with db.reading() as session:
        counts = [select(func.count()).select_from(j) for j in (CELL_JOURNAL, FLOW_JOURNAL)]
        return sum(session.scalar(count) for count in counts)


def _atom_starts(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.coalesce(func.sum(PlannerCell.starts), 0)))


def _credited(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).where(Trip.status == "credited"))


def _month_slice() -> Slice:
    months = sorted({(NOW - dt.timedelta(days=d)).strftime("%Y-%m") for d in (0, 2)})
    return Slice(month_from=months[0], month_to=months[-1], k=1)


def test_ingestion_journals_and_every_read_folds_first(app, svc):
    headers, refs = _operator_and_riders(svc, 5)
    svc.folding = Folding(svc.db, interval_s=3600)  # folds after the first batch, then not
    first, second = _trips(refs, 2)[:5], _trips(refs, 2)[5:]
    _post(app, headers, first)
    assert _journalled(svc.db) == 0 and _atom_starts(svc.db) == 5
    _post(app, headers, second)
    assert _journalled(svc.db) > 0 and _atom_starts(svc.db) == 5
    # What is journalled counts: a check in one snapshot sees atoms plus journal.
    assert store.rebuild(svc.db, svc.policy.zone, apply=False).matches
    assert summary(svc.db, _month_slice())["trips"] == 10
    assert _journalled(svc.db) == 0 and _atom_starts(svc.db) == 10


def test_a_fold_that_does_not_commit_leaves_the_journal_whole(app, svc):
    headers, refs = _operator_and_riders(svc, 4)
    svc.folding = Folding(svc.db, interval_s=3600)
    trips = _trips(refs, 2)
    _post(app, headers, trips[:1])
    _post(app, headers, trips[4:])
    kept = _journalled(svc.db)
    assert kept > 0
    with pytest.raises(RuntimeError), svc.db.transaction() as session:
        journal.fold(session)
        raise RuntimeError("the process dies before the commit")
    assert _journalled(svc.db) == kept and _atom_starts(svc.db) == 1
    fold_now(svc.db)
    assert _journalled(svc.db) == 0 and _atom_starts(svc.db) == 5


def test_ingestion_folds_at_most_once_an_interval(app, svc):
    headers, refs = _operator_and_riders(svc, 3)
    clock = [100.0]
    svc.folding = Folding(svc.db, interval_s=1.0, clock=lambda: clock[0])
    batches = [[trip] for trip in _trips(refs, 1)]
    _post(app, headers, batches[0])  # the first commit folds
    assert _journalled(svc.db) == 0
    clock[0] += 0.5
    _post(app, headers, batches[1])  # half a second later: not yet
    assert _journalled(svc.db) > 0
    clock[0] += 0.6
    _post(app, headers, batches[2])  # over a second since the last fold
    assert _journalled(svc.db) == 0 and _atom_starts(svc.db) == 3


def test_a_fold_that_cannot_reach_the_database_never_fails_the_request(caplog):
    unreachable = Database.from_url("postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=1)
    Folding(unreachable).after_commit()  # no exception: the trips are already committed
    unreachable.dispose()
    assert "the roll-up journal was not folded" in caplog.text


def test_reversing_a_journalled_trip_counts_it_out_exactly(app, svc):
    headers, refs = _operator_and_riders(svc, 4)
    svc.folding = Folding(svc.db, interval_s=3600)
    _post(app, headers, _trips(refs, 1)[:1])
    results = _post(app, headers, _trips(refs, 1)[1:])  # journalled, not folded
    reverse_trip(svc.db, svc.policy, results[0]["trip_uid"], reason="gps_spoofing")
    assert _journalled(svc.db) == 0  # the reversal folded before it recounted
    assert store.rebuild(svc.db, svc.policy.zone, apply=False).matches
    assert summary(svc.db, _month_slice())["trips"] == 3


def test_a_rebuild_counts_journalled_trips_once(app, svc):
    headers, refs = _operator_and_riders(svc, 4)
    svc.folding = Folding(svc.db, interval_s=3600)
    _post(app, headers, _trips(refs, 1)[:1])
    _post(app, headers, _trips(refs, 1)[1:])  # three trips journalled, not folded
    with svc.db.transaction() as session:  # damage the folded atom, so the rebuild replaces it
        session.execute(update(PlannerCell).values(starts=PlannerCell.starts + 5))
    assert not store.rebuild(svc.db, svc.policy.zone, apply=True).matches
    fold_now(svc.db)
    assert store.rebuild(svc.db, svc.policy.zone, apply=False).matches
    assert _atom_starts(svc.db) == 4


def test_while_a_recount_holds_the_journal_appends_wait_for_it(app, svc):
    """A trip credited during a reversal's recount is counted once: its journal row cannot
    commit before the recount does (so it is not in both)."""
    appended = threading.Event()
    cell = (STREET_CELL, NOW.strftime("%Y-%m"), "bike", 8, 0)

    def append_one():
        with svc.db.transaction() as session:
            journal.append(session, {cell: CellTotals(starts=1, riders=1)}, {})
        appended.set()

    with svc.db.transaction() as session:
        journal.hold(session)
        writer = threading.Thread(target=append_one)
        writer.start()
        assert not appended.wait(0.5)  # waiting for the holder
    assert appended.wait(10)
    writer.join(timeout=10)
    assert _journalled(svc.db) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_batches_folds_reversals_and_checks_count_every_trip_once(app, svc):
    """Six writers post batches into the same atoms while a folder folds, a checker compares the
    roll-ups with a recount (one snapshot each time) and a reverser reverses credited trips."""
    headers, refs = _operator_and_riders(svc, 30)
    trips = _trips(refs, 4)  # 120 trips, 30 to an hour
    batches = [trips[i::12] for i in range(12)]  # each batch spans every hour
    svc.folding = Folding(svc.db, interval_s=0.0)
    errors: list[BaseException] = []
    checks: list[bool] = []
    reversed_uids: list[str] = []
    writing = threading.Event()
    writing.set()

    def guarded(work):
        def run():
            try:
                work()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        return run

    def write(mine):
        for batch in mine:
            results = _post(app, headers, batch)
            assert [r["status"] for r in results] == ["credited"] * len(batch)

    def fold_meanwhile():
        for _ in range(10_000):
            if not writing.is_set():
                return
            fold_now(svc.db)

    def check_meanwhile():
        for _ in range(10_000):
            if not writing.is_set():
                return
            checks.append(store.rebuild(svc.db, svc.policy.zone, apply=False).matches)

    def reverse_meanwhile():
        for _ in range(10_000):
            if not writing.is_set() or len(reversed_uids) == 6:
                return
            with svc.db.reading() as session:
                uid = session.scalar(
                    select(Trip.uid).where(Trip.status == "credited").order_by(Trip.uid)
                )
            if uid is not None:
                reverse_trip(svc.db, svc.policy, uid, reason="gps_spoofing")
                reversed_uids.append(uid)

    writers = [threading.Thread(target=guarded(lambda i=i: write(batches[i::6])))
               for i in range(6)]  # fmt: skip
    others = [threading.Thread(target=guarded(work))
              for work in (fold_meanwhile, check_meanwhile, reverse_meanwhile)]  # fmt: skip
    for thread in [*writers, *others]:
        thread.start()
    for thread in writers:
        thread.join(timeout=300)
    writing.clear()
    for thread in others:
        thread.join(timeout=300)
    assert not errors, errors
    assert checks and all(checks)
    fold_now(svc.db)
    assert _journalled(svc.db) == 0
    assert store.rebuild(svc.db, svc.policy.zone, apply=False).matches
    assert _credited(svc.db) == 120 - len(reversed_uids)
    assert _atom_starts(svc.db) == 120 - len(reversed_uids)
