"""Simulated riders using the mobile app: open an account, link it to operators (at once, late
or never), look at the balance, redeem, donate to a tree, and dispute missing points."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections import Counter

from mock_clients.http import Api, ApiError
from mock_clients.population import Rider

CATALOG = (
    {"item_id": "metro-coupon-2", "kind": "transit_credit", "title": "CNY 2 metro ride credit",
     "cost_points": 600, "stock": None},
    {"item_id": "coffee-coupon", "kind": "coupon", "title": "Coffee voucher", "cost_points": 1500,
     "stock": 500},
    {"item_id": "playground-brick", "kind": "donation",
     "title": "One recycled-tyre brick for a school playground", "cost_points": 1000,
     "stock": None},
    {"item_id": "saxaul-tree-tenth", "kind": "donation",
     "title": "A tenth of a saxaul tree (梭梭树): 1.79 kg of CO2", "cost_points": 1790,
     "stock": None},
    {"item_id": "saxaul-tree", "kind": "donation",
     "title": "A saxaul tree (梭梭树) in the desert: 17.9 kg of CO2", "cost_points": 17_900,
     "stock": None},
)  # fmt: skip
LOOKS_AT_BALANCE = 0.3  # share of riders who open the app on a given day
REDEEMS, DONATES = 0.25, 0.10  # of those who look and can afford something
DISPUTES = 0.3  # of riders whose trips were refused for want of consent


@dataclasses.dataclass
class RiderApp:
    """One rider's phone: their token and what they did."""

    rider: Rider
    api: Api  # shared by every app
    token: str  # this rider's token from the identity provider
    actions: Counter[str] = dataclasses.field(default_factory=Counter)
    disputed: bool = False

    def open_account(self) -> None:
        self.api.post("/v1/me/account", {}, headers=self._auth())
        self.actions["opened account"] += 1

    def link(self, operators: dict[str, tuple[str, tuple[str, ...]]]) -> int:
        """Authorise every operator (operator key -> (operator_id, scenarios)); returns how
        many earlier trips the service credited because of it."""
        credited = 0
        for key, (operator_id, scenarios) in sorted(operators.items()):
            answer = self.api.put(
                f"/v1/me/consents/{operator_id}",
                {"rider_ref": self.rider.ref_at(key), "scenarios": list(scenarios)},
                headers=self._auth(),
            )
            credited += answer["credited_trips"]
        self.actions["linked operators"] += 1
        return credited

    def daily_visit(self, rng: random.Random, refused_trips: list[tuple[str, str]]) -> None:
        """Maybe look at the balance and spend some; maybe dispute a refused trip."""
        if refused_trips and not self.disputed and rng.random() < DISPUTES:
            operator_id, trip_id = rng.choice(refused_trips)
            claim = {"operator_id": operator_id, "trip_id": trip_id,
                     "description": "I rode and got no points"}  # fmt: skip
            self.api.post("/v1/me/disputes", claim, headers=self._auth())
            self.disputed = True
            self.actions["filed a dispute"] += 1
        if rng.random() >= LOOKS_AT_BALANCE:
            return
        account = self.api.get("/v1/me/account", headers=self._auth())
        self.actions["checked balance"] += 1
        available = account["balance"]["available"]
        affordable = [item for item in CATALOG if item["cost_points"] <= available]
        if not affordable:
            return
        tree = next((i for i in affordable if i["item_id"] == "saxaul-tree"), None)
        donations = [i for i in affordable if i["kind"] == "donation"]
        if tree is not None or (donations and rng.random() < DONATES):
            self._redeem(tree or rng.choice(donations), "donated")
        elif rng.random() < REDEEMS:
            self._redeem(rng.choice(affordable), "redeemed")

    def _auth(self) -> dict[str, str]:
        return self.api.as_bearer(self.token)

    def _redeem(self, item: dict, action: str) -> None:
        key = str(uuid.uuid4())
        try:
            self.api.post("/v1/me/redemptions", {"item_id": item["item_id"], "quantity": 1},
                          headers={**self._auth(), "Idempotency-Key": key})  # fmt: skip
        except ApiError as exc:  # sold out, or spent elsewhere meanwhile: the app says so
            if exc.status not in (409, 422):
                raise
            self.actions[f"{action} refused ({exc.status})"] += 1
            return
        self.actions[action] += 1


def apps_for(riders: list[Rider], api: Api, tokens: list[str]) -> list[RiderApp]:
    """One app per rider, each with the rider's identity-provider token."""
    return [RiderApp(rider, api, token) for rider, token in zip(riders, tokens, strict=True)]
