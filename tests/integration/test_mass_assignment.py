"""Fields a client has no say over (points, co2_g, balance, status...) are ignored by trip
ingestion and refused, naming the field, by every other body; the ledger never moves for them."""

from __future__ import annotations

import datetime as dt

import pytest

from service.auth.clients import create_client
from service.usecases import consents, ledger_ops, mall
from tests.factories import give_available_points, open_rider

ENDED = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
FORGED = {"points": 10**9, "co2_g": 10**9, "status": "rejected", "balance": 10**9,
          "account_id": "acc-someone-else", "receipt": {"forged": True}}  # fmt: skip


@pytest.fixture
def svc(app):
    return app.extensions["greenpoints"]


def _operator(svc):
    client = create_client(svc.db, kind="operator", name="bikes")
    token = svc.tokens.issue_access_token(client_id=client.client_id, kind="operator",
                                          scopes=("trips:write",))  # fmt: skip
    return client.client_id, {"Authorization": f"Bearer {token}"}


def _rider(svc):
    user_id, account_id = open_rider(svc)
    return user_id, account_id, {"Authorization": f"Bearer {svc.tokens.mint_rider_token(user_id)}"}


def test_a_trip_cannot_set_its_own_points_status_or_account(svc, client):
    operator_id, headers = _operator(svc)
    user_id, _, rider = _rider(svc)
    consents.grant(svc.db, user_id, operator_id, rider_ref="u-1093", scenarios=["bike"])
    trip = {"trip_id": "op-7781", "mode": "bike", "rider_ref": "u-1093", "vehicle_id": "B-1",
            "start_time": (ENDED - dt.timedelta(minutes=12)).isoformat(),
            "end_time": ENDED.isoformat(), "start": {"lat": 31.2304, "lng": 121.4737},
            "end": {"lat": 31.2243, "lng": 121.4768}, "distance_m": 900, **FORGED}  # fmt: skip
    (result,) = client.post("/v1/trips", headers=headers, json={"trips": [trip]}).get_json()[
        "results"
    ]
    # 0.9 km at 98 g/km (Shanghai cycling) is 88.2 g: 88 points, credited to the linked rider.
    assert (result["status"], result["co2_g"], result["points"]) == ("credited", 88, 88), result
    balance = client.get("/v1/me/account", headers=rider).get_json()["balance"]
    assert balance == {"pending": 88, "available": 0, "held": 0}
    stored = client.get("/v1/trips/op-7781", headers=headers).get_json()
    assert "forged" not in stored["receipt"]
    totals = ledger_ops.totals(svc.db, svc.policy)
    assert totals["issued"] == 88
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])


@pytest.mark.parametrize("path,method,body", [
    ("/v1/me/consents/{operator}", "PUT",
     {"rider_ref": "u-1", "scenarios": ["bike"], "credited_trips": 99}),
    ("/v1/me/consents/{operator}", "PUT",
     {"rider_ref": "u-1", "scenarios": ["bike"], "account_id": "acc-someone-else"}),
    ("/v1/me/redemptions", "POST", {"item_id": "tree", "quantity": 1, "points": 1}),
    ("/v1/me/redemptions", "POST", {"item_id": "tree", "quantity": 1, "status": "completed"}),
    ("/v1/me/disputes", "POST",
     {"operator_id": "{operator}", "trip_id": "t-1", "credited_points": 500}),
    ("/v1/me/disputes", "POST",
     {"operator_id": "{operator}", "trip_id": "t-1", "status": "credited"}),
])  # fmt: skip
def test_rider_bodies_with_fields_they_may_not_set_are_refused_naming_the_field(
    svc, client, path, method, body
):
    operator_id, _ = _operator(svc)
    _, account_id, rider = _rider(svc)
    give_available_points(svc, account_id, 20_000)
    mall.add_item(svc.db, mall.NewItem("tree", "donation", "A saxaul tree", 17_900, None))
    before = ledger_ops.totals(svc.db, svc.policy)
    forged = {k: (v.replace("{operator}", operator_id) if isinstance(v, str) else v)
              for k, v in body.items()}  # fmt: skip
    answer = client.open(path.replace("{operator}", operator_id), method=method, json=forged,
                         headers={**rider, "Idempotency-Key": "k-1"})  # fmt: skip
    assert answer.status_code == 422, answer.get_json()
    assert answer.content_type == "application/problem+json"
    extra = next(k for k in forged if k not in ("rider_ref", "scenarios", "item_id", "quantity",
                                                "operator_id", "trip_id"))  # fmt: skip
    assert extra in answer.get_json()["errors"]
    assert ledger_ops.totals(svc.db, svc.policy) == before
    assert client.get("/v1/me/consents", headers=rider).get_json()["consents"] == []
    assert client.get("/v1/me/redemptions", headers=rider).get_json()["redemptions"] == []


def test_opening_an_account_ignores_a_balance_sent_with_it(svc, client):
    user_id, _ = open_rider(svc)
    rider = {"Authorization": f"Bearer {svc.tokens.mint_rider_token(user_id + '-new')}"}
    opened = client.post("/v1/me/account", headers=rider,
                         json={"balance": {"available": 10**6}, "pending": 10**6})  # fmt: skip
    assert opened.status_code in (200, 201)
    balance = client.get("/v1/me/account", headers=rider).get_json()["balance"]
    assert balance == {"pending": 0, "available": 0, "held": 0}
