"""Rebalancing over the API: a fleet with known surpluses and deficits gives the known moves;
a rebalancing trip earns its bonus once; a back-and-forth pair earns nothing; the rider sees
the bonus and its reason in the account history."""

from __future__ import annotations

import datetime as dt
import uuid

import h3
import pytest
from click.testing import CliRunner

from service.auth.clients import create_client
from service.cli import main
from service.fleet.positions import position_store
from service.persistence.ledger_models import LedgerTransaction
from service.usecases import consents, ledger_ops, rebalancing
from tests.factories import open_rider

RES = 9
A = h3.latlng_to_cell(31.2304, 121.4737, RES)  # vehicles pile up here
B, C = sorted(h3.grid_ring(A, 2))[:2]  # riders start trips here: short of vehicles


def _centre(cell):
    lat, lng = h3.cell_to_latlng(cell)
    return {"lat": round(lat, 6), "lng": round(lng, 6)}


@pytest.fixture
def svc(app):
    return app.extensions["greenpoints"]


def _operator(svc):
    client = create_client(svc.db, kind="operator", name="bikes")
    token = svc.tokens.issue_access_token(
        client_id=client.client_id, kind="operator",
        scopes=("trips:write", "vehicles:write", "fleet:read"),
    )  # fmt: skip
    return client.client_id, {"Authorization": f"Bearer {token}"}


def _trip(rider_ref, start_cell, end_cell, started, *, vehicle="V-1", seconds=180):
    return {"trip_id": f"t-{uuid.uuid4().hex[:10]}", "mode": "bike", "rider_ref": rider_ref,
            "vehicle_id": vehicle, "start_time": started.isoformat(),
            "end_time": (started + dt.timedelta(seconds=seconds)).isoformat(),
            "start": _centre(start_cell), "end": _centre(end_cell), "distance_m": 800}  # fmt: skip


def _history(client, headers, moment, starts):
    """Trips that started a week before ``moment`` (unlinked riders: demand all the same)."""
    week_ago = moment - dt.timedelta(days=7) + dt.timedelta(minutes=5)
    trips = [_trip(f"nobody-{i}", cell, A, week_ago + dt.timedelta(seconds=i), vehicle=f"H-{i}")
             for i, cell in enumerate(starts)]  # fmt: skip
    answer = client.post("/v1/trips", headers=headers, json={"trips": trips}).get_json()
    assert answer["success"] == len(starts)


def _snapshot(client, headers, now, cells):
    vehicles = [{"vehicle_id": f"S-{i}", "lat": _centre(c)["lat"], "lon": _centre(c)["lng"],
                 "is_reserved": False, "is_disabled": False, "last_reported": now.isoformat()}
                for i, c in enumerate(cells)]  # fmt: skip
    body = {"version": "3.0", "data": {"vehicles": vehicles}}
    assert client.post("/v1/vehicles/status", headers=headers, json=body).status_code == 200


def test_a_fleet_with_known_surpluses_and_deficits_gives_the_known_moves(
    svc, client, database_url, tmp_path
):
    operator_id, headers = _operator(svc)
    now = dt.datetime.now(dt.UTC)
    # Demand: 10 trip starts in B and 3 in C in this window a week ago; over 4 weeks with a
    # 1.2 safety margin B needs ceil(1.2 * 10 / 4) = 3 vehicles and C ceil(1.2 * 3 / 4) = 1.
    _history(client, headers, now, [B] * 10 + [C] * 3)
    _snapshot(client, headers, now, [A] * 6)
    answer = client.get("/v1/rebalancing/recommendations?truck_capacity=2", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    plan = answer.get_json()
    assert (plan["surplus_vehicles"], plan["deficit_vehicles"]) == (6, 4)
    moves = {(m["from_unit"], m["to_unit"]): m for m in plan["moves"]}
    # One truck run (2 vehicles) per pair of units: B gets 2 of the 3 it needs, C its 1.
    assert {pair: m["vehicles"] for pair, m in moves.items()} == {(A, B): 2, (A, C): 1}
    assert plan["moved_vehicles"] == 3
    assert moves[(A, B)]["distance_m"] == pytest.approx(
        h3.great_circle_distance(h3.cell_to_latlng(A), h3.cell_to_latlng(B), unit="m"), abs=2
    )
    roomy = client.get("/v1/rebalancing/recommendations", headers=headers).get_json()
    assert {(m["from_unit"], m["to_unit"], m["vehicles"]) for m in roomy["moves"]} == {
        (A, B, 3), (A, C, 1)}  # fmt: skip
    assert roomy["moved_vehicles"] == 4

    # The CLI prints the same plan.
    printed = CliRunner().invoke(
        main, ["rebalancing", "plan", "--operator", operator_id],
        env={"DATABASE_URL": database_url, "GREENPOINTS_VAR_DIR": str(tmp_path / "var")},
    )  # fmt: skip
    assert printed.exit_code == 0, printed.output
    assert f"{A} -> {B}\t3 vehicles" in printed.output
    assert f"{A} -> {C}\t1 vehicles" in printed.output
    assert "2 moves, 4 vehicles" in printed.output


def _linked_rider(svc, operator_id):
    user_id, account_id = open_rider(svc)
    rider_ref = f"r-{user_id}"
    consents.grant(svc.db, user_id, operator_id, rider_ref=rider_ref, scenarios=["bike"])
    token = svc.tokens.mint_rider_token(user_id, ttl_s=600)
    return rider_ref, account_id, {"Authorization": f"Bearer {token}"}


def _bonus_credits(svc, account_id):
    with svc.db.reading() as session:
        return {
            t.id: t.kind
            for t in session.query(LedgerTransaction).filter_by(account_id=account_id)
            if t.id.startswith(("credit:rebalancing:", "reverse:credit:rebalancing:"))
        }


def test_a_rebalancing_trip_earns_its_bonus_once_and_a_back_and_forth_pair_earns_none(svc, client):
    operator_id, headers = _operator(svc)
    now = dt.datetime.now(dt.UTC)
    # The map of a slot an hour ago, fixed then; trips that started in that slot are posted now.
    slot = rebalancing.slot_of(now) - dt.timedelta(hours=1)
    _history(client, headers, slot, [B] * 10)
    _snapshot(client, headers, now, [A] * 6)
    shown = client.get("/v1/rebalancing/incentives", headers=headers).get_json()
    assert {u["unit"]: u["pickup_points"] for u in shown["units"]}[A] == 120
    rules = rebalancing.RebalancingRules.from_settings(svc.settings)
    fixed = rebalancing.current_map(svc.db, position_store(svc.db, svc.store), rules,
                                    rules.units(operator_id, svc.zones), operator_id,
                                    slot + dt.timedelta(seconds=30))  # fmt: skip
    # A holds 6 with no demand: +6, pick-up 20 x 6 = 120; B needs 3: -3, drop-off 20 x 3 = 60.
    assert fixed.units[A] == (6, 120, 0) and fixed.units[B] == (-3, 0, 60)

    rider_ref, account_id, rider = _linked_rider(svc, operator_id)
    there = _trip(rider_ref, A, B, slot + dt.timedelta(seconds=1), vehicle="V-1")
    first = client.post("/v1/trips", headers=headers, json={"trips": [there]}).get_json()
    (result,) = first["results"]
    assert result["status"] == "credited" and result["bonus_points"] == 180
    again = client.post("/v1/trips", headers=headers, json={"trips": [there]}).get_json()
    assert again["results"][0]["status"] == "duplicate"
    assert list(_bonus_credits(svc, account_id).values()) == ["credit"]

    entries = client.get("/v1/me/entries", headers=rider).get_json()["entries"]
    bonus = next(e for e in entries if e["purpose"] == "rebalancing")
    assert bonus["amount"] == 180 and "rebalancing bonus" in bonus["reason"]
    assert bonus["trip_uid"] == result["trip_uid"]

    # The same vehicle taken straight back: neither trip keeps a bonus.
    back = _trip(rider_ref, B, A, slot + dt.timedelta(seconds=200), vehicle="V-1")
    answer = client.post("/v1/trips", headers=headers, json={"trips": [back]}).get_json()
    assert answer["results"][0]["status"] == "credited"
    assert "bonus_points" not in answer["results"][0]
    assert sorted(_bonus_credits(svc, account_id).values()) == ["credit", "reversal"]
    entries = client.get("/v1/me/entries", headers=rider).get_json()["entries"]
    reversal = next(e for e in entries if e["kind"] == "reversal")
    assert reversal["amount"] == -180 and reversal["reason"] == "back_and_forth"
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])

    # In one batch, the pair earns nothing at all.
    rider_ref2, account2, _ = _linked_rider(svc, operator_id)
    pair = [_trip(rider_ref2, A, B, slot + dt.timedelta(seconds=400), vehicle="V-2"),
            _trip(rider_ref2, B, A, slot + dt.timedelta(seconds=600), vehicle="V-2")]  # fmt: skip
    results = client.post("/v1/trips", headers=headers, json={"trips": pair}).get_json()["results"]
    assert [r["status"] for r in results] == ["credited", "credited"]
    assert all("bonus_points" not in r for r in results)
    assert _bonus_credits(svc, account2) == {}


def test_a_trip_started_before_any_map_of_its_slot_earns_no_bonus(svc, client):
    operator_id, headers = _operator(svc)
    rider_ref, account_id, _ = _linked_rider(svc, operator_id)
    earlier = rebalancing.slot_of(dt.datetime.now(dt.UTC)) - dt.timedelta(hours=3)
    trip = _trip(rider_ref, A, B, earlier + dt.timedelta(seconds=1))
    answer = client.post("/v1/trips", headers=headers, json={"trips": [trip]}).get_json()
    assert answer["results"][0]["status"] == "credited"
    assert _bonus_credits(svc, account_id) == {}


def test_moves_under_way_count_as_inbound_until_done(svc, client):
    _operator_id, headers = _operator(svc)
    now = dt.datetime.now(dt.UTC)
    _history(client, headers, now, [B] * 10 + [C] * 3)
    _snapshot(client, headers, now, [A] * 6)
    body = {"moves": [{"from_unit": A, "to_unit": B, "vehicles": 3}]}
    started = client.post("/v1/rebalancing/moves", headers=headers, json=body)
    assert started.status_code == 201, started.get_json()
    (move,) = started.get_json()["moves"]
    plan = client.get("/v1/rebalancing/recommendations", headers=headers).get_json()
    # B's 3 are on their way: only C is still short.
    assert {(m["from_unit"], m["to_unit"], m["vehicles"]) for m in plan["moves"]} == {(A, C, 1)}
    assert (
        client.get("/v1/rebalancing/moves", headers=headers).get_json()["moves"][0]["id"]
        == (move["id"])
    )
    _other_id, other = _operator(svc)
    assert client.post(f"/v1/rebalancing/moves/{move['id']}/done", headers=other).status_code == 404
    done = client.post(f"/v1/rebalancing/moves/{move['id']}/done", headers=headers)
    assert done.status_code == 200 and done.get_json()["done_at"] is not None
    assert client.get("/v1/rebalancing/moves", headers=headers).get_json()["moves"] == []
    plan = client.get("/v1/rebalancing/recommendations", headers=headers).get_json()
    assert {(m["from_unit"], m["to_unit"]) for m in plan["moves"]} == {(A, B), (A, C)}


def _square(lng, lat, half=0.0008):
    ring = [(lng - half, lat - half), (lng + half, lat - half), (lng + half, lat + half),
            (lng - half, lat + half), (lng - half, lat - half)]  # fmt: skip
    return {"type": "Polygon", "coordinates": [[list(corner) for corner in ring]]}


def test_parking_zones_as_dispatch_units(make_app):
    app = make_app(rebalancing_units="parking")
    svc, client = app.extensions["greenpoints"], app.test_client()
    admin = create_client(svc.db, kind="admin", name="city")
    token = svc.tokens.issue_access_token(client_id=admin.client_id, kind="admin",
                                          scopes=("admin",))  # fmt: skip
    corrals = {"corral-north": (121.4737, 31.2404), "corral-south": (121.4737, 31.2204)}
    document = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": _square(lng, lat),
         "properties": {"zone_id": zone_id, "zone_type": "parking", "parking_category": "corral"}}
        for zone_id, (lng, lat) in corrals.items()]}  # fmt: skip
    published = client.post("/v1/fences", headers={"Authorization": f"Bearer {token}"},
                            json=document)  # fmt: skip
    assert published.status_code == 201
    operator_id, headers = _operator(svc)
    now = dt.datetime.now(dt.UTC)
    north, south = corrals["corral-north"], corrals["corral-south"]
    places = [(f"S-{i}", north) for i in range(5)] + [("stray", (121.4737, 31.2300))]
    vehicles = [{"vehicle_id": vehicle_id, "lat": lat, "lon": lng, "is_reserved": False,
                 "is_disabled": False, "last_reported": now.isoformat()}
                for vehicle_id, (lng, lat) in places]  # fmt: skip
    # Demand in the south corral a week before now, and a week before a slot an hour ago.
    earlier_slot = rebalancing.slot_of(now) - dt.timedelta(hours=1)
    history = [{"trip_id": f"h-{i}-{k}", "mode": "bike", "rider_ref": f"nobody-{i}",
                "vehicle_id": f"H-{i}", "start_time": week_ago.isoformat(),
                "end_time": (week_ago + dt.timedelta(minutes=9)).isoformat(),
                "start": {"lat": south[1], "lng": south[0]},
                "end": {"lat": north[1], "lng": north[0]}, "distance_m": 2500}
               for i in range(10)
               for k, week_ago in enumerate(m - dt.timedelta(days=7) + dt.timedelta(minutes=5)
                                            for m in (now, earlier_slot))]  # fmt: skip
    assert client.post("/v1/trips", headers=headers,
                       json={"trips": history}).get_json()["success"] == 20  # fmt: skip
    # The snapshot after the history: the slot's incentive map is fixed by the first one.
    client.post("/v1/vehicles/status", headers=headers,
                json={"version": "3.0", "data": {"vehicles": vehicles}})  # fmt: skip
    plan = client.get("/v1/rebalancing/recommendations", headers=headers).get_json()
    assert plan["units"] == "parking_zones"
    # The stray vehicle, outside both corrals, belongs to no unit; south needs ceil(1.2*10/4).
    assert [(m["from_unit"], m["to_unit"], m["vehicles"]) for m in plan["moves"]] == [
        ("corral-north", "corral-south", 3)]  # fmt: skip
    assert 2_150 < plan["moves"][0]["distance_m"] < 2_300
    shown = client.get("/v1/rebalancing/incentives", headers=headers).get_json()
    assert {u["unit"]: (u["pickup_points"], u["dropoff_points"]) for u in shown["units"]} == {
        "corral-north": (100, 0), "corral-south": (0, 60)}  # fmt: skip

    # A rider who takes a bike from the north corral to the south one earns both bonuses.
    rules = rebalancing.RebalancingRules.from_settings(svc.settings)
    rebalancing.current_map(svc.db, position_store(svc.db, svc.store), rules,
                            rules.units(operator_id, svc.zones), operator_id,
                            earlier_slot + dt.timedelta(seconds=30))  # fmt: skip
    rider_ref, account_id, _ = _linked_rider(svc, operator_id)
    started = earlier_slot + dt.timedelta(seconds=1)
    ride = {"trip_id": "ride-1", "mode": "bike", "rider_ref": rider_ref, "vehicle_id": "S-1",
            "start_time": started.isoformat(),
            "end_time": (started + dt.timedelta(minutes=9)).isoformat(),
            "start": {"lat": north[1], "lng": north[0]},
            "end": {"lat": south[1], "lng": south[0]}, "distance_m": 2500}  # fmt: skip
    (result,) = client.post("/v1/trips", headers=headers, json={"trips": [ride]}).get_json()[
        "results"
    ]
    assert result["status"] == "credited" and result["bonus_points"] == 160
    assert list(_bonus_credits(svc, account_id).values()) == ["credit"]
