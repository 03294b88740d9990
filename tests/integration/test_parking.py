"""Geofences and e-fence parking through the API, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import request, request_started
from werkzeug.test import Client

from service.api.parking_direct import DirectParkingCheck
from service.auth.clients import create_client
from service.usecases import crediting, ledger_ops
from tests.factories import BIKE_2350M, open_rider
from tests.geo_fixtures import (
    CITY_ZONES,
    FAR_AWAY,
    IN_CORRAL,
    IN_PLAZA,
    NEAR_CORRAL,
    PLAZA_EDGE,
    STREET,
    feature,
    square,
)


@pytest.fixture
def svc(app):
    return app.extensions["greenpoints"]


def _bearer(svc, kind):
    client = create_client(svc.db, kind=kind, name=f"a {kind}")
    scopes = {"admin": ("admin",), "operator": ("parking:read", "trips:write")}[kind]
    token = svc.tokens.issue_access_token(client_id=client.client_id, kind=kind, scopes=scopes)
    return client.client_id, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(svc):
    return _bearer(svc, "admin")[1]


@pytest.fixture
def operator(svc):
    return _bearer(svc, "operator")


@pytest.fixture
def city(client, admin):
    answer = client.post("/v1/fences", headers=admin, json=CITY_ZONES)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _check(client, headers, point, **extra):
    lat, lng = point
    answer = client.get(
        "/v1/parking/check", headers=headers, query_string={"lat": lat, "lng": lng, **extra}
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_published_zones_come_back_in_force(client, city):
    assert [(z["zone_id"], z["version"]) for z in city["zones"]] == [
        ("huangpu-service", 1),
        ("peoples-square", 1),
        ("corral-east-exit", 1),
    ]
    features = client.get("/v1/fences").get_json()["features"]
    assert {f["properties"]["zone_id"] for f in features} == {
        "huangpu-service",
        "peoples-square",
        "corral-east-exit",
    }


def test_parking_answers_say_which_zone_and_why(client, city, operator):
    _, headers = operator
    corral = _check(client, headers, IN_CORRAL)
    assert (corral["allowed"], corral["zone_id"], corral["reason"], corral["parking_category"]) == (
        True,
        "corral-east-exit",
        "in_parking_zone",
        "corral",
    )
    plaza = _check(client, headers, IN_PLAZA)
    assert (plaza["allowed"], plaza["zone_id"], plaza["reason"]) == (
        False,
        "peoples-square",
        "no_parking_zone",
    )
    assert plaza["nearest_allowed"]["zone_id"] == "corral-east-exit"
    assert 240 < plaza["nearest_allowed"]["distance_m"] < 300
    street = _check(client, headers, STREET)
    assert (street["allowed"], street["reason"]) == (True, "global_rules")
    far = _check(client, headers, FAR_AWAY)
    assert (far["allowed"], far["reason"]) == (False, "outside_service_area")


def test_gps_accuracy_gives_the_benefit_of_the_doubt(client, city, operator):
    _, headers = operator
    assert not _check(client, headers, NEAR_CORRAL)["allowed"]
    near = _check(client, headers, NEAR_CORRAL, accuracy_m=10)
    assert (near["allowed"], near["zone_id"]) == (True, "corral-east-exit")
    assert not _check(client, headers, PLAZA_EDGE)["allowed"]
    assert _check(client, headers, PLAZA_EDGE, accuracy_m=10)["allowed"]
    # Deep inside the plaza a poor fix changes nothing.
    assert not _check(client, headers, IN_PLAZA, accuracy_m=50)["allowed"]


def test_bad_query_names_the_field(client, operator):
    _, headers = operator
    answer = client.get("/v1/parking/check", headers=headers, query_string={"lat": 95})
    assert answer.status_code == 422
    assert set(answer.get_json()["errors"]) == {"lat", "lng"}


def _answers(wsgi_app, requests):
    """(status, headers but the date, body) of each (method, query, headers) request."""
    client = Client(wsgi_app)
    seen = []
    for method, query, headers in requests:
        answer = client.open("/v1/parking/check", method=method, query_string=query,
                             headers=headers)  # fmt: skip
        kept = sorted((k, v) for k, v in answer.headers.items() if k != "Date")
        seen.append((answer.status, kept, answer.get_data()))
    return seen


def test_checks_answered_without_flask_are_answered_as_flask_answers_them(
    app, city, operator, admin
):
    operator_id, headers = operator
    # A rack for this operator alone: an answer for anyone else would not name it.
    rack = feature(square(121.4799, 31.2399, 121.4801, 31.2401), zone_id="rack",
                   zone_type="parking", operators=[operator_id])  # fmt: skip
    collection = {"type": "FeatureCollection", "features": [rack]}
    posted = app.test_client().post("/v1/fences", headers=admin, json=collection)
    assert posted.status_code == 201, posted.get_json()
    lat, lng = IN_CORRAL
    requests = [
        ("GET", {"lat": STREET[0], "lng": STREET[1]}, headers),
        ("GET", {"lat": lat, "lng": lng}, headers),
        ("GET", {"lat": NEAR_CORRAL[0], "lng": NEAR_CORRAL[1], "accuracy_m": 10}, headers),
        ("GET", {"lat": IN_PLAZA[0], "lng": IN_PLAZA[1], "vehicle_type": "bicycle"}, headers),
        ("GET", {"lat": FAR_AWAY[0], "lng": FAR_AWAY[1]}, headers),
        ("GET", f"lat={lat}&lng=%31{str(lng)[1:]}&vehicle_type=e+bike", headers),
        ("GET", {"lat": 95, "lng": lng}, headers),
        ("GET", {"lat": lat}, headers),
        ("GET", {"lat": lat, "lng": lng, "accuracy_m": "nan"}, headers),
        ("GET", {"lat": lat, "lng": lng}, {}),
        ("GET", {"lat": lat, "lng": lng}, {"Authorization": "Bearer not-a-token"}),
        ("GET", {"lat": lat, "lng": lng}, admin),
        ("HEAD", {"lat": lat, "lng": lng}, headers),
        ("POST", {"lat": lat, "lng": lng}, headers),
    ]
    flask_only = app.wsgi_app.app
    assert isinstance(app.wsgi_app, DirectParkingCheck)
    direct = _answers(app, requests)
    assert direct == _answers(flask_only, requests)
    assert b'"zone_id":"rack"' in direct[0][2]
    assert [status for status, _, _ in direct] == [
        "200 OK", "200 OK", "200 OK", "200 OK", "200 OK", "200 OK",
        "422 UNPROCESSABLE ENTITY", "422 UNPROCESSABLE ENTITY", "422 UNPROCESSABLE ENTITY",
        "401 UNAUTHORIZED", "401 UNAUTHORIZED", "403 FORBIDDEN",
        "200 OK", "405 METHOD NOT ALLOWED",
    ]  # fmt: skip


def test_only_good_checks_skip_flask(app, city, operator):
    _, headers = operator
    lat, lng = IN_CORRAL
    started = []

    def record(sender, **extra):
        started.append(request.full_path)

    with request_started.connected_to(record, app):
        client = app.test_client()
        good = client.get("/v1/parking/check", headers=headers,
                          query_string={"lat": lat, "lng": lng})  # fmt: skip
        bad = client.get("/v1/parking/check", headers=headers, query_string={"lat": lat})
        unsigned = client.get("/v1/parking/check", query_string={"lat": lat, "lng": lng})
    assert (good.status_code, bad.status_code, unsigned.status_code) == (200, 422, 401)
    assert good.get_json()["zone_id"] == "corral-east-exit"
    assert started == [f"/v1/parking/check?lat={lat}", f"/v1/parking/check?lat={lat}&lng={lng}"]


def test_a_new_version_replaces_the_old_and_withdrawal_ends_it(client, city, admin, operator):
    _, headers = operator
    moved = feature(
        square(121.4790, 31.2395, 121.4810, 31.2405),
        zone_id="peoples-square",
        zone_type="no_parking",
    )
    answer = client.post("/v1/fences", headers=admin, json=moved).get_json()
    assert answer["zones"] == [
        {
            "zone_id": "peoples-square",
            "version": 2,
            "zone_type": "no_parking",
            "replaces": "peoples-square@1",
        }
    ]
    assert _check(client, headers, IN_PLAZA)["allowed"]
    assert not _check(client, headers, STREET)["allowed"]
    assert client.delete("/v1/fences/peoples-square", headers=admin).status_code == 204
    assert _check(client, headers, STREET)["allowed"]
    assert client.delete("/v1/fences/peoples-square", headers=admin).status_code == 404


def test_a_bad_document_is_refused_whole(client, city, admin):
    bad = {
        "type": "FeatureCollection",
        "features": [
            feature(square(121.40, 31.20, 121.41, 31.21), zone_id="ok", zone_type="parking"),
            feature(square(121.40, 31.20, 121.41, 31.21), zone_id="bad", zone_typ="parking"),
        ],
    }
    answer = client.post("/v1/fences", headers=admin, json=bad)
    assert answer.status_code == 422
    assert any(key.startswith("features[1]") for key in answer.get_json()["errors"])
    names = {f["properties"]["zone_id"] for f in client.get("/v1/fences").get_json()["features"]}
    assert "ok" not in names


def test_trip_ending_in_a_no_parking_zone_earns_nothing_and_says_why(svc, client, city, operator):
    operator_id, _ = operator
    _, account_id = open_rider(svc)
    ended = dt.datetime(2026, 11, 2, 0, 40, tzinfo=dt.UTC)

    def ride(trip_id, end):
        facts = {
            **BIKE_2350M,
            "operator_id": operator_id,
            "operator_trip_id": trip_id,
            "account_id": account_id,
            "started_at": ended - dt.timedelta(minutes=12),
            "ended_at": ended,
            "start_lat": 31.2400,
            "start_lng": 121.4800,
            "end_lat": end[0],
            "end_lng": end[1],
        }
        trip, _ = crediting.record_accepted_trip(
            svc.db, svc.policy, facts=facts, judge_end=svc.trip_end_judge()
        )
        return trip

    good = ride("t-corral", IN_CORRAL)
    bad = ride("t-plaza", IN_PLAZA)
    assert (good.points, good.parking["parking_category"]) == (230, "corral")
    assert (bad.points, bad.reasons) == (0, ["no_parking_zone"])
    assert bad.parking["reason"] == "no_parking_zone"
    assert bad.parking["consequence"]["kind"] == "reminder"

    headers = {"Authorization": f"Bearer {svc.tokens.mint_rider_token(_user_of(svc, account_id))}"}
    seen = client.get(f"/v1/me/trips/{bad.uid}", headers=headers).get_json()
    assert (seen["points"], seen["reasons"], seen["parking"]["zone_id"]) == (
        0,
        ["no_parking_zone"],
        "peoples-square",
    )


def _user_of(svc, account_id):
    from service.persistence.rider_models import Rider

    with svc.db.transaction() as session:
        return session.query(Rider).filter_by(account_id=account_id).one().user_id


def test_reminders_first_then_penalties(svc, client, city, operator):
    operator_id, op_headers = operator
    _, account_id = open_rider(svc)
    start = dt.datetime(2026, 11, 2, 0, 40, tzinfo=dt.UTC)
    kinds = []
    for day in range(4):
        ended = start + dt.timedelta(days=day)
        facts = {
            **BIKE_2350M,
            "operator_id": operator_id,
            "operator_trip_id": f"t-{day}",
            "account_id": account_id,
            "started_at": ended - dt.timedelta(minutes=12),
            "ended_at": ended,
            "end_lat": IN_PLAZA[0],
            "end_lng": IN_PLAZA[1],
        }
        trip, _ = crediting.record_accepted_trip(
            svc.db, svc.policy, facts=facts, judge_end=svc.trip_end_judge()
        )
        kinds.append(trip.parking["consequence"]["kind"])
    assert kinds == ["reminder", "reminder", "penalty", "penalty"]
    with svc.db.transaction() as session:
        from service.ledger.ledger import Ledger

        assert Ledger(session, svc.policy).balances(account_id) == (0, -100, 0)
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])
    report = client.get("/v1/parking/compliance", headers=op_headers).get_json()["zones"]
    assert report == [
        {
            "zone_id": "peoples-square",
            "trips": 4,
            "valid": 0,
            "compliance": 0.0,
            "by_category": {"invalid": 4},
        }
    ]


def test_licence_area_from_cells_or_polygon(svc, client, admin, operator):
    operator_id, op_headers = operator
    area = square(121.46, 31.22, 121.48, 31.24)
    answer = client.put(
        f"/v1/operators/{operator_id}/licence",
        headers=admin,
        json={"resolution": 8, "polygon": area},
    )
    assert answer.status_code == 200
    cells = answer.get_json()["cells"]
    assert 5 < len(cells) < 40  # ~2 km square at res 8 (~0.74 km2 per cell)
    mine = client.get(f"/v1/operators/{operator_id}/licence", headers=op_headers).get_json()
    assert mine["cells"] == cells
    _, other_headers = _bearer(svc, "operator")
    assert (
        client.get(f"/v1/operators/{operator_id}/licence", headers=other_headers).status_code == 404
    )
    from service.geofence.licence import licensed

    assert licensed(svc.db, operator_id, [(121.47, 31.23), (121.60, 31.40)]) == [True, False]
    bad = client.put(
        f"/v1/operators/{operator_id}/licence",
        headers=admin,
        json={"resolution": 8, "cells": ["not-a-cell"]},
    )
    assert bad.status_code == 422 and "cells" in bad.get_json()["errors"]


def _gbfs_v3(*features, global_rules=None):
    return {
        "last_updated": "2026-11-21T09:00:00+08:00",
        "ttl": 60,
        "version": "3.0",
        "data": {
            "geofencing_zones": {"type": "FeatureCollection", "features": list(features)},
            "global_rules": global_rules
            or [
                {
                    "ride_start_allowed": True,
                    "ride_end_allowed": False,
                    "ride_through_allowed": True,
                }
            ],
        },
    }


def _gbfs_zone(geometry, name, **rule):
    multi = {"type": "MultiPolygon", "coordinates": [geometry["coordinates"]]}
    return {
        "type": "Feature",
        "geometry": multi,
        "properties": {
            "name": [{"text": name, "language": "en"}],
            "rules": [{"ride_start_allowed": True, "ride_through_allowed": True, **rule}],
        },
    }


def test_gbfs_document_reproduces_the_spec_rules(client, admin, operator):
    _, headers = operator
    # Listed first, so it wins where it overlaps the no-parking plaza listed second.
    corral = _gbfs_zone(
        square(121.4735, 31.2302, 121.4740, 31.2306), "corral", ride_end_allowed=True
    )
    plaza = _gbfs_zone(
        square(121.4700, 31.2280, 121.4760, 31.2330), "plaza", ride_end_allowed=False
    )
    street = _gbfs_zone(
        square(121.4790, 31.2390, 121.4810, 31.2410), "street", ride_end_allowed=True
    )
    answer = client.post(
        "/v1/fences/import/gbfs", headers=headers | admin, json=_gbfs_v3(corral, plaza, street)
    )
    assert answer.status_code == 201, answer.get_json()

    in_plaza = _check(client, headers, IN_PLAZA)
    assert (in_plaza["allowed"], in_plaza["reason"]) == (False, "no_parking_zone")
    in_corral = _check(client, headers, IN_CORRAL)
    assert in_corral["allowed"]  # first-listed zone takes precedence
    assert _check(client, headers, STREET)["allowed"]
    outside = _check(client, headers, FAR_AWAY)  # in no zone: the global rules say no
    assert (outside["allowed"], outside["reason"]) == (False, "global_rules")

    # Listed the other way round, the plaza's rule wins over the corral's.
    reordered = client.post(
        "/v1/fences/import/gbfs", headers=admin, json=_gbfs_v3(plaza, corral, street)
    )
    assert reordered.status_code == 201
    assert not _check(client, headers, IN_CORRAL)["allowed"]

    published = client.get("/v1/fences/gbfs").get_json()
    assert published["version"] == "3.0"
    assert published["data"]["global_rules"][0]["ride_end_allowed"] is False


def test_a_bad_gbfs_document_names_the_feature_and_property(client, admin):
    bad = _gbfs_v3(_gbfs_zone(square(121.47, 31.22, 121.48, 31.23), "x", ride_end_allowed="no"))
    answer = client.post("/v1/fences/import/gbfs", headers=admin, json=bad)
    assert answer.status_code == 422
    assert any(
        "features[0]" in key and "ride_end_allowed" in key for key in answer.get_json()["errors"]
    )
