"""Rider endpoints over the Flask test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from service.auth.clients import create_client
from service.usecases import ledger_ops, mall
from service.usecases.accounts import encode_cursor
from tests.factories import BIKE_2350M, METRO_12400M, accepted_trip, give_available_points


@pytest.fixture
def svc(app):
    return app.extensions["greenpoints"]


@pytest.fixture
def operator(svc):
    return create_client(svc.db, kind="operator", name="Shanghai Bikes")


def rider_headers(svc, user_id):
    return {"Authorization": f"Bearer {svc.tokens.mint_rider_token(user_id)}"}


@pytest.fixture
def alice(svc, client):
    headers = rider_headers(svc, "alice")
    assert client.post("/v1/me/account", headers=headers).status_code == 201
    return headers


def _account_id(client, headers):
    return client.get("/v1/me/account", headers=headers).get_json()["account_id"]


def test_opening_twice_is_fine_and_starts_empty(client, alice):
    again = client.post("/v1/me/account", headers=alice)
    assert again.status_code == 200
    body = client.get("/v1/me/account", headers=alice).get_json()
    assert body["balance"] == {"available": 0, "pending": 0, "held": 0}
    assert body["totals"]["co2_g"] == 0
    assert body["trees_equivalent"] == 0


def test_account_before_opening_is_404(svc, client):
    answer = client.get("/v1/me/account", headers=rider_headers(svc, "nobody"))
    assert answer.status_code == 404
    assert answer.content_type == "application/problem+json"


def test_summary_totals_by_mode_pollutants_and_trees(svc, client, alice):
    account_id = _account_id(client, alice)
    accepted_trip(svc, account_id, BIKE_2350M)
    accepted_trip(svc, account_id, METRO_12400M)
    body = client.get("/v1/me/account", headers=alice).get_json()
    assert body["balance"] == {"available": 0, "pending": 230 + 1202, "held": 0}
    assert body["totals"]["co2_g"] == 1432
    assert body["totals"]["by_mode"] == {"bike": 230, "metro": 1202}
    assert body["totals"]["pollutants_g"] == {"co": 0.601, "hc": 0.051, "nox": 0.044, "pm": 0.016}
    assert body["trees_equivalent"] == round(1432 / 17_900, 2) == 0.08


def test_trip_with_receipt(svc, client, alice):
    trip, _ = accepted_trip(svc, _account_id(client, alice), BIKE_2350M)
    body = client.get(f"/v1/me/trips/{trip.uid}", headers=alice).get_json()
    assert body["co2_g"] == 230 and body["points"] == 230
    assert body["receipt"]["methodology"] == {"id": "sh-cycling-2025", "version": 1}
    assert [tx["kind"] for tx in body["ledger"]] == ["credit"]
    assert client.get("/v1/me/trips/trp_unknown", headers=alice).status_code == 404


def test_entries_paginate_newest_first_without_gaps(svc, client, alice):
    account_id = _account_id(client, alice)
    trips = [accepted_trip(svc, account_id, BIKE_2350M)[0].uid for _ in range(5)]
    seen, cursor, pages = [], None, 0
    while pages < 10:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/me/entries", headers=alice, query_string=query).get_json()
        seen.extend(page["entries"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [e["trip_uid"] for e in seen] == list(reversed(trips))
    assert all(e["amount"] == 230 and e["bucket"] == "pending" for e in seen)
    for bad_cursor in ("!!", encode_cursor(2**63), encode_cursor(-1)):
        bad = client.get("/v1/me/entries", headers=alice, query_string={"cursor": bad_cursor})
        assert bad.status_code == 422 and "cursor" in bad.get_json()["errors"]
    too_many = client.get("/v1/me/entries", headers=alice, query_string={"limit": 1000})
    assert too_many.status_code == 422 and "limit" in too_many.get_json()["errors"]


def test_consents_grant_change_list_revoke(svc, client, alice, operator):
    path = f"/v1/me/consents/{operator.client_id}"
    granted = client.put(path, headers=alice, json={"rider_ref": "u-1093", "scenarios": ["bike"]})
    assert granted.status_code == 200
    client.put(path, headers=alice, json={"rider_ref": "u-1093", "scenarios": ["bike", "ebike"]})
    listed = client.get("/v1/me/consents", headers=alice).get_json()["consents"]
    assert [(c["operator_id"], c["scenarios"]) for c in listed] == [
        (operator.client_id, ["bike", "ebike"])
    ]
    assert client.delete(path, headers=alice).status_code == 204
    assert client.get("/v1/me/consents", headers=alice).get_json()["consents"] == []
    assert client.delete(path, headers=alice).status_code == 404


def test_consent_errors_name_the_field(svc, client, alice, operator):
    path = f"/v1/me/consents/{operator.client_id}"
    bad = client.put(path, headers=alice, json={"rider_ref": "", "scenarios": ["plane"]})
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"rider_ref", "scenarios.0"}
    unknown = client.put("/v1/me/consents/op_nobody", headers=alice,
                         json={"rider_ref": "x", "scenarios": ["bike"]})  # fmt: skip
    assert unknown.status_code == 404
    bob = rider_headers(svc, "bob")
    client.post("/v1/me/account", headers=bob)
    client.put(path, headers=alice, json={"rider_ref": "u-1", "scenarios": ["bike"]})
    taken = client.put(path, headers=bob, json={"rider_ref": "u-1", "scenarios": ["bike"]})
    assert taken.status_code == 409
    assert "rider_ref" in taken.get_json()["errors"]


@pytest.fixture
def coupons(svc):
    mall.add_item(svc.db, mall.NewItem("metro-5", "transit_credit", "5 yuan metro credit", 500, 10))
    mall.add_item(svc.db, mall.NewItem("tree", "donation", "A saxaul tree", 17_900, None))


def test_redeem_replay_and_key_reuse(svc, client, alice, coupons):
    give_available_points(svc, _account_id(client, alice), 2000)
    key = {"Idempotency-Key": "k-1", **alice}
    first = client.post("/v1/me/redemptions", headers=key, json={"item_id": "metro-5",
                                                                  "quantity": 2})  # fmt: skip
    assert first.status_code == 201
    body = first.get_json()
    assert (body["status"], body["points"], len(body["fulfilment"]["codes"])) == (
        "completed", 1000, 2
    )  # fmt: skip
    replay = client.post("/v1/me/redemptions", headers=key, json={"item_id": "metro-5",
                                                                   "quantity": 2})  # fmt: skip
    assert replay.status_code == 200
    assert replay.get_json() == body
    reused = client.post("/v1/me/redemptions", headers=key, json={"item_id": "metro-5",
                                                                   "quantity": 1})  # fmt: skip
    assert reused.status_code == 422
    assert reused.get_json()["code"] == "idempotency_key_reused"
    account = client.get("/v1/me/account", headers=alice).get_json()
    assert account["balance"] == {"available": 1000, "pending": 0, "held": 0}
    assert mall.catalog(svc.db)[1]["stock"] == 8


def test_redeem_needs_key_points_and_stock(svc, client, alice, coupons):
    no_key = client.post("/v1/me/redemptions", headers=alice, json={"item_id": "metro-5"})
    assert no_key.status_code == 422
    assert "Idempotency-Key" in no_key.get_json()["errors"]
    poor = client.post("/v1/me/redemptions", headers={"Idempotency-Key": "a", **alice},
                       json={"item_id": "metro-5"})  # fmt: skip
    assert poor.status_code == 422 and poor.get_json()["code"] == "insufficient_points"
    give_available_points(svc, _account_id(client, alice), 6000)
    greedy = client.post("/v1/me/redemptions", headers={"Idempotency-Key": "b", **alice},
                         json={"item_id": "metro-5", "quantity": 11})  # fmt: skip
    assert greedy.status_code == 409 and greedy.get_json()["code"] == "out_of_stock"
    missing = client.post("/v1/me/redemptions", headers={"Idempotency-Key": "c", **alice},
                          json={"item_id": "yacht"})  # fmt: skip
    assert missing.status_code == 404
    assert mall.catalog(svc.db)[1]["stock"] == 10  # nothing taken by the refusals


def test_donating_a_tree(svc, client, alice, coupons):
    give_available_points(svc, _account_id(client, alice), 18_000)
    tree = client.post("/v1/me/redemptions", headers={"Idempotency-Key": "tree-1", **alice},
                       json={"item_id": "tree"})  # fmt: skip
    assert tree.status_code == 201
    assert tree.get_json()["points"] == 17_900
    assert tree.get_json()["fulfilment"]["certificate"].startswith("DON-")
    balance = client.get("/v1/me/account", headers=alice).get_json()["balance"]
    assert balance == {"available": 100, "pending": 0, "held": 0}
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])


def test_failed_fulfilment_voids_the_hold_and_restocks(svc, client, alice, coupons):
    def partner_down(redemption, item):
        raise mall.FulfilmentFailed("partner unavailable")

    svc.fulfil = partner_down
    give_available_points(svc, _account_id(client, alice), 1000)
    answer = client.post("/v1/me/redemptions", headers={"Idempotency-Key": "f", **alice},
                         json={"item_id": "metro-5"})  # fmt: skip
    assert answer.status_code == 201
    assert answer.get_json()["status"] == "failed"
    balance = client.get("/v1/me/account", headers=alice).get_json()["balance"]
    assert balance == {"available": 1000, "pending": 0, "held": 0}
    assert mall.catalog(svc.db)[1]["stock"] == 10
    kinds = [e["kind"] for e in client.get("/v1/me/entries", headers=alice).get_json()["entries"]]
    assert kinds[:4] == ["void", "void", "hold", "hold"]


def test_disputes_filed_listed_and_credited_by_the_operator(svc, client, alice, operator):
    filed = client.post(
        "/v1/me/disputes",
        headers=alice,
        json={"operator_id": operator.client_id, "trip_id": "op-7781", "description": "no points"},
    )
    assert filed.status_code == 201
    dispute_id = filed.get_json()["dispute_id"]
    again = client.post(
        "/v1/me/disputes",
        headers=alice,
        json={"operator_id": operator.client_id, "trip_id": "op-7781"},
    )
    assert again.status_code == 409

    token = svc.tokens.issue_access_token(
        client_id=operator.client_id, kind="operator", scopes=("trips:write",)
    )
    op_headers = {"Authorization": f"Bearer {token}"}
    listed = client.get("/v1/disputes", headers=op_headers).get_json()["disputes"]
    assert [d["dispute_id"] for d in listed] == [dispute_id]

    other = create_client(svc.db, kind="operator", name="Other Bikes")
    other_token = svc.tokens.issue_access_token(
        client_id=other.client_id, kind="operator", scopes=("trips:write",)
    )
    other_headers = {"Authorization": f"Bearer {other_token}"}
    assert client.get("/v1/disputes", headers=other_headers).get_json()["disputes"] == []
    stolen = client.post(f"/v1/disputes/{dispute_id}/resolution", headers=other_headers,
                         json={"decision": "reject"})  # fmt: skip
    assert stolen.status_code == 404

    no_grams = client.post(f"/v1/disputes/{dispute_id}/resolution", headers=op_headers,
                           json={"decision": "credit"})  # fmt: skip
    assert no_grams.status_code == 422 and "co2_g" in no_grams.get_json()["errors"]
    resolution = {"decision": "credit", "co2_g": 230, "note": "GPS gap"}
    credited = client.post(
        f"/v1/disputes/{dispute_id}/resolution", headers=op_headers, json=resolution
    )
    assert credited.status_code == 200
    assert credited.get_json()["credited_points"] == 230
    twice = client.post(f"/v1/disputes/{dispute_id}/resolution", headers=op_headers,
                        json={"decision": "credit", "co2_g": 230})  # fmt: skip
    assert twice.status_code == 409
    balance = client.get("/v1/me/account", headers=alice).get_json()["balance"]
    assert balance["pending"] == 230


def test_admin_reverses_a_fraudulent_trip(svc, client, alice):
    trip, _ = accepted_trip(svc, _account_id(client, alice), BIKE_2350M)
    admin = create_client(svc.db, kind="admin", name="fraud desk")
    token = svc.tokens.issue_access_token(client_id=admin.client_id, kind="admin",
                                          scopes=("admin",))  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    totals = client.get("/v1/admin/ledger/totals", headers=headers).get_json()
    assert (totals["issued"], totals["riders"]["pending"]) == (230, 230)
    path = f"/v1/admin/trips/{trip.uid}/reversal"
    first = client.post(path, headers=headers, json={"reason": "gps_spoofing"})
    assert first.get_json()["points"] == 230 and first.get_json()["new"]
    again = client.post(path, headers=headers, json={"reason": "gps_spoofing"})
    assert again.status_code == 200 and not again.get_json()["new"]
    assert client.post(path, headers=alice, json={"reason": "x"}).status_code == 403
    body = client.get(f"/v1/me/trips/{trip.uid}", headers=alice).get_json()
    assert body["status"] == "reversed"
    assert client.get("/v1/me/account", headers=alice).get_json()["balance"]["pending"] == 0
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])
    totals = client.get("/v1/admin/ledger/totals", headers=headers).get_json()
    assert totals["issued"] == 0 and totals["issued_by_kind"]["credit"] == 230
    assert totals["riders"] == {"pending": 0, "available": 0, "held": 0}
    assert client.get("/v1/admin/ledger/totals", headers=alice).status_code == 403


def test_export_then_erase(svc, client, alice, operator):
    account_id = _account_id(client, alice)
    client.put(f"/v1/me/consents/{operator.client_id}", headers=alice,
               json={"rider_ref": "u-1093", "scenarios": ["bike"]})  # fmt: skip
    trip, _ = accepted_trip(svc, account_id, BIKE_2350M)
    exported = client.get("/v1/me/export", headers=alice).get_json()
    assert exported["user_id"] == "alice"
    assert exported["consents"][0]["rider_ref"] == "u-1093"
    assert exported["trips"][0]["start"] == {"lat": 31.2304, "lng": 121.4737}
    assert [e["amount"] for e in exported["entries"]] == [230]

    assert client.delete("/v1/me", headers=alice).status_code == 204
    assert client.get("/v1/me/account", headers=alice).status_code == 404
    assert client.get("/v1/me/export", headers=alice).status_code == 404

    from service.persistence.ledger_models import LedgerEntry
    from service.persistence.rider_models import Consent, Rider, Trip

    with svc.db.transaction() as session:
        erased = session.get(Trip, trip.uid)
        assert (erased.start_lat, erased.end_lng, erased.rider_ref) == (None, None, None)
        assert session.query(Consent).filter_by(account_id=account_id).count() == 0
        assert session.get(Rider, "alice") is None
        assert session.query(LedgerEntry).filter_by(account_id=account_id).count() == 1
    assert ledger_ops.verify(svc.db, svc.policy) == ([], [])
    # The same person may come back: a new, empty account.
    assert client.post("/v1/me/account", headers=alice).status_code == 201
    assert _account_id(client, alice) != account_id


def test_trip_over_the_daily_cap_is_kept_with_its_reason(make_app):
    app = make_app(daily_cap_points=1000)
    svc = app.extensions["greenpoints"]
    client = app.test_client()
    headers = rider_headers(svc, "commuter")
    client.post("/v1/me/account", headers=headers)
    account_id = _account_id(client, headers)
    first, _ = accepted_trip(svc, account_id, METRO_12400M)  # 1202 g: capped at 1000
    second, _ = accepted_trip(svc, account_id, BIKE_2350M)  # nothing left today
    one = client.get(f"/v1/me/trips/{first.uid}", headers=headers).get_json()
    two = client.get(f"/v1/me/trips/{second.uid}", headers=headers).get_json()
    assert (one["co2_g"], one["points"], one["reasons"]) == (1202, 1000, ["daily_cap_reached"])
    assert (two["co2_g"], two["points"], two["reasons"]) == (230, 0, ["daily_cap_reached"])
    body = client.get("/v1/me/account", headers=headers).get_json()
    assert body["balance"]["pending"] == 1000
    assert body["totals"]["co2_g"] == 1432  # the reduction happened; only the points are capped
