"""Turning an accepted trip into points, and taking them back when a trip proves fraudulent."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from service.errors import NotFound
from service.ledger.ledger import CreditOutcome, Ledger, credit_id
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database
from service.persistence.rider_models import Trip

CAP_REASON = "daily_cap_reached"


def new_trip_uid() -> str:
    return f"trp_{secrets.token_hex(12)}"


def credit_trip(ledger: Ledger, trip: Trip, now: dt.datetime) -> CreditOutcome:
    """Credit an accepted trip's points once; the trip row records what was credited."""
    assert trip.account_id is not None
    outcome = ledger.credit(
        trip.account_id,
        purpose="trip",
        ref=trip.uid,
        points=ledger.policy.points_for(trip.co2_g),
        occurred_at=trip.ended_at,
        now=now,
        trip_uid=trip.uid,
        details={
            "co2_g": trip.co2_g,
            "mode": trip.mode,
            "methodology": (trip.receipt or {}).get("methodology"),
        },
    )
    trip.points = outcome.points
    trip.status = "credited"
    if outcome.capped and CAP_REASON not in (trip.reasons or []):
        trip.reasons = [*(trip.reasons or []), CAP_REASON]
    return outcome


def record_accepted_trip(
    db: Database, policy: LedgerPolicy, *, facts: dict[str, Any], now: dt.datetime | None = None
) -> tuple[Trip, CreditOutcome]:
    """Store a trip that passed validation, with its receipt, and credit it in one transaction."""
    now = now or dt.datetime.now(dt.UTC)
    methodology = (facts.get("receipt") or {}).get("methodology") or {}
    with db.transaction() as session:
        trip = Trip(
            methodology_id=methodology.get("id"),
            methodology_version=methodology.get("version"),
            uid=facts.get("uid") or new_trip_uid(),
            status="accepted",
            reasons=list(facts.get("reasons", [])),
            created_at=now,
            **{k: v for k, v in facts.items() if k not in ("uid", "reasons")},
        )
        session.add(trip)
        session.flush()
        outcome = credit_trip(Ledger(session, policy), trip, now)
        return trip, outcome


def reverse_trip(
    db: Database, policy: LedgerPolicy, trip_uid: str, *, reason: str
) -> dict[str, Any]:
    """Reverse a trip's credit for fraud with a compensating entry (never an edit)."""
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        trip = session.get(Trip, trip_uid)
        if trip is None:
            raise NotFound(f"no trip {trip_uid}")
        reversal_id, points, new = Ledger(session, policy).reverse_credit(
            credit_id("trip", trip_uid), reason=reason, now=now
        )
        trip.status = "reversed"
        if f"reversed:{reason}" not in (trip.reasons or []):
            trip.reasons = [*(trip.reasons or []), f"reversed:{reason}"]
        return {"trip_uid": trip_uid, "reversal_id": reversal_id, "points": points, "new": new}
