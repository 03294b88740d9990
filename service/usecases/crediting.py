"""Turning an accepted trip into points, and taking them back when a trip proves fraudulent."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from service.errors import NotFound
from service.ledger.ledger import CreditOutcome, CreditRequest, Ledger, credit_id
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database
from service.persistence.rider_models import Trip
from service.planner import store as planner

CAP_REASON = "daily_cap_reached"


TRIP_PURPOSE = "trip"  # a trip's credit is ``credit:trip:<uid>``


def new_trip_uid() -> str:
    return f"trp_{secrets.token_hex(12)}"


TripEndJudge = Callable[[Session, Trip, dict[str, Any]], str | None]


def trip_credit(
    policy: LedgerPolicy,
    *,
    account_id: str,
    trip_uid: str,
    co2_g: int,
    mode: str,
    receipt: dict[str, Any] | None,
    ended_at: dt.datetime,
    withheld: str | None = None,
) -> CreditRequest:
    """The ledger credit an accepted trip earns: its reduction in points, or nothing when its
    points are withheld (the decision is still recorded, as a credit of zero)."""
    return CreditRequest(
        account_id=account_id, purpose=TRIP_PURPOSE, ref=trip_uid,
        points=0 if withheld else policy.points_for(co2_g), occurred_at=ended_at,
        trip_uid=trip_uid,
        details={"co2_g": co2_g, "mode": mode, "methodology": (receipt or {}).get("methodology")},
    )  # fmt: skip


def reasons_after_credit(reasons: list[str], withheld: str | None, capped: bool) -> list[str]:
    """A credited trip's reasons: why its points were withheld or capped, if they were."""
    if not withheld and not capped:  # nearly every trip: no comprehensions to build
        return list(reasons)
    added = [r for r in (withheld, CAP_REASON if capped else None) if r]
    return [*reasons, *(r for r in added if r not in reasons)]


def credit_trip(
    ledger: Ledger, trip: Trip, now: dt.datetime, *, withheld: str | None = None
) -> CreditOutcome:
    """Credit an accepted trip's points once; the trip row records what was credited.

    ``withheld`` names why the trip earns nothing (e.g. parked in a no-parking zone).
    """
    assert trip.account_id is not None
    request = trip_credit(
        ledger.policy, account_id=trip.account_id, trip_uid=trip.uid, co2_g=trip.co2_g,
        mode=trip.mode, receipt=trip.receipt, ended_at=trip.ended_at, withheld=withheld,
    )  # fmt: skip
    outcome = ledger.credit_many([request], now)[0]
    trip.points = outcome.points
    trip.status = "credited"
    trip.reasons = reasons_after_credit(list(trip.reasons or []), withheld, outcome.capped)
    if not outcome.duplicate:
        planner.add_trips(ledger.session, [planner.row_of(trip)], ledger.policy.zone)
    return outcome


def record_accepted_trip(
    db: Database,
    policy: LedgerPolicy,
    *,
    facts: dict[str, Any],
    now: dt.datetime | None = None,
    judge_end: TripEndJudge | None = None,
) -> tuple[Trip, CreditOutcome]:
    """Store a trip that passed validation, with its receipt, judge where it ended, and credit
    it, all in one transaction. ``facts`` may also carry ``vehicle_type`` and ``accuracy_m``
    for the parking judgement."""
    now = now or dt.datetime.now(dt.UTC)
    facts = dict(facts)
    end_facts = {k: facts.pop(k) for k in ("vehicle_type", "accuracy_m") if k in facts}
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
        withheld = judge_end(session, trip, end_facts) if judge_end else None
        outcome = credit_trip(Ledger(session, policy), trip, now, withheld=withheld)
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
            credit_id(TRIP_PURPOSE, trip_uid), reason=reason, now=now
        )
        counted = trip.status == "credited"
        trip.status = "reversed"
        if f"reversed:{reason}" not in (trip.reasons or []):
            trip.reasons = [*(trip.reasons or []), f"reversed:{reason}"]
        if counted:
            session.flush()
            planner.refresh_for(session, [trip_uid], policy.zone)
        return {"trip_uid": trip_uid, "reversal_id": reversal_id, "points": points, "new": new}
