"""PostgreSQL stopped in the middle of a stream of trip batches, then started again.

While it is down every write answers 503 problem+json within 3 s (never a hang, never a 500);
once it is back the service answers within 10 s, the stream's retries go through, and every
trip is stored and credited exactly once with the books balanced. The database is a cluster of
the test's own, so stopping it disturbs nothing else.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import run_service
from tests.e2e.trip_stream import (
    ENV,
    Stream,
    check_answers,
    check_books,
    set_up_city,
    trip_batches,
    wait_for_health,
)
from tests.geo_fixtures import IN_CORRAL, STREET
from tests.servers import PrivatePostgres

RIDERS = 10
BATCHES = 12
BATCH_SIZE = 50
STOP_AFTER = 3  # batches answered before the database stops
OUTAGE_S = 4  # at least; the probes take what they take on top
WRITE_BUDGET_S = 3.0
BACK_WITHIN_S = 10.0
RETRIES = 500  # a batch's tries at 0.1 s apart outlast the outage


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


def _writes(city):
    """One request of each kind of write a client makes: (what, method, path, keywords)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    trip = {
        "trip_id": "during-outage", "mode": "bike", "rider_ref": city.riders[0][0],
        "vehicle_id": "B-990001", "start_time": (now - dt.timedelta(minutes=12)).isoformat(),
        "end_time": now.isoformat(), "start": {"lat": STREET[0], "lng": STREET[1]},
        "end": {"lat": IN_CORRAL[0], "lng": IN_CORRAL[1]}, "distance_m": 2350,
    }  # fmt: skip
    vehicle = {"vehicle_id": "B-990001", "lat": STREET[0], "lon": STREET[1], "is_reserved": False,
               "is_disabled": False, "last_reported": now.isoformat()}  # fmt: skip
    fleet = {"last_updated": now.isoformat(), "ttl": 60, "version": "3.0",
             "data": {"vehicles": [vehicle]}}  # fmt: skip
    rider = city.riders[0][1]
    return [
        ("a trip batch", "POST", "/v1/trips",
         {"headers": city.operator, "json": {"trips": [trip]}}),
        ("a fleet snapshot", "POST", "/v1/vehicles/status",
         {"headers": city.operator, "json": fleet}),
        ("a consent", "PUT", f"/v1/me/consents/{city.operator_id}",
         {"headers": rider, "json": {"rider_ref": "stream-ref-0", "scenarios": ["bike", "ebike"]}}),
        ("a fence", "DELETE", "/v1/fences/no-such-zone", {"headers": city.admin}),
    ]  # fmt: skip


def _check_unavailable(service, city):
    """Each write answers 503 problem+json within the budget; so does a read of the ledger."""
    account_read = ("an account read", "GET", "/v1/me/account", {"headers": city.riders[0][1]})
    requests_to_make = [*_writes(city), account_read]
    for what, method, path, keywords in requests_to_make:
        started = time.monotonic()
        answer = requests.request(method, service.url(path), timeout=10, **keywords)
        elapsed = time.monotonic() - started
        assert elapsed < WRITE_BUDGET_S, f"{what} took {elapsed:.2f}s"
        assert answer.status_code == 503, (what, answer.status_code, answer.text)
        assert answer.headers["Content-Type"] == "application/problem+json", what
        assert answer.json()["status"] == 503, what
    health = requests.get(service.url("/health"), timeout=10)
    assert health.json() == {"status": "degraded", "database": "unavailable",
                             "redis": "not_configured"}  # fmt: skip


def test_postgres_stopped_then_restarted(postgres, tmp_path):
    with run_service(tmp_path, postgres.url, None, **ENV) as service:
        city = set_up_city(service, RIDERS)
        stream = Stream(service.base_url, city.operator, trip_batches(city, BATCHES, BATCH_SIZE),
                        retries=RETRIES, pause_s=0.2)  # fmt: skip
        stream.start().wait_for_answers(STOP_AFTER, within_s=30)

        postgres.stop()
        stopped_at = time.monotonic()
        for _ in range(2):  # both gunicorn workers, most likely
            _check_unavailable(service, city)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        answered_during_outage = len(stream.answers)
        postgres.start()
        wait_for_health(service, BACK_WITHIN_S, database="ok")
        stream.join(timeout_s=60)

        assert answered_during_outage < BATCHES, "the stream ended before the outage"
        assert 503 in {status for _, status in stream.troubles}, "the stream met no outage"
        assert {status for _, status in stream.troubles} == {503}, stream.troubles
        check_answers(stream)
        check_books(service, city, stream)
