"""A stopped or frozen Redis degrades the service; it never hangs it, and trips posted during
the outage are all credited exactly once."""

from __future__ import annotations

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
from tests.servers import PrivateRedis, fresh_postgres_database, postgres_admin_url

BUDGET_S = 1.0
BACK_WITHIN_S = 10


def _timed_get(service, path):
    started = time.monotonic()
    answer = requests.get(service.url(path), timeout=5)
    return answer, time.monotonic() - started


def _timed_token(service, client):
    started = time.monotonic()
    answer = requests.post(
        service.url("/v1/oauth/token"),
        data={"grant_type": "client_credentials", **client},
        timeout=5,
    )
    return answer, time.monotonic() - started


def _client(service):
    output = service.cli("clients", "create", "--kind", "operator", "--name", "Bikes")
    return dict(line.split("=", 1) for line in output.strip().splitlines()[:2])


def _check_degraded_but_answering(service, client):
    # Several requests, so both gunicorn workers meet the outage.
    for _ in range(4):
        health, elapsed = _timed_get(service, "/health")
        assert elapsed < BUDGET_S, f"/health took {elapsed:.2f}s"
        assert health.json() == {"status": "degraded", "database": "ok", "redis": "unavailable"}
        token, elapsed = _timed_token(service, client)
        assert elapsed < BUDGET_S, f"token took {elapsed:.2f}s"
        assert token.status_code == 200
        wrong, elapsed = _timed_token(service, {**client, "client_secret": "wrong"})
        assert elapsed < BUDGET_S, f"failed token took {elapsed:.2f}s"
        assert wrong.status_code == 401


def test_frozen_redis(redis_backed_service):
    service, redis_server = redis_backed_service
    client = _client(service)
    assert requests.get(service.url("/health"), timeout=5).json()["status"] == "ok"
    redis_server.freeze()
    try:
        _check_degraded_but_answering(service, client)
    finally:
        redis_server.thaw()
    wait_for_health(service, BACK_WITHIN_S, status="ok")


def test_stopped_redis(redis_backed_service):
    service, redis_server = redis_backed_service
    client = _client(service)
    redis_server.stop()
    _check_degraded_but_answering(service, client)
    redis_server.start()
    wait_for_health(service, BACK_WITHIN_S, status="ok")


@pytest.fixture
def postgres_service_with_redis(tmp_path) -> Iterator[tuple]:
    """The service as it runs in production, on PostgreSQL with a Redis the test may break."""
    redis_server = PrivateRedis(tmp_path)
    redis_server.start()
    try:
        with (
            fresh_postgres_database(postgres_admin_url()) as database_url,
            run_service(tmp_path, database_url, redis_server.url, **ENV) as service,
        ):
            yield service, redis_server
    finally:
        redis_server.stop()


OUTAGE_S = 3
STREAM_BATCHES = 12


def _stream_through(service, break_redis, mend_redis):
    """Trip batches before, during and after the outage: none is refused or lost."""
    city = set_up_city(service, riders=10)
    stream = Stream(service.base_url, city.operator, trip_batches(city, STREAM_BATCHES, 50),
                    pause_s=0.3)  # fmt: skip
    stream.start().wait_for_answers(2, within_s=30)
    break_redis()
    answered_before = len(stream.answers)
    time.sleep(OUTAGE_S)
    answered_during = len(stream.answers) - answered_before
    mend_redis()
    wait_for_health(service, BACK_WITHIN_S, status="ok")
    stream.join(timeout_s=60)
    assert answered_during > 0, "no batch was answered while Redis was out"
    assert stream.troubles == []
    check_answers(stream)
    check_books(service, city, stream)


def test_trips_during_a_frozen_redis(postgres_service_with_redis):
    service, redis_server = postgres_service_with_redis
    _stream_through(service, redis_server.freeze, redis_server.thaw)


def test_trips_during_a_stopped_redis(postgres_service_with_redis):
    service, redis_server = postgres_service_with_redis
    _stream_through(service, redis_server.stop, redis_server.start)
