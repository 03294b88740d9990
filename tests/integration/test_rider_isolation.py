"""A rider sees and changes only their own account: every other rider's object is a 404."""

from __future__ import annotations

import re

from service.auth.clients import create_client
from service.usecases import consents, mall
from tests.factories import BIKE_2350M, accepted_trip, give_available_points, open_rider


def _headers(svc, user_id):
    return {"Authorization": f"Bearer {svc.tokens.mint_rider_token(user_id)}"}


def _rider_with_everything(svc, client, user_id, operator_id):
    _, account_id = open_rider(svc, user_id)
    trip, _ = accepted_trip(svc, account_id, BIKE_2350M, operator_id=operator_id)
    give_available_points(svc, account_id, 1000)
    headers = _headers(svc, user_id)
    redemption = client.post(
        "/v1/me/redemptions",
        headers={"Idempotency-Key": f"{user_id}-1", **headers},
        json={"item_id": "metro-5"},
    ).get_json()
    consents.grant(svc.db, user_id, operator_id, rider_ref=f"{user_id}@op", scenarios=["bike"])
    client.post(
        "/v1/me/disputes", headers=headers, json={"operator_id": operator_id, "trip_id": "x"}
    )
    return {
        "account_id": account_id,
        "trip_uid": trip.uid,
        "redemption_id": redemption["redemption_id"],
        "operator_id": operator_id,
        "headers": headers,
    }


def test_rider_a_gets_404_for_every_object_of_rider_b(app, client):
    svc = app.extensions["greenpoints"]
    mall.add_item(svc.db, mall.NewItem("metro-5", "transit_credit", "metro credit", 500, 100))
    operator_a = create_client(svc.db, kind="operator", name="A Bikes").client_id
    operator_b = create_client(svc.db, kind="operator", name="B Bikes").client_id
    a = _rider_with_everything(svc, client, "rider-a", operator_a)
    b = _rider_with_everything(svc, client, "rider-b", operator_b)

    walked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/me/") or not rule.arguments:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: b[m.group(1)], rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS", "PUT"}):
            answer = client.open(path, method=method, headers=a["headers"])
            assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"
            assert answer.content_type == "application/problem+json"
            walked.append(f"{method} {rule.rule}")
        # The same path with A's own object answers, so the 404 above is about ownership.
        own = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: a[m.group(1)], rule.rule)
        if "GET" in rule.methods:
            assert client.get(own, headers=a["headers"]).status_code == 200, own
    assert sorted(walked) == [
        "DELETE /v1/me/consents/<string:operator_id>",
        "GET /v1/me/redemptions/<string:redemption_id>",
        "GET /v1/me/trips/<string:trip_uid>",
    ]

    # Lists and documents without ids hold none of B's objects.
    for path in ("/v1/me/account", "/v1/me/entries", "/v1/me/export", "/v1/me/consents",
                 "/v1/me/redemptions", "/v1/me/disputes"):  # fmt: skip
        text = client.get(path, headers=a["headers"]).get_data(as_text=True)
        for key in ("account_id", "trip_uid", "redemption_id", "operator_id"):
            assert b[key] not in text, f"{path} shows B's {key}"
    # B's consent survived A's attempt to delete it.
    assert consents.list_mine(svc.db, "rider-b")[0]["operator_id"] == operator_b
