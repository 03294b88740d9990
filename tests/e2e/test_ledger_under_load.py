"""64 requests at once against a real server: no 5xx, no double credit, no overselling."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.conftest import client_token

TIMEOUT = 30
WORKERS = 64


def _all_at_once(calls):
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _riders_with_points(service, operator_id, operator_headers, count, co2_g):
    """Riders whose points arrived the real way: a claim, a credit, then maturing."""
    tokens = service.cli("tokens", "rider", *[f"load-{i}" for i in range(count)]).split()
    riders = [{"Authorization": f"Bearer {token}"} for token in tokens]
    for headers in riders:
        assert requests.post(service.url("/v1/me/account"), headers=headers,
                             timeout=TIMEOUT).status_code == 201  # fmt: skip
        dispute = requests.post(
            service.url("/v1/me/disputes"), headers=headers,
            json={"operator_id": operator_id, "trip_id": "t-1"}, timeout=TIMEOUT,
        ).json()  # fmt: skip
        resolved = requests.post(
            service.url(f"/v1/disputes/{dispute['dispute_id']}/resolution"),
            headers=operator_headers, json={"decision": "credit", "co2_g": co2_g},
            timeout=TIMEOUT,
        )  # fmt: skip
        assert resolved.status_code == 200
    service.cli("ledger", "mature")
    return riders


def test_64_redemptions_of_10_in_stock_sell_exactly_10(instant_service):
    service = instant_service
    operator_id, operator_headers = client_token(service, "operator")
    _, admin_headers = client_token(service, "admin")
    item = {"item_id": "coffee", "kind": "coupon", "title": "A coffee", "cost_points": 100,
            "stock": 10}  # fmt: skip
    assert requests.post(service.url("/v1/catalog/items"), headers=admin_headers, json=item,
                         timeout=TIMEOUT).status_code == 201  # fmt: skip
    riders = _riders_with_points(service, operator_id, operator_headers, 16, co2_g=1000)

    def redeem(headers, n):
        return lambda: requests.post(
            service.url("/v1/me/redemptions"),
            headers={"Idempotency-Key": f"buy-{n}", **headers},
            json={"item_id": "coffee"}, timeout=TIMEOUT,
        )  # fmt: skip

    answers = _all_at_once([redeem(riders[i % 16], i) for i in range(WORKERS)])
    statuses = sorted(a.status_code for a in answers)
    assert all(s < 500 for s in statuses), statuses
    sold = [a for a in answers if a.status_code == 201]
    assert len(sold) == 10
    assert all(a.json()["status"] == "completed" for a in sold)
    assert all(a.status_code == 409 and a.json()["code"] == "out_of_stock"
               for a in answers if a.status_code != 201)  # fmt: skip
    catalog = requests.get(service.url("/v1/catalog"), headers=admin_headers,
                           timeout=TIMEOUT).json()["items"]  # fmt: skip
    assert catalog[0]["stock"] == 0
    spent = 0
    for headers in riders:
        balance = requests.get(service.url("/v1/me/account"), headers=headers,
                               timeout=TIMEOUT).json()["balance"]  # fmt: skip
        assert balance["held"] == 0
        spent += 1000 - balance["available"]
    assert spent == 10 * 100
    assert "ledger ok" in service.cli("ledger", "verify")


def test_64_identical_resolutions_credit_once(instant_service):
    service = instant_service
    operator_id, operator_headers = client_token(service, "operator")
    (token,) = service.cli("tokens", "rider", "claimant").split()
    rider = {"Authorization": f"Bearer {token}"}
    requests.post(service.url("/v1/me/account"), headers=rider, timeout=TIMEOUT)
    dispute = requests.post(
        service.url("/v1/me/disputes"), headers=rider,
        json={"operator_id": operator_id, "trip_id": "op-7781"}, timeout=TIMEOUT,
    ).json()  # fmt: skip
    path = service.url(f"/v1/disputes/{dispute['dispute_id']}/resolution")

    credit = {"decision": "credit", "co2_g": 230}

    def resolve():
        return requests.post(path, headers=operator_headers, json=credit, timeout=TIMEOUT)

    answers = _all_at_once([resolve] * WORKERS)
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 1
    assert statuses.count(409) == WORKERS - 1
    balance = requests.get(service.url("/v1/me/account"), headers=rider,
                           timeout=TIMEOUT).json()["balance"]  # fmt: skip
    assert balance["pending"] == 230
    assert "ledger ok" in service.cli("ledger", "verify")
