"""A zone published through one gunicorn worker is in force in the other within seconds."""

from __future__ import annotations

import time

import requests

from tests.e2e.conftest import client_token
from tests.geo_fixtures import CITY_ZONES, IN_PLAZA

TIMEOUT = 10


def _headers(service, kind):
    _, headers = client_token(service, kind)
    return {**headers, "Connection": "close"}


def _allowed(service, headers):
    """One check on a fresh connection, so the two workers take turns at random."""
    lat, lng = IN_PLAZA
    answer = requests.get(service.url("/v1/parking/check"), headers=headers,
                          params={"lat": lat, "lng": lng}, timeout=TIMEOUT)  # fmt: skip
    assert answer.status_code == 200
    return answer.json()["allowed"]


def test_zone_change_reaches_every_worker_without_restart(service):
    operator = _headers(service, "operator")
    admin = _headers(service, "admin")
    # Both workers build their index with no zones: parking is allowed everywhere.
    assert all(_allowed(service, operator) for _ in range(30))

    published = requests.post(service.url("/v1/fences"), headers=admin, json=CITY_ZONES,
                              timeout=TIMEOUT)  # fmt: skip
    assert published.status_code == 201
    changed_at = time.monotonic()

    consecutive, deadline = 0, changed_at + 10
    while consecutive < 40 and time.monotonic() < deadline:
        consecutive = consecutive + 1 if not _allowed(service, operator) else 0
    assert consecutive == 40, "some worker still answers with the old zones"
    assert time.monotonic() - changed_at < 5
