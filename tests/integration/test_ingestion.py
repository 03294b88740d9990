"""Operator trip ingestion through the API, on SQLite and PostgreSQL.

Figures are the published ones (METHODOLOGIES.md): Shanghai cycling, 98 g/km, so a 2.35 km ride
reduces 230.3 g, credited as 230 g and 230 points (1,000 points per kg).
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service.app import create_app
from service.auth.clients import create_client
from service.ingest import store
from service.ingest.batch import JUDGE_FIRST_ABOVE, Ingestor
from service.ingest.coalesce import SMALL_REQUEST
from service.ledger.ledger import Ledger
from service.persistence import bulk
from service.persistence.database import create_database_engine
from service.persistence.ledger_models import Account
from service.persistence.models import ApiClient
from service.persistence.planner_models import PlannerCell
from service.persistence.rider_models import Rider, Trip
from service.planner import journal
from service.usecases import consents, ledger_ops, operator_trips
from tests.factories import open_rider
from tests.geo_fixtures import CITY_ZONES, FAR_AWAY, IN_CORRAL, IN_PLAZA, STREET, feature, square
from tests.round_trips import round_trip_relay

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
LOCK_HELD_S = 2.0  # how long a test holds riders' account locks, as a batch would
SW_CORNER = (31.2105, 121.4505)  # inside the service area, near its south-west corner
NE_CORNER = (31.2495, 121.4995)  # inside it, near the north-east corner (6.3 km away)
SW_NORTH = (31.2200, 121.4505)  # 1 km north of SW_CORNER
NE_SOUTH = (31.2400, 121.4995)  # 1 km south of NE_CORNER


@pytest.fixture
def svc(app):
    return app.extensions["greenpoints"]


def _operator(svc, scopes=("trips:write",)):
    client = create_client(svc.db, kind="operator", name="an operator")
    token = svc.tokens.issue_access_token(client_id=client.client_id, kind="operator",
                                          scopes=scopes)  # fmt: skip
    return client.client_id, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def city(svc, client):
    _, admin = _admin(svc)
    answer = client.post("/v1/fences", headers=admin, json=CITY_ZONES)
    assert answer.status_code == 201, answer.get_json()


def _admin(svc):
    client = create_client(svc.db, kind="admin", name="admin")
    token = svc.tokens.issue_access_token(client_id=client.client_id, kind="admin",
                                          scopes=("admin",))  # fmt: skip
    return client.client_id, {"Authorization": f"Bearer {token}"}


def _linked_rider(svc, operator_id, rider_ref=None, scenarios=("bike", "ebike", "metro", "bus")):
    user_id, account_id = open_rider(svc)
    rider_ref = rider_ref or f"ref-{uuid.uuid4().hex[:8]}"
    consents.grant(svc.db, user_id, operator_id, rider_ref=rider_ref, scenarios=scenarios)
    return rider_ref, account_id


def _trip(rider_ref, *, start=STREET, end=IN_CORRAL, minutes=12, ended=NOW - dt.timedelta(hours=3),
          distance_m=2350, **extra):  # fmt: skip
    return {
        "trip_id": extra.pop("trip_id", f"t-{uuid.uuid4().hex[:10]}"),
        "mode": "bike",
        "rider_ref": rider_ref,
        "vehicle_id": "B-220114",
        "start_time": (ended - dt.timedelta(minutes=minutes)).isoformat(),
        "end_time": ended.isoformat(),
        "start": {"lat": start[0], "lng": start[1]},
        "end": {"lat": end[0], "lng": end[1]},
        "distance_m": distance_m,
        **extra,
    }


def _post(client, headers, trips, **extra_headers):
    answer = client.post("/v1/trips", headers={**headers, **extra_headers}, json={"trips": trips})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["success"] + len(body["failures"]) == body["total"] == len(trips)
    return body


def test_a_good_trip_is_credited_with_its_receipt_and_parking_verdict(svc, client, city):
    operator_id, headers = _operator(svc)
    rider_ref, account_id = _linked_rider(svc, operator_id)
    trip = _trip(rider_ref)
    [result] = _post(client, headers, [trip])["results"]
    assert result["status"] == "credited", result
    assert (result["co2_g"], result["points"], result["reasons"]) == (230, 230, [])
    seen = client.get(f"/v1/trips/{trip['trip_id']}", headers=headers).get_json()
    assert seen["receipt"]["formula"].endswith("= 230.3 g")
    assert seen["parking"]["parking_category"] == "corral"
    assert seen["start_cell"] and seen["end_cell"]
    assert _pending(svc, account_id) == 230


def test_bad_items_fail_alone_and_the_rest_are_credited(svc, client, city):
    operator_id, headers = _operator(svc)
    rider_ref, account_id = _linked_rider(svc, operator_id)
    trips = [_trip(rider_ref, ended=NOW - dt.timedelta(hours=20 - i)) for i in range(16)]
    trips.append({**_trip(rider_ref), "start": {"lat": 95, "lng": 121.4}})  # malformed
    trips.append({k: v for k, v in _trip(rider_ref).items() if k != "trip_id"})  # malformed
    trips.append(_trip(rider_ref, minutes=2, distance_m=2350, ended=NOW - dt.timedelta(minutes=30)))
    trips.append(_trip(rider_ref, minutes=12, ended=NOW + dt.timedelta(days=2)))
    body = _post(client, headers, trips)
    assert [(f["index"], f["field"]) for f in body["failures"]] == [
        (16, "start.lat"),
        (17, "trip_id"),
    ]
    assert body["failures"][0]["trip_id"] == trips[16]["trip_id"]
    by_status = {}
    for result in body["results"]:
        by_status.setdefault(result["status"], []).append(result)
    assert len(by_status["credited"]) == 16
    reasons = [r["reasons"] for r in by_status["rejected"]]
    assert ["implausible_speed"] in reasons and any("in_future" in r for r in reasons)
    assert _pending(svc, account_id) == 16 * 230


def test_each_kind_of_bad_trip_is_rejected_with_its_own_reason(svc, client, city):
    _, admin = _admin(svc)
    tunnel = feature(square(121.4850, 31.2350, 121.4870, 31.2450), zone_id="tunnel",
                     zone_type="no_ride")  # fmt: skip
    assert client.post("/v1/fences", headers=admin, json=tunnel).status_code == 201
    first_id, first = _operator(svc)
    other_id, other = _operator(svc)
    rider_ref, account_id = _linked_rider(svc, first_id)
    user = account_user(svc, account_id)
    consents.grant(svc.db, user, other_id, rider_ref="same-rider-at-other", scenarios=["bike"])
    base = NOW - dt.timedelta(hours=5)
    credited = _trip(rider_ref, ended=base, start=SW_NORTH, end=SW_CORNER, distance_m=1500)
    expected = {
        "no_consent": (first, _trip("nobody-linked-this-ref", ended=base - dt.timedelta(hours=2))),
        "no_ride_zone": (first, _trip(rider_ref, ended=base - dt.timedelta(hours=1),
                                      route=[{"lat": 31.2400, "lng": 121.4800},
                                             {"lat": 31.2400, "lng": 121.4900}])),
        "implausible_speed": (first, _trip(rider_ref, ended=base + dt.timedelta(hours=2),
                                           minutes=3)),
        "overlapping_trip": (other, _trip("same-rider-at-other",
                                          ended=base + dt.timedelta(minutes=4))),
        "teleport": (other, _trip("same-rider-at-other", start=NE_CORNER, end=NE_SOUTH,
                                  distance_m=1500, minutes=12,
                                  ended=base + dt.timedelta(minutes=14))),
    }  # fmt: skip
    assert _post(client, first, [credited])["results"][0]["status"] == "credited"
    for reason, (headers, trip) in expected.items():
        [result] = _post(client, headers, [trip])["results"]
        assert result["status"] == "rejected", (reason, result)
        assert reason in result["reasons"], (reason, result)
        seen = client.get(f"/v1/trips/{trip['trip_id']}", headers=headers).get_json()
        assert reason in seen["reasons"]
    listed = client.get("/v1/trips?status=rejected", headers=other).get_json()["trips"]
    assert {t["trip_id"] for t in listed} == {
        expected["overlapping_trip"][1]["trip_id"],
        expected["teleport"][1]["trip_id"],
    }
    assert all(t["status"] == "rejected" for t in listed)


def _pending(svc, account_id):
    with svc.db.transaction() as session:
        return Ledger(session, svc.policy).balances(account_id).pending


def account_user(svc, account_id):
    with svc.db.reading() as session:
        return session.scalar(select(Rider.user_id).where(Rider.account_id == account_id))


def test_a_trip_is_stored_once_and_never_overwritten(svc, client, city):
    operator_id, headers = _operator(svc)
    rider_ref, account_id = _linked_rider(svc, operator_id)
    trip = _trip(rider_ref)
    first = _post(client, headers, [trip, trip])
    assert [r["status"] for r in first["results"]] == ["credited", "duplicate"]
    again = _post(client, headers, [trip])["results"][0]
    assert (again["status"], again["original_status"], again["points"]) == (
        "duplicate",
        "credited",
        230,
    )
    changed = _post(client, headers, [{**trip, "distance_m": 2400}])
    assert changed["failures"][0]["error"] == "conflict"
    assert _pending(svc, account_id) == 230
    seen = client.get(f"/v1/trips/{trip['trip_id']}", headers=headers).get_json()
    assert seen["co2_g"] == 230


def test_a_trip_stored_while_its_request_was_writing_counts_once(svc, client, city, monkeypatch):
    """The other request held none of this one's locks (say, another rider's copy): this one
    read the trip as new under its locks, and finds it taken when it inserts."""
    operator_id, headers = _operator(svc)
    rider_ref, account_id = _linked_rider(svc, operator_id)
    trip = _trip(rider_ref)
    assert _post(client, headers, [trip])["results"][0]["status"] == "credited"
    read_stored = store.send_stored_trips
    reads = []

    def stored_meanwhile(session, uids):
        reads.append(uids)
        return dict if len(reads) == 1 else read_stored(session, uids)

    monkeypatch.setattr(store, "send_stored_trips", stored_meanwhile)
    [again] = _post(client, headers, [trip])["results"]
    assert (again["status"], again["original_status"], again["points"]) == (
        "duplicate",
        "credited",
        230,
    )
    assert _pending(svc, account_id) == 230
    journal.fold_now(svc.db)
    with svc.db.reading() as session:
        assert session.scalar(select(func.sum(PlannerCell.starts))) == 1


def test_an_idempotency_key_replays_the_first_answer(svc, client, city):
    operator_id, headers = _operator(svc)
    rider_ref, _ = _linked_rider(svc, operator_id)
    trips = [_trip(rider_ref)]
    first = client.post("/v1/trips", headers={**headers, "Idempotency-Key": "k1"},
                        json={"trips": trips})  # fmt: skip
    replayed = client.post("/v1/trips", headers={**headers, "Idempotency-Key": "k1"},
                           json={"trips": trips})  # fmt: skip
    assert replayed.get_json() == first.get_json()
    assert replayed.get_json()["results"][0]["status"] == "credited"
    assert replayed.headers["Idempotent-Replayed"] == "true"
    other = client.post("/v1/trips", headers={**headers, "Idempotency-Key": "k1"},
                        json={"trips": [_trip(rider_ref)]})  # fmt: skip
    assert other.status_code == 422
    assert "Idempotency-Key" in other.get_json()["errors"]


def test_limits_answer_413_and_429_as_problems(make_app):
    app = make_app(ingest_requests_per_minute=2)
    svc = app.extensions["greenpoints"]
    client = app.test_client()
    _, headers = _operator(svc)
    too_many = client.post("/v1/trips", headers=headers, json={"trips": [{}] * 1001})
    assert too_many.status_code == 413
    assert too_many.mimetype == "application/problem+json"
    assert "1000" in too_many.get_json()["detail"]
    client.post("/v1/trips", headers=headers, json={"trips": []})
    limited = client.post("/v1/trips", headers=headers, json={"trips": []})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    bad = make_app().test_client().post("/v1/trips", headers=headers, data=b"[1, 2]",
                                       content_type="application/json")  # fmt: skip
    assert bad.status_code == 422 and "trips" in bad.get_json()["errors"]


def test_a_trip_waiting_for_consent_is_credited_when_it_arrives(svc, client, city):
    operator_id, headers = _operator(svc)
    user_id, account_id = open_rider(svc)
    trip = _trip("late-linker")
    [result] = _post(client, headers, [trip])["results"]
    assert (result["status"], result["reasons"]) == ("rejected", ["no_consent"])
    rider = {"Authorization": f"Bearer {svc.tokens.mint_rider_token(user_id)}"}
    granted = client.put(f"/v1/me/consents/{operator_id}", headers=rider,
                         json={"rider_ref": "late-linker", "scenarios": ["bike"]})  # fmt: skip
    assert granted.status_code == 200, granted.get_json()
    assert granted.get_json()["credited_trips"] == 1
    seen = client.get(f"/v1/trips/{trip['trip_id']}", headers=headers).get_json()
    assert (seen["status"], seen["points"], seen["reasons"]) == ("credited", 230, [])
    assert _pending(svc, account_id) == 230


def _city_app(database_url, tmp_path):
    """An app of its own (for tests that hold locks from other connections), with the city's
    zones published: the app, its services and a test client."""
    app = create_app({"database_url": database_url, "var_dir": tmp_path / "var",
                      "redis_url": None})  # fmt: skip
    svc = app.extensions["greenpoints"]
    client = app.test_client()
    _, admin = _admin(svc)
    assert client.post("/v1/fences", headers=admin, json=CITY_ZONES).status_code == 201
    return app, svc, client


def test_a_consent_with_nothing_waiting_does_not_wait_for_the_riders_account(postgres_url,
                                                                            tmp_path):  # fmt: skip
    """A batch holds its riders' account locks while it credits them. A rider who links an
    operator meanwhile, with no trip of theirs waiting for that consent, is answered at once;
    one with a trip waiting is credited once the lock is free. (PostgreSQL: on SQLite the
    consent's own write waits for any writer.)"""
    app, svc, client = _city_app(postgres_url, tmp_path)
    operator_id, headers = _operator(svc)
    idle_user, idle_account = open_rider(svc)
    waiting_user, waiting_account = open_rider(svc)
    [rejected] = _post(client, headers, [_trip("waits-for-consent")])["results"]
    assert rejected["reasons"] == ["no_consent"]
    engine = create_database_engine(postgres_url)
    try:
        with engine.connect() as holder:  # a batch crediting both riders, as it were
            lock = select(Account.id).where(Account.id.in_([idle_account, waiting_account]))
            lock = lock.with_for_update(key_share=True)  # as ``Ledger.lock`` takes them
            assert len(holder.execute(lock).all()) == 2
            answers: dict[str, tuple[float, dict]] = {}

            def link(user_id: str, rider_ref: str) -> None:
                rider = {"Authorization": f"Bearer {svc.tokens.mint_rider_token(user_id)}"}
                started = time.monotonic()
                answer = app.test_client().put(
                    f"/v1/me/consents/{operator_id}", headers=rider,
                    json={"rider_ref": rider_ref, "scenarios": ["bike"]})  # fmt: skip
                answers[rider_ref] = (time.monotonic() - started, answer.get_json())

            linking = [
                threading.Thread(target=link, args=(idle_user, "nothing-waiting")),
                threading.Thread(target=link, args=(waiting_user, "waits-for-consent")),
            ]
            for thread in linking:
                thread.start()
            time.sleep(LOCK_HELD_S)
            holder.rollback()
        for thread in linking:
            thread.join(timeout=30)
        took, answer = answers["nothing-waiting"]
        assert took < LOCK_HELD_S / 2 and answer["credited_trips"] == 0, answers
        took, answer = answers["waits-for-consent"]  # waited for the lock
        assert took > LOCK_HELD_S / 2 and answer["credited_trips"] == 1, answers
        assert (_pending(svc, idle_account), _pending(svc, waiting_account)) == (0, 230)
    finally:
        engine.dispose()
        svc.db.dispose()


@pytest.mark.parametrize("size", [1, JUDGE_FIRST_ABOVE + 1], ids=["few", "judged_first"])
def test_a_consent_granted_while_a_batch_is_written_still_credits_its_trip(
    postgres_url, tmp_path, size
):
    """The batch has read the rider's consents (none yet) when the rider links the operator;
    the consent's look for waiting trips comes before the batch commits, and finds nothing.
    The batch looks again once committed, and the trip is credited. (PostgreSQL, where a lock
    on the trips table can hold the batch between the two.)"""
    app, svc, client = _city_app(postgres_url, tmp_path)
    operator_id, headers = _operator(svc)
    user_id, account_id = open_rider(svc)
    batch = [_trip("links-meanwhile")] + [_trip(f"never-links-{i}") for i in range(size - 1)]
    answers: dict[str, Any] = {}

    def post() -> None:
        answers["batch"] = app.test_client().post("/v1/trips", headers=headers,
                                                  json={"trips": batch})  # fmt: skip

    engine = create_database_engine(postgres_url)
    try:
        with engine.connect() as holder:
            holder.execute(text("LOCK TABLE trips IN SHARE MODE"))  # inserts wait for it
            posting = threading.Thread(target=post)
            posting.start()
            _wait_until_waiting_for_a_lock_on(holder, "trips")
            rider = {"Authorization": f"Bearer {svc.tokens.mint_rider_token(user_id)}"}
            link = {"rider_ref": "links-meanwhile", "scenarios": ["bike"]}
            granted = client.put(f"/v1/me/consents/{operator_id}", headers=rider, json=link)
            assert granted.get_json()["credited_trips"] == 0  # the trip is not committed yet
            holder.rollback()
        posting.join(timeout=30)
        assert answers["batch"].status_code == 200, answers["batch"].get_json()
        first = answers["batch"].get_json()["results"][0]
        assert (first["status"], first["reasons"]) == ("rejected", ["no_consent"])  # as judged
        seen = client.get(f"/v1/trips/{batch[0]['trip_id']}", headers=headers).get_json()
        assert (seen["status"], seen["points"], seen["reasons"]) == ("credited", 230, [])
        assert _pending(svc, account_id) == 230
        with svc.db.reading() as session:
            statuses = collections.Counter(session.scalars(select(Trip.status)))
        assert statuses == collections.Counter(credited=1, rejected=size - 1)  # never linked
    finally:
        engine.dispose()
        svc.db.dispose()


def test_a_failed_look_for_consents_after_the_commit_leaves_the_answer_whole(
    svc, client, city, monkeypatch
):
    """The batch is committed before it looks for consents granted meanwhile: should that look
    fail, the operator still gets the batch's answer (a retry would only echo it)."""
    _, headers = _operator(svc)

    def database_gone(*_args, **_kwargs):
        raise OperationalError("SELECT", {}, Exception("the server closed the connection"))

    monkeypatch.setattr(store, "consents_for", database_gone)
    [result] = _post(client, headers, [_trip("never-links")])["results"]
    assert (result["status"], result["reasons"]) == ("rejected", ["no_consent"])


def _wait_until_waiting_for_a_lock_on(connection, table: str) -> None:
    """Return once another session waits for a lock on ``table`` (for up to 10 s)."""
    waiting = text("SELECT count(*) FROM pg_locks"
                   " WHERE NOT granted AND relation = CAST(:t AS regclass)")  # fmt: skip
    for _ in range(200):
        with connection.engine.connect() as looking:
            if looking.scalar(waiting, {"t": table}):
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing waited for a lock on {table}")


def test_mds_trips_are_ingested_the_same_way(svc, client, city):
    operator_id, headers = _operator(svc)
    rider_ref, _ = _linked_rider(svc, operator_id)
    ended = NOW - dt.timedelta(hours=2)
    mds = {
        "provider_id": str(uuid.uuid4()), "device_id": str(uuid.uuid4()),
        "trip_id": str(uuid.uuid4()), "vehicle_type": "bicycle",
        "start_time": int((ended - dt.timedelta(minutes=12)).timestamp() * 1000),
        "end_time": int(ended.timestamp() * 1000),
        "start_location": {"lat": STREET[0], "lng": STREET[1]},
        "end_location": {"lat": IN_CORRAL[0], "lng": IN_CORRAL[1]},
        "distance": 2350, "duration": 720, "rider_ref": rider_ref,
    }  # fmt: skip
    car = {**mds, "trip_id": str(uuid.uuid4()), "vehicle_type": "car"}
    answer = client.post("/v1/mds/trips", headers=headers, json={"trips": [mds, car]}).get_json()
    assert answer["results"][0]["status"] == "credited" and answer["results"][0]["points"] == 230
    assert answer["failures"][0]["error"] == "unsupported_vehicle"


def test_no_parking_and_outside_the_service_area(svc, client, city):
    operator_id, headers = _operator(svc)
    rider_ref, _ = _linked_rider(svc, operator_id)
    plaza = _trip(rider_ref, end=IN_PLAZA, distance_m=1800, ended=NOW - dt.timedelta(hours=8))
    away = _trip(rider_ref, end=FAR_AWAY, distance_m=4500, ended=NOW - dt.timedelta(hours=6),
                 minutes=20)  # fmt: skip
    results = _post(client, headers, [plaza, away])["results"]
    assert (results[0]["status"], results[0]["points"]) == ("credited", 0)
    assert "no_parking_zone" in results[0]["reasons"]
    assert results[1]["status"] == "rejected" and "outside_service_area" in results[1]["reasons"]


def test_concurrent_copies_of_one_batch_credit_each_trip_once(svc, app, city):
    operator_id, headers = _operator(svc)
    riders = [_linked_rider(svc, operator_id) for _ in range(20)]
    trips = [
        _trip(riders[i % 20][0], ended=NOW - dt.timedelta(hours=1 + i // 20)) for i in range(200)
    ]
    statuses: list[int] = []
    credited: list[int] = []

    def submit():
        answer = app.test_client().post("/v1/trips", headers=headers, json={"trips": trips})
        statuses.append(answer.status_code)
        if answer.status_code == 200:
            credited.append(sum(r["status"] == "credited" for r in answer.get_json()["results"]))

    threads = [threading.Thread(target=submit) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert statuses == [200] * 64
    assert sum(credited) == 200
    for _, account_id in riders:
        assert _pending(svc, account_id) == 10 * 230
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])


def test_concurrent_small_requests_are_each_answered_as_if_alone(svc, app, city):
    """Small requests arriving together may share a batch (``service.ingest.coalesce``);
    each still gets its own answer, its own indexes, and every trip is credited once."""
    operator_id, headers = _operator(svc)
    riders = [_linked_rider(svc, operator_id) for _ in range(8)]
    trips = [_trip(riders[i % 8][0], ended=NOW - dt.timedelta(hours=1 + i // 8)) for i in range(32)]
    bodies = [[trip] for trip in trips]  # one trip a request
    bodies += [[trip] for trip in trips[:8]]  # the same trip again, concurrently
    bodies += [[{**trip, "distance_m": 2400}] for trip in trips[8:12]]  # same id, other content
    bodies += [[_trip(riders[0][0], ended=NOW - dt.timedelta(days=2, hours=i)), {"trip_id": 5}]
               for i in range(4)]  # fmt: skip
    answers: dict[int, tuple[int, dict]] = {}
    start = threading.Barrier(16, timeout=60)

    def submit(first: int) -> None:
        client = app.test_client()
        start.wait()
        for n in range(first, len(bodies), 16):
            answer = client.post("/v1/trips", headers=headers, json={"trips": bodies[n]})
            answers[n] = (answer.status_code, answer.get_json())

    threads = [threading.Thread(target=submit, args=(first,)) for first in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(answers) == list(range(len(bodies)))
    assert {status for status, _ in answers.values()} == {200}
    credited = collections.Counter()
    for n, (_, body) in answers.items():
        assert body["total"] == len(bodies[n]) == body["success"] + len(body["failures"])
        for result, sent in zip(body["results"], bodies[n], strict=False):
            assert result["trip_id"] == sent["trip_id"]
            credited[sent["trip_id"]] += result["status"] == "credited"
    assert all(credited[trip["trip_id"]] == 1 for trip in trips)
    for n in range(40, 44):  # the same trip_id with other content: a conflict at index 0
        assert [(f["index"], f["error"]) for f in answers[n][1]["failures"]] == [(0, "conflict")]
    for n in range(44, 48):  # one good trip, one unreadable at index 1
        body = answers[n][1]
        assert [r["status"] for r in body["results"]] == ["credited"]
        assert [(f["index"], f["field"]) for f in body["failures"]] == [(1, "trip_id")]
    assert _pending(svc, riders[0][1]) == 4 * 230 + 4 * 230
    assert all(_pending(svc, account) == 4 * 230 for _, account in riders[1:])
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])


def test_rows_already_stored_are_skipped_not_duplicated(svc):
    table = ApiClient.__table__
    now = dt.datetime.now(dt.UTC)

    def row(client_id):
        return {"client_id": client_id, "name": client_id, "kind": "operator",
                "secret_hash": "x" * 64, "scopes": "trips:write", "created_at": now,
                "revoked_at": None}  # fmt: skip

    with svc.db.transaction() as session:
        assert bulk.insert_missing(session, table, [row("a"), row("b")], "client_id") == {"a", "b"}
    with svc.db.transaction() as session:
        added = bulk.insert_missing(session, table, [row("b"), row("c"), row("a")], "client_id")
    assert added == {"c"}
    with svc.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(table)) == 3


def test_concurrent_copies_of_rejected_trips_store_each_once(svc, app, city):
    _, headers = _operator(svc)
    trips = [_trip(f"unlinked-{i}") for i in range(100)]
    answers = []

    def submit():
        answers.append(app.test_client().post("/v1/trips", headers=headers, json={"trips": trips}))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [a.status_code for a in answers] == [200] * 8
    first_answers = [
        r for a in answers for r in a.get_json()["results"] if r["status"] == "rejected"
    ]
    assert sorted(r["trip_id"] for r in first_answers) == sorted(t["trip_id"] for t in trips)
    listed = client_pages(app, headers)
    assert sorted(listed) == sorted(t["trip_id"] for t in trips)


def client_pages(app, headers):
    seen, cursor = [], None
    for _ in range(10):
        query = "/v1/trips?status=rejected&limit=30" + (f"&cursor={cursor}" if cursor else "")
        page = app.test_client().get(query, headers=headers).get_json()
        seen.extend(t["trip_id"] for t in page["trips"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    return seen


def test_metro_by_stations_and_bus_by_the_ride(svc, client, city):
    operator_id, headers = _operator(svc)
    rider_ref, account_id = _linked_rider(svc, operator_id)
    ended = NOW - dt.timedelta(hours=4)

    def transit(mode, minutes, **fields):
        return {"trip_id": f"t-{uuid.uuid4().hex[:10]}", "mode": mode, "rider_ref": rider_ref,
                "start_time": (ended - dt.timedelta(minutes=minutes)).isoformat(),
                "end_time": ended.isoformat(), **fields}  # fmt: skip

    # Line 1, Shanghai Railway Station to People's Square: 1.009 + 0.831 + 0.931 = 2.771 km;
    # 97 g/pkm x 2.771 pkm = 268.787 g -> 268 g.
    metro = transit("metro", 9, entry_station="shanghai_railway_station",
                    exit_station="peoples_square")  # fmt: skip
    ended -= dt.timedelta(hours=1)
    bus = transit("bus", 20, line_id="71")  # Shanghai bus: 422 g a ride
    ended -= dt.timedelta(hours=1)
    lineless = transit("bus", 20)
    results = _post(client, headers, [metro, bus, lineless])["results"]
    assert [(r["status"], r["co2_g"], r["points"]) for r in results[:2]] == [
        ("credited", 268, 268),
        ("credited", 422, 422),
    ]
    assert results[2]["status"] == "rejected" and "missing_line" in results[2]["reasons"]
    receipt = client.get(f"/v1/trips/{metro['trip_id']}", headers=headers).get_json()["receipt"]
    assert receipt["quantity"]["basis"] == "station_table"
    assert _pending(svc, account_id) == 268 + 422


def test_a_judged_batch_stores_what_its_riders_locks_decided(svc, client, city):
    """A big batch's trips go in before its riders' locks, as credited in full; what is only
    decided under the locks (an overlap within the batch or with another operator's trip, the
    daily cap, a bad parking's consequence) is what is answered, stored, credited and rolled
    up."""
    operator_id, headers = _operator(svc)
    other_id, other = _operator(svc)
    capped_ref, capped_account = _linked_rider(svc, operator_id)
    both_ref, both_account = _linked_rider(svc, operator_id)
    consents.grant(svc.db, account_user(svc, both_account), other_id, rider_ref="both-at-other",
                   scenarios=["bike"])  # fmt: skip
    parked_ref, parked_account = _linked_rider(svc, operator_id)
    zone = svc.policy.zone
    yesterday = NOW.astimezone(zone).date() - dt.timedelta(days=1)
    first_end = dt.datetime.combine(yesterday, dt.time(6, 0), tzinfo=zone)
    # 22 trips of 230 points in one local day go over the 5,000-point cap.
    day = [_trip(capped_ref, ended=first_end + dt.timedelta(minutes=30 * k)) for k in range(24)]
    overlapping = _trip(capped_ref, ended=first_end + dt.timedelta(minutes=5))
    elsewhere = first_end - dt.timedelta(days=2)
    [earlier] = _post(client, other, [_trip("both-at-other", ended=elsewhere)])["results"]
    assert earlier["status"] == "credited"
    over_other = _trip(both_ref, ended=elsewhere + dt.timedelta(minutes=4))
    plaza = _trip(parked_ref, end=IN_PLAZA, distance_m=1800, ended=elsewhere)
    batch = [*day, overlapping, over_other, plaza]
    assert len(batch) > JUDGE_FIRST_ABOVE

    answers = {r["trip_id"]: r for r in _post(client, headers, batch)["results"]}

    def verdict(trip):
        answer = answers[trip["trip_id"]]
        return answer["status"], answer["points"], answer["reasons"]

    assert [verdict(t) for t in day] == [
        *[("credited", 230, [])] * 21,
        ("credited", 170, ["daily_cap_reached"]),
        ("credited", 0, ["daily_cap_reached"]),
        ("credited", 0, ["daily_cap_reached"]),
    ]
    assert verdict(overlapping) == ("rejected", 0, ["overlapping_trip"])
    assert verdict(over_other) == ("rejected", 0, ["overlapping_trip"])
    assert verdict(plaza) == ("credited", 0, ["no_parking_zone"])
    for trip in batch:
        seen = client.get(f"/v1/trips/{trip['trip_id']}", headers=headers).get_json()
        assert (seen["status"], seen["points"], seen["reasons"]) == verdict(trip), trip
    stored_plaza = client.get(f"/v1/trips/{plaza['trip_id']}", headers=headers).get_json()
    assert stored_plaza["parking"]["consequence"]["kind"] == "reminder"
    assert _pending(svc, capped_account) == 5000
    assert _pending(svc, both_account) == 230
    assert _pending(svc, parked_account) == 0
    listed = client.get("/v1/trips?status=rejected", headers=headers).get_json()["trips"]
    assert {t["trip_id"] for t in listed} == {overlapping["trip_id"], over_other["trip_id"]}
    journal.fold_now(svc.db)
    with svc.db.reading() as session:  # 24 + the plaza trip, and the other operator's
        assert session.scalar(select(func.sum(PlannerCell.starts))) == 26
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])


def test_a_judged_batch_that_fails_leaves_none_of_its_trips(svc, client, city, monkeypatch):
    """The trips go in first, in the batch's one transaction: when settling the credits fails,
    none of the trips is left behind (taken, yet never credited)."""
    operator_id, headers = _operator(svc)
    riders = [_linked_rider(svc, operator_id) for _ in range(5)]
    trips = [_trip(riders[i % 5][0], ended=NOW - dt.timedelta(hours=2 * (1 + i // 5)))
             for i in range(2 * bulk.FEW_ROWS)]  # fmt: skip

    def settle_fails(*args, **kwargs):
        raise RuntimeError("the credits could not be written")

    monkeypatch.setattr(store, "settle_accepted", settle_fails)
    failed = client.post("/v1/trips", headers=headers, json={"trips": trips})
    assert failed.status_code == 500
    monkeypatch.undo()
    listed = client.get("/v1/trips?limit=5", headers=headers).get_json()["trips"]
    assert listed == []
    results = _post(client, headers, trips)["results"]
    assert {r["status"] for r in results} == {"credited"}


def test_trips_stored_while_a_judged_batch_was_judged_count_once(svc, client, city, monkeypatch):
    """Another request stored some of a big batch's trips after the batch looked for them:
    its insert finds them taken (by COPY, then row by row past the taken ones) and answers
    them as stored; the rest are credited, nothing twice."""
    operator_id, headers = _operator(svc)
    riders = [_linked_rider(svc, operator_id) for _ in range(20)]
    trips = [_trip(riders[i % 20][0], ended=NOW - dt.timedelta(hours=1 + i // 20))
             for i in range(3 * bulk.FEW_ROWS // 2)]  # fmt: skip
    assert len(trips) > max(JUDGE_FIRST_ABOVE, bulk.FEW_ROWS)
    first = _post(client, headers, trips[::7])["results"]
    assert {r["status"] for r in first} == {"credited"}
    look_for_stored = store.stored_trips
    looks = []

    def nothing_stored_yet(session, uids):
        looks.append(uids)
        return {} if len(looks) == 1 else look_for_stored(session, uids)

    monkeypatch.setattr(store, "stored_trips", nothing_stored_yet)
    results = _post(client, headers, trips)["results"]
    assert len(looks) == 2  # before judging, and once the taken ones were refused
    taken = {t["trip_id"] for t in trips[::7]}
    for trip, result in zip(trips, results, strict=True):
        if trip["trip_id"] in taken:
            assert (result["status"], result["original_status"], result["points"]) == (
                "duplicate", "credited", 230)  # fmt: skip
        else:
            assert (result["status"], result["points"]) == ("credited", 230)
    assert sum(_pending(svc, account) for _, account in riders) == len(trips) * 230
    journal.fold_now(svc.db)
    with svc.db.reading() as session:
        assert session.scalar(select(func.sum(PlannerCell.starts))) == len(trips)
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])


def _post_together(app, headers, batches):
    """Each batch in a request of its own, all sent at once; the answers as they came."""
    answers = []

    def submit(batch):
        answers.append(app.test_client().post("/v1/trips", headers=headers, json={"trips": batch}))

    threads = [threading.Thread(target=submit, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_concurrent_batches_sharing_riders_neither_deadlock_nor_retry(postgres_url, tmp_path,
                                                                       monkeypatch):  # fmt: skip
    """Two big batches of the same riders put their trips in, then both ask for the riders'
    locks: the trips' references to the accounts do not stand in the way, so one batch waits
    for the other's commit, and neither is chosen as a deadlock victim and written again.
    (PostgreSQL: SQLite runs one writer at a time. Two batch writers, as two processes have.)"""
    app = create_app({"database_url": postgres_url, "var_dir": tmp_path / "var",
                      "redis_url": None, "ingest_batch_writers": 2})  # fmt: skip
    svc = app.extensions["greenpoints"]
    _, admin = _admin(svc)
    assert app.test_client().post("/v1/fences", headers=admin, json=CITY_ZONES).status_code == 201
    operator_id, headers = _operator(svc)
    riders = [_linked_rider(svc, operator_id) for _ in range(20)]
    size = SMALL_REQUEST + 20  # each request its own batch, as no smaller one waits
    batches = [[_trip(riders[i % 20][0], ended=NOW - dt.timedelta(hours=2 * (1 + i // 20 + k)))
                for i in range(size)] for k in (0, size // 20)]  # fmt: skip
    both_inserted = threading.Barrier(2, timeout=60)
    locking, attempts = itertools.count(), itertools.count()
    send_lock, ingest_once = Ledger.send_lock, Ingestor._ingest_once

    def send_lock_together(self, account_ids):
        if next(locking) < 2:
            both_inserted.wait()
        return send_lock(self, account_ids)

    def counted(self, *args, **kwargs):
        next(attempts)
        return ingest_once(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "send_lock", send_lock_together)
    monkeypatch.setattr(Ingestor, "_ingest_once", counted)
    answers = _post_together(app, headers, batches)
    try:
        assert [a.status_code for a in answers] == [200, 200]
        assert [sum(r["status"] == "credited" for r in a.get_json()["results"])
                for a in answers] == [size, size]  # fmt: skip
        assert next(attempts) == 2  # one write of each batch
        assert sum(_pending(svc, account) for _, account in riders) == 2 * size * 230
        assert ledger_ops.verify(svc.db, svc.policy) == ([], [])
    finally:
        svc.db.dispose()


def test_big_batches_sent_at_once_to_one_process_are_written_two_at_a_time(
    svc, app, city, monkeypatch
):
    """Three big batches of different riders arrive together: all are judged, two are written
    side by side on PostgreSQL (two batch writers a process by default), and the third one's
    write transaction begins only once one of theirs has ended; each is credited in full."""
    operator_id, headers = _operator(svc)
    riders = [_linked_rider(svc, operator_id)[0] for _ in range(60)]
    size = SMALL_REQUEST + 20  # each request its own batch
    batches = [[_trip(riders[20 * k + i % 20], ended=NOW - dt.timedelta(hours=2 * (1 + i // 20)))
                for i in range(size)] for k in (0, 1, 2)]  # fmt: skip
    spans, settle = [], Ingestor._settle_judged

    def slow_settle(self, writing, fresh):
        began = time.monotonic()
        time.sleep(0.5)  # long enough for the other batches to reach their writes meanwhile
        try:
            return settle(self, writing, fresh)
        finally:
            spans.append((began, time.monotonic()))

    monkeypatch.setattr(Ingestor, "_settle_judged", slow_settle)
    answers = _post_together(app, headers, batches)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [sum(r["status"] == "credited" for r in a.get_json()["results"])
            for a in answers] == [size, size, size]  # fmt: skip
    (_, first_ended), (second_began, second_ended), (third_began, _) = sorted(spans)
    if svc.db.dialect == "postgresql":  # SQLite writes one transaction at a time anyway
        assert second_began < first_ended  # two at once
    assert third_began >= min(first_ended, second_ended)  # never three


def test_an_operators_trip_list_is_read_in_order_from_an_index(postgres_url):
    """A page of the operator's trips, with or without a cursor, is read newest first from an
    index: no plan sorts the operator's trips, so a page costs the same however many there
    are. (PostgreSQL's plans; sorting is priced out so that only an index can give the order.)"""
    engine = create_database_engine(postgres_url)
    seen = (dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC), "trp_0123456789abcdef01234567")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET enable_sort = off")
            for after in (None, seen):
                query = operator_trips.page_query("op_demo", None, 51, after)
                compiled = query.compile(dialect=connection.dialect)
                nodes = _plan_nodes(connection, str(compiled), compiled.params)
                assert not any("Sort" in node["Node Type"] for node in nodes), nodes
                assert any(node.get("Index Name") == "ix_trips_operator_created" for node in nodes)
    finally:
        engine.dispose()


def test_the_trips_waiting_for_a_consent_are_read_from_the_rejected_trips_index(postgres_url):
    """When a consent arrives, the rider's rejected trips are found in the index that holds
    rejected trips only, however many trips the operator has credited; also in the generic plan
    of a prepared statement (psycopg prepares a statement run often), since the query states
    the status literally."""
    engine = create_database_engine(postgres_url)
    dialect = postgresql.dialect(paramstyle="numeric_dollar")
    query = store.rejected_of_rider("op_demo", "rider-7", NOW - dt.timedelta(days=7))
    compiled = query.compile(dialect=dialect)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO trips (uid, operator_id, operator_trip_id, rider_ref, mode, "
                "started_at, ended_at, status, reasons, co2_g, points, pollutants_mg, created_at) "
                "SELECT 'trp_' || i, 'op_demo', 't-' || i, 'rider-' || mod(i, 50), 'bike', "
                "now() - i * interval '1 min', now(), "
                "CASE WHEN mod(i, 500) = 7 THEN 'rejected' ELSE 'credited' END, "
                "'[]', 0, 0, '{}', now() "
                "FROM generate_series(1, 5000) AS i"
            )
            connection.exec_driver_sql("ANALYZE trips")
            connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            connection.exec_driver_sql(f"PREPARE waiting AS {compiled}")
            arguments = ", ".join(f"'{compiled.params[name]}'" for name in compiled.positiontup)
            nodes = _plan_nodes(connection, f"EXECUTE waiting({arguments})")
            assert any(node.get("Index Name") == "ix_trips_operator_rider_rejected"
                       for node in nodes), nodes  # fmt: skip
            found = connection.execute(query).all()
            assert [row.operator_trip_id for row in found] == [
                f"t-{i}" for i in (4507, 4007, 3507, 3007, 2507, 2007, 1507, 1007, 507, 7)
            ]
    finally:
        engine.dispose()


def _plan_nodes(connection, statement, params=None):
    """Every node of PostgreSQL's plan for ``statement``, the root first."""
    plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params).scalar_one()
    return list(_with_children(plan[0]["Plan"]))


def _with_children(node):
    yield node
    for child in node.get("Plans", []):
        yield from _with_children(child)


def _postgres_app(database_url, tmp_path):
    """An app of its own on ``database_url`` (no Redis), with the city's zones."""
    app = create_app({"database_url": database_url, "var_dir": tmp_path / "var",
                      "redis_url": None})  # fmt: skip
    svc = app.extensions["greenpoints"]
    _, admin = _admin(svc)
    assert app.test_client().post("/v1/fences", headers=admin, json=CITY_ZONES).status_code == 201
    return app, svc


def _postgres_app_through(relay_port, postgres_url, tmp_path):
    url = make_url(postgres_url).set(host="127.0.0.1", port=relay_port)
    return _postgres_app(url.render_as_string(hide_password=False), tmp_path)


def test_a_one_trip_request_waits_for_postgres_three_times(postgres_url, tmp_path, monkeypatch):
    """BEGIN with the consents and the licence, the locks with what is read under them, then
    the credit, the trip, its journal rows and COMMIT together."""
    target = make_url(postgres_url)
    with round_trip_relay(target.host or "127.0.0.1", target.port or 5432) as relay:
        app, svc = _postgres_app_through(relay.port, postgres_url, tmp_path)
        try:
            operator_id, headers = _operator(svc)
            riders = [_linked_rider(svc, operator_id) for _ in range(3)]
            monkeypatch.setattr(svc.folding, "after_commit", lambda: None)  # folds are apart
            client = app.test_client()
            warm_up, _ = _linked_rider(svc, operator_id)  # the first builds the zone index
            _post(client, headers, [_trip(warm_up)])
            waits = []
            for rider_ref, _ in riders:
                before = relay.round_trips
                [result] = _post(client, headers, [_trip(rider_ref)])["results"]
                waits.append(relay.round_trips - before)
                assert (result["status"], result["points"]) == ("credited", 230)
            assert waits == [3, 3, 3]
            assert [_pending(svc, account) for _, account in riders] == [230, 230, 230]
        finally:
            svc.db.dispose()


def test_a_one_trip_requests_lookups_run_on_generic_plans(postgres_url, tmp_path, monkeypatch):
    """A statement is prepared from its first run; PostgreSQL would still plan each run for
    its one value (its generic plan assumes ten), which took about a third of a one-trip
    request's statement time. The few-trip transaction asks for generic plans instead."""
    app, svc = _postgres_app(postgres_url, tmp_path)
    try:
        operator_id, headers = _operator(svc)
        riders = [_linked_rider(svc, operator_id) for _ in range(8)]
        monkeypatch.setattr(svc.folding, "after_commit", lambda: None)  # one connection at work
        client = app.test_client()
        for rider_ref, _ in riders:
            [result] = _post(client, headers, [_trip(rider_ref)])["results"]
            assert result["status"] == "credited"
        with svc.db.reading() as session:
            prepared = session.execute(text(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
            )).all()  # fmt: skip
    finally:
        svc.db.dispose()
    # Each lookup ran 8 times, prepared, each time on the generic plan.
    lookups = ("SELECT consents.rider_ref", "FOR NO KEY UPDATE", "SELECT trips.uid",
               "SELECT trips.account_id", "SELECT daily_credits")  # fmt: skip
    plans = {lookup: (generic, custom) for statement, generic, custom in prepared
             for lookup in lookups if lookup in statement}  # fmt: skip
    assert plans == dict.fromkeys(lookups, (8, 0))


def test_a_write_failing_beside_the_commit_leaves_nothing(svc, client, city, monkeypatch):
    """The last round trip carries the credit, the trip and COMMIT: a trip row the database
    refuses there (a mode its check does not know) must take the credit with it."""
    operator_id, headers = _operator(svc)
    rider_ref, account_id = _linked_rider(svc, operator_id)
    trip_row = store.trip_row
    monkeypatch.setattr(store, "trip_row",
                        lambda *args: {**trip_row(*args), "mode": "hovercraft"})  # fmt: skip
    refused = client.post("/v1/trips", headers=headers, json={"trips": [_trip(rider_ref)]})
    assert refused.status_code == 500
    with svc.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Trip)) == 0
    assert _pending(svc, account_id) == 0
    monkeypatch.setattr(store, "trip_row", trip_row)
    [result] = _post(client, headers, [_trip(rider_ref)])["results"]
    assert (result["status"], result["points"]) == ("credited", 230)
    assert _pending(svc, account_id) == 230
