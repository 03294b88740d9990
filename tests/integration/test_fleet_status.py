"""Fleet snapshots: GBFS and MDS vehicle status in, latest positions kept (database or Redis),
history appended, bad vehicles reported one by one."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from service.auth.clients import create_client
from service.fleet.positions import DatabasePositions, RedisPositions, position_store
from service.persistence.fleet_models import VehicleSighting

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def _operator(svc, scopes=("vehicles:write",)):
    client = create_client(svc.db, kind="operator", name="a fleet")
    token = svc.tokens.issue_access_token(client_id=client.client_id, kind="operator",
                                          scopes=scopes)  # fmt: skip
    return client.client_id, {"Authorization": f"Bearer {token}"}


def _gbfs(*vehicles):
    return {"last_updated": T0.isoformat(), "ttl": 60, "version": "3.0",
            "data": {"vehicles": list(vehicles)}}  # fmt: skip


def _vehicle(vehicle_id, lat, lng, at, **extra):
    return {"vehicle_id": vehicle_id, "lat": lat, "lon": lng, "is_reserved": False,
            "is_disabled": False, "vehicle_type_id": "bike", "last_reported": at.isoformat(),
            **extra}  # fmt: skip


@pytest.fixture(params=["database", "redis"])
def fleet_app(request, make_app, redis_prefix):
    if request.param == "redis":
        from tests.servers import shared_redis_url

        return make_app(redis_url=shared_redis_url(), redis_prefix=redis_prefix)
    return make_app()


def test_a_snapshot_keeps_each_vehicles_newest_position_and_reports_bad_vehicles(fleet_app):
    svc = fleet_app.extensions["greenpoints"]
    client = fleet_app.test_client()
    operator_id, headers = _operator(svc)
    later = T0 + dt.timedelta(minutes=5)
    first = client.post("/v1/vehicles/status", headers=headers, json=_gbfs(
        _vehicle("B-1", 31.2304, 121.4737, later),
        _vehicle("B-2", 31.2400, 121.4800, T0, is_reserved=True),
        {"vehicle_id": "B-3", "lat": "north", "lon": 121.47, "is_reserved": False,
         "is_disabled": False},
        {"vehicle_id": "B-4", "is_reserved": False, "is_disabled": True},
    ))  # fmt: skip
    assert first.status_code == 200, first.get_json()
    answer = first.get_json()
    assert (answer["total"], answer["vehicles"], answer["updated"]) == (4, 2, 2)
    assert [(f["index"], f["vehicle_id"], f["field"]) for f in answer["failures"]] == [
        (2, "B-3", "lat"), (3, "B-4", "lat")]  # fmt: skip

    # A stale report (older than the kept one) does not move the vehicle back.
    stale = client.post("/v1/vehicles/status", headers=headers, json=_gbfs(
        _vehicle("B-1", 31.2000, 121.4000, T0),
        _vehicle("B-2", 31.2410, 121.4810, later),
    ))  # fmt: skip
    assert stale.get_json()["updated"] == 1
    store = position_store(svc.db, svc.store)
    assert isinstance(store, RedisPositions if svc.store.kind == "redis" else DatabasePositions)
    latest = {p.vehicle_id: p for p in store.latest(operator_id)}
    assert (latest["B-1"].lat, latest["B-1"].reported_at) == (31.2304, later)
    assert (latest["B-2"].lat, latest["B-2"].state) == (31.2410, "available")
    assert len(latest["B-1"].cell) == 15  # an H3 cell at the trip cell resolution

    # Another operator's vehicles are its own.
    other_id, other = _operator(svc)
    client.post("/v1/vehicles/status", headers=other, json=_gbfs(_vehicle("B-1", 31.25, 121.5, T0)))
    assert {p.operator_id for p in store.latest()} == {operator_id, other_id}
    assert store.latest(operator_id)[0].operator_id == operator_id

    with svc.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(VehicleSighting)) == 5


def test_mds_vehicle_status_and_bad_documents(app, client):
    svc = app.extensions["greenpoints"]
    operator_id, headers = _operator(svc)
    ms = int(T0.timestamp() * 1000)
    body = {"vehicles_status": [
        {"device_id": "E-9", "provider_id": "p", "vehicle_type": "bicycle",
         "last_event": {"vehicle_state": "on_trip", "timestamp": ms, "event_types": ["trip_start"]},
         "last_telemetry": {"timestamp": ms, "location": {"lat": 31.23, "lng": 121.47}}},
        {"device_id": "E-10", "last_event": {"vehicle_state": "teleported", "timestamp": ms},
         "last_telemetry": {"timestamp": ms, "location": {"lat": 31.23, "lng": 121.47}}},
    ]}  # fmt: skip
    answer = client.post("/v1/mds/vehicles/status", headers=headers, json=body).get_json()
    assert answer["vehicles"] == 1
    assert answer["failures"][0]["field"] == "last_event.vehicle_state"
    (position,) = DatabasePositions(svc.db).latest(operator_id)
    assert (position.state, position.reported_at) == ("on_trip", T0)

    not_gbfs = client.post("/v1/vehicles/status", headers=headers, json={"vehicles": []})
    assert not_gbfs.status_code == 422
    assert not_gbfs.headers["Content-Type"] == "application/problem+json"
    assert "data" in not_gbfs.get_json()["errors"] or "data.vehicles" in not_gbfs.get_json()[
        "errors"]  # fmt: skip
    _, trips_only = _operator(svc, scopes=("trips:write",))
    assert client.post("/v1/vehicles/status", headers=trips_only,
                       json=_gbfs()).status_code == 403  # fmt: skip
