"""A stopped or frozen Redis degrades the service; it never hangs it."""

from __future__ import annotations

import time

import requests

BUDGET_S = 1.0


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


def _wait_for_health(service, status, within_s):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if requests.get(service.url("/health"), timeout=5).json()["status"] == status:
            return True
        time.sleep(0.2)
    return False


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
    assert _wait_for_health(service, "ok", within_s=10)


def test_stopped_redis(redis_backed_service):
    service, redis_server = redis_backed_service
    client = _client(service)
    redis_server.stop()
    _check_degraded_but_answering(service, client)
    redis_server.start()
    assert _wait_for_health(service, "ok", within_s=10)
