"""Building blocks for tests: riders with accounts, accepted trips, available points.

The figures are the published ones (METHODOLOGIES.md): Shanghai cycling 98 g/km, Shanghai rail
97 g/pkm, and the Meituan co-pollutants for a bike in a metro city (CO 0.256, HC 0.022,
NOx 0.019, PM 0.007 g/pkm).
"""

from __future__ import annotations

import datetime as dt
import uuid

from service.auth.clients import create_client
from service.ledger.ledger import Ledger
from service.usecases import accounts, crediting, ledger_ops

TRIP_END = dt.datetime(2026, 11, 2, 0, 40, tzinfo=dt.UTC)  # 08:40 in Shanghai

# 2.35 km by shared bike in Shanghai: 98 g/km x 2.35 km = 230.3 g -> 230 g.
BIKE_2350M = {
    "mode": "bike",
    "distance_m": 2350,
    "co2_g": 230,
    # CO 0.256 x 2.35 = 0.6016 g; HC 0.0517 g; NOx 0.04465 g; PM 0.01645 g (in mg, rounded down)
    "pollutants_mg": {"co": 601, "hc": 51, "nox": 44, "pm": 16},
    "receipt": {
        "methodology": {"id": "sh-cycling-2025", "version": 1},
        "factor_g_per_km": 98,
        "quantity_km": 2.35,
        "formula": "98 g/km x 2.35 km = 230.3 g",
        "co2_g": 230,
    },
}
# 12.4 km by metro in Shanghai: 97 g/pkm x 12.4 km = 1202.8 g -> 1202 g.
METRO_12400M = {
    "mode": "metro",
    "distance_m": 12400,
    "co2_g": 1202,
    "pollutants_mg": {},
    "receipt": {
        "methodology": {"id": "sh-rail-2025", "version": 1},
        "factor_g_per_pkm": 97,
        "quantity_pkm": 12.4,
        "formula": "97 g/pkm x 12.4 pkm = 1202.8 g",
        "co2_g": 1202,
    },
}


# Every scope each kind of API client may hold.
CLIENT_SCOPES = {
    "operator": ("trips:write", "vehicles:write", "parking:read", "fleet:read"),
    "planner": ("aggregates:read",),
    "admin": ("admin",),
}


def client_headers(svc, kind: str) -> tuple[str, dict[str, str]]:
    """A new API client of ``kind`` with all its scopes: (client id, bearer headers)."""
    created = create_client(svc.db, kind=kind, name=f"a {kind}")
    token = svc.tokens.issue_access_token(client_id=created.client_id, kind=kind,
                                          scopes=CLIENT_SCOPES[kind])  # fmt: skip
    return created.client_id, {"Authorization": f"Bearer {token}"}


def rider_headers(svc) -> tuple[str, str, dict[str, str]]:
    """A new rider with an account: (user id, account id, bearer headers)."""
    user_id, account_id = open_rider(svc)
    return user_id, account_id, {"Authorization": f"Bearer {svc.tokens.mint_rider_token(user_id)}"}


def open_rider(svc, user_id: str | None = None) -> tuple[str, str]:
    """A rider with an open account: (user id, account id)."""
    user_id = user_id or f"u-{uuid.uuid4().hex[:8]}"
    account_id, _ = accounts.open_account(svc.db, svc.policy, user_id)
    return user_id, account_id


def accepted_trip(svc, account_id: str, template: dict, *, operator_id: str = "op_test",
                  ended_at: dt.datetime = TRIP_END, trip_id: str | None = None):  # fmt: skip
    facts = {
        **template,
        "operator_id": operator_id,
        "operator_trip_id": trip_id or f"t-{uuid.uuid4().hex[:10]}",
        "account_id": account_id,
        "rider_ref": f"ref-{account_id[-6:]}",
        "started_at": ended_at - dt.timedelta(minutes=12),
        "ended_at": ended_at,
        "start_lat": 31.2304,
        "start_lng": 121.4737,
        "end_lat": 31.2243,
        "end_lng": 121.4768,
    }
    trip, outcome = crediting.record_accepted_trip(svc.db, svc.policy, facts=facts)
    return trip, outcome


def give_available_points(svc, account_id: str, points: int) -> None:
    """Credit ``points`` and let them mature (as if the fraud window had passed).

    Spread over days long past, one daily cap's worth a day, so no test's own day is touched.
    """
    cap = svc.policy.daily_cap_points
    chunks = [cap] * (points // cap) + ([points % cap] if points % cap else [])
    for days_back, chunk in enumerate(chunks, start=100):
        moment = TRIP_END - dt.timedelta(days=days_back)
        with svc.db.transaction() as session:
            outcome = Ledger(session, svc.policy).credit(
                account_id, purpose="test-grant", ref=uuid.uuid4().hex, points=chunk,
                occurred_at=moment, now=moment,
            )  # fmt: skip
            assert outcome.points == chunk
    ledger_ops.mature_due(svc.db, svc.policy, TRIP_END)
