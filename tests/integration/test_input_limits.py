"""Input the database cannot hold or the calendar cannot count is refused as invalid, naming
the field, on both databases: NUL in text, numbers past a column, months out of range, moves
between places that are no dispatch units. Each case once answered 500 on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import h3
import pytest

from service.usecases import rebalancing
from tests.factories import client_headers, rider_headers

PROBLEM = "application/problem+json"
NUL_MESSAGE = "text may not contain NUL (U+0000) characters"
CELL = h3.latlng_to_cell(31.2304, 121.4737, 9)  # a dispatch unit at the default resolution


@pytest.fixture
def svc(app):
    return app.extensions["greenpoints"]


def _problem(answer, status):
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.content_type == PROBLEM
    body = answer.get_json()
    assert body["status"] == status
    return body


def test_nul_in_a_json_field_is_refused_naming_it(svc, client):
    operator_id, _ = client_headers(svc, "operator")
    body = {"rider_ref": "u-1\u0000", "scenarios": ["bike"]}
    answer = client.put(f"/v1/me/consents/{operator_id}", headers=rider_headers(svc)[2], json=body)
    assert _problem(answer, 422)["errors"] == {"rider_ref": [NUL_MESSAGE]}


def test_nul_in_a_nested_field_is_refused_with_its_path(svc, client):
    _, operator = client_headers(svc, "operator")
    body = {"moves": [{"from_unit": CELL, "to_unit": "\u0000", "vehicles": 1}]}
    answer = client.post("/v1/rebalancing/moves", headers=operator, json=body)
    assert _problem(answer, 422)["errors"] == {"moves.0.to_unit": [NUL_MESSAGE]}


def test_nul_in_a_query_parameter_is_refused_naming_it(svc, client):
    _, operator = client_headers(svc, "operator")
    answer = client.get("/v1/trips?cursor=a%00", headers=operator)
    assert _problem(answer, 422)["errors"] == {"cursor": [NUL_MESSAGE]}


def test_nul_in_a_path_names_nothing(svc, client):
    _, operator = client_headers(svc, "operator")
    _problem(client.get("/v1/trips/a%00", headers=operator), 404)


def test_nul_in_the_token_request_is_an_invalid_request(client):
    form = {"grant_type": "client_credentials", "client_id": "c\u0000", "client_secret": "s"}
    body = _problem(client.post("/v1/oauth/token", data=form), 400)
    assert (body["error"], body["errors"]) == ("invalid_request", {"client_id": [NUL_MESSAGE]})


def test_nul_in_a_fence_document_is_refused_naming_it(svc, client):
    _, admin = client_headers(svc, "admin")
    zone = {"type": "Feature", "geometry": None, "properties": {"zone_id": "z\u0000"}}
    answer = client.post("/v1/fences", headers=admin, json=zone)
    assert _problem(answer, 422)["errors"] == {"properties.zone_id": [NUL_MESSAGE]}


def test_a_trip_with_nul_fails_alone_naming_the_field(svc, client):
    _, operator = client_headers(svc, "operator")
    trip = {
        "trip_id": "t-\u0000",
        "mode": "bike",
        "rider_ref": "r-1",
        "start_time": "2026-11-02T08:00:00+08:00",
        "end_time": "2026-11-02T08:12:00+08:00",
    }
    answer = client.post("/v1/trips", headers=operator, json={"trips": [trip]}).get_json()
    assert [(f["index"], f["field"]) for f in answer["failures"]] == [(0, "trip_id")]


def test_vehicles_past_the_columns_fail_alone(svc, client):
    _, operator = client_headers(svc, "operator")
    far = {"vehicle_id": "B-1", "lat": 31.23, "lon": 121.47, "is_reserved": False,
           "is_disabled": False, "current_range_meters": 1e30}  # fmt: skip
    gbfs = client.post("/v1/vehicles/status", headers=operator,
                       json={"data": {"vehicles": [far]}}).get_json()  # fmt: skip
    assert [f["field"] for f in gbfs["failures"]] == ["current_range_meters"]
    late = {
        "device_id": "D-1",
        "last_event": {"vehicle_state": "available", "timestamp": 10**20},
        "last_telemetry": {"timestamp": 0, "location": {"lat": 31.23, "lng": 121.47}},
    }
    mds = client.post("/v1/mds/vehicles/status", headers=operator,
                      json={"vehicles_status": [late]}).get_json()  # fmt: skip
    assert [f["field"] for f in mds["failures"]] == ["last_event.timestamp"]


def test_points_past_the_ledger_are_refused(svc, client):
    _, admin = client_headers(svc, "admin")
    item = {"item_id": "big", "kind": "coupon", "title": "Big", "cost_points": 10**30}
    answer = client.post("/v1/catalog/items", headers=admin, json=item)
    assert set(_problem(answer, 422)["errors"]) == {"cost_points"}


@pytest.mark.parametrize("path", ["/v1/reports/reductions", "/v1/reports/reductions/evidence"])
def test_a_month_outside_the_calendar_is_refused(svc, client, path):
    _, admin = client_headers(svc, "admin")
    for period in ("0000-01", "9999-12"):
        answer = client.get(f"{path}?period={period}", headers=admin)
        assert set(_problem(answer, 422)["errors"]) == {"period"}


def test_moves_go_between_dispatch_units(svc, client):
    _, operator = client_headers(svc, "operator")
    body = {"moves": [{"from_unit": CELL, "to_unit": "somewhere", "vehicles": 1}]}
    answer = client.post("/v1/rebalancing/moves", headers=operator, json=body)
    assert _problem(answer, 422)["errors"] == {"moves.0.to_unit": ["not a dispatch unit"]}
    assert client.get("/v1/rebalancing/recommendations", headers=operator).status_code == 200


def test_riders_get_incentive_maps_of_operators_only(svc, client):
    rider = rider_headers(svc)[2]
    answer = client.get("/v1/rebalancing/incentives?operator_id=nobody", headers=rider)
    _problem(answer, 404)
    too_long = client.get(f"/v1/rebalancing/incentives?operator_id={'x' * 65}", headers=rider)
    assert set(_problem(too_long, 422)["errors"]) == {"operator_id"}
    operator_id, _ = client_headers(svc, "operator")
    shown = client.get(f"/v1/rebalancing/incentives?operator_id={operator_id}", headers=rider)
    assert shown.status_code == 200, shown.get_json()


class _ZonesOfAnotherDay:
    """The dispatch units of a deployment that ran on parking zones before it moved to H3."""

    def is_unit(self, unit):
        return True


def test_a_move_recorded_under_other_units_is_left_out(svc, client):
    operator_id, operator = client_headers(svc, "operator")
    move = {"from_unit": "corral-east-exit", "to_unit": "peoples-square", "vehicles": 3}
    rebalancing.start_moves(svc.db, _ZonesOfAnotherDay(), operator_id, [move],
                            dt.datetime.now(dt.UTC))  # fmt: skip
    answer = client.get("/v1/rebalancing/recommendations", headers=operator)
    assert answer.status_code == 200, answer.get_json()
