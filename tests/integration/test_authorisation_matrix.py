"""Every endpoint against every kind of caller: only the intended ones get past the guard, and
another caller's objects answer 404.

The matrix (``tests.route_callers``) is written out by hand, from what each endpoint is for; a
route missing from it fails the test, so a new endpoint has to say who may call it.
"""

from __future__ import annotations

import datetime as dt
import re

import h3
import pytest

from service.usecases import consents
from tests.factories import client_headers, rider_headers
from tests.route_callers import INTENDED


@pytest.fixture
def svc(app):
    return app.extensions["greenpoints"]


def test_every_route_is_in_the_matrix(app):
    routes = {
        (r.rule, m) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == set(INTENDED), (routes - set(INTENDED), set(INTENDED) - routes)


def test_only_the_intended_callers_get_past_the_guard(app, svc, client):
    callers = {"none": {}, "rider": rider_headers(svc)[2]}
    for kind in ("operator", "planner", "admin"):
        callers[kind] = client_headers(svc, kind)[1]
    checked = 0
    for (rule, method), intended in sorted(INTENDED.items()):
        path = re.sub(r"<[^>]+>", "x", rule)
        for kind, headers in callers.items():
            answer = client.open(path, method=method, headers=headers, json={})
            if kind in intended:
                assert answer.status_code not in (401, 403), (method, rule, kind, answer.json)
            else:
                expected = 401 if kind == "none" else 403
                assert answer.status_code == expected, (method, rule, kind, answer.status_code)
                assert answer.content_type == "application/problem+json"
            checked += 1
    assert checked == len(INTENDED) * len(callers)


def test_another_callers_objects_answer_404(svc, client):
    operator_id, operator = client_headers(svc, "operator")
    other_operator_id, other_operator = client_headers(svc, "operator")
    user_id, _, rider = rider_headers(svc)
    _, _, other_rider = rider_headers(svc)
    consents.grant(svc.db, user_id, operator_id, rider_ref="u-1", scenarios=["bike"])
    ended = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
    trip = {"trip_id": "t-1", "mode": "bike", "rider_ref": "u-1", "vehicle_id": "B-1",
            "start_time": (ended - dt.timedelta(minutes=5)).isoformat(),
            "end_time": ended.isoformat(), "start": {"lat": 31.2304, "lng": 121.4737},
            "end": {"lat": 31.2243, "lng": 121.4768}, "distance_m": 900}  # fmt: skip
    (result,) = client.post("/v1/trips", headers=operator, json={"trips": [trip]}).get_json()[
        "results"
    ]
    uid = result["trip_uid"]
    cell = h3.latlng_to_cell(31.2304, 121.4737, 9)  # a dispatch unit at the default resolution
    body = {"moves": [{"from_unit": cell, "to_unit": h3.grid_ring(cell, 1)[0], "vehicles": 1}]}
    move = client.post("/v1/rebalancing/moves", headers=operator, json=body).get_json()["moves"][0]
    mine_and_theirs = [
        (f"/v1/trips/{trip['trip_id']}", "GET", operator, other_operator),
        (f"/v1/me/trips/{uid}", "GET", rider, other_rider),
        (f"/v1/operators/{operator_id}/licence", "GET", operator, other_operator),
        (f"/v1/rebalancing/moves/{move['id']}/done", "POST", operator, other_operator),
    ]
    for path, method, owner, stranger in mine_and_theirs:
        assert client.open(path, method=method, headers=stranger).status_code == 404, path
        assert client.open(path, method=method, headers=owner).status_code in (200, 404), path
    assert client.get(f"/v1/trips/{trip['trip_id']}", headers=operator).status_code == 200
    assert client.get(f"/v1/me/trips/{uid}", headers=rider).status_code == 200
    # Lists show only the caller's own.
    assert client.get("/v1/trips", headers=other_operator).get_json()["trips"] == []
    assert client.get("/v1/rebalancing/moves", headers=other_operator).get_json()["moves"] == []
    assert client.get("/v1/parking/compliance", headers=other_operator).get_json()["zones"] == []
    assert client.get("/v1/me/consents", headers=other_rider).get_json()["consents"] == []
    assert other_operator_id != operator_id
