"""Missing-points claims: a rider files one for a trip; its operator or an admin resolves it.

A resolution that credits goes through the ledger like any credit (exactly once per dispute,
pending for the fraud window, under the daily cap of the day the trip ended).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import select

from service.auth.tokens import Principal
from service.errors import Conflict, InvalidInput, NotFound
from service.ledger.ledger import Ledger
from service.ledger.policy import LedgerPolicy
from service.persistence.database import Database
from service.persistence.models import ApiClient
from service.persistence.rider_models import Dispute
from service.usecases.accounts import account_id_of, newest_of


def _view(dispute: Dispute) -> dict[str, Any]:
    return {
        "dispute_id": dispute.id,
        "operator_id": dispute.operator_id,
        "trip_id": dispute.operator_trip_id,
        "description": dispute.description,
        "status": dispute.status,
        "resolution_note": dispute.resolution_note,
        "credited_points": dispute.credited_points,
        "created_at": dispute.created_at,
        "resolved_at": dispute.resolved_at,
    }


def file(
    db: Database, user_id: str, *, operator_id: str, trip_id: str, description: str | None
) -> dict[str, Any]:
    with db.transaction() as session:
        account_id = account_id_of(session, user_id)
        operator = session.get(ApiClient, operator_id)
        if operator is None or operator.kind != "operator":
            raise NotFound(f"no operator {operator_id}")
        open_already = session.scalar(
            select(Dispute).where(
                Dispute.account_id == account_id,
                Dispute.operator_id == operator_id,
                Dispute.operator_trip_id == trip_id,
                Dispute.status == "open",
            )
        )
        if open_already is not None:
            raise Conflict(
                "a claim for this trip is already open",
                errors={"trip_id": [f"open claim {open_already.id}"]},
            )
        dispute = Dispute(
            id=f"dsp_{secrets.token_hex(12)}",
            account_id=account_id,
            operator_id=operator_id,
            operator_trip_id=trip_id,
            description=description,
            status="open",
            credited_points=0,
            created_at=dt.datetime.now(dt.UTC),
        )
        session.add(dispute)
        session.flush()
        return _view(dispute)


def mine(db: Database, user_id: str) -> list[dict[str, Any]]:
    return [_view(row) for row in newest_of(db, user_id, Dispute)]


def _visible_to(dispute: Dispute | None, caller: Principal) -> bool:
    if dispute is None:
        return False
    return caller.kind == "admin" or dispute.operator_id == caller.subject


def for_caller(db: Database, caller: Principal, *, status: str | None) -> list[dict[str, Any]]:
    """Disputes an operator may see (its own trips) or, for an admin, all of them."""
    with db.transaction() as session:
        query = select(Dispute).order_by(Dispute.created_at).limit(500)
        if caller.kind != "admin":
            query = query.where(Dispute.operator_id == caller.subject)
        if status:
            query = query.where(Dispute.status == status)
        return [_view(row) for row in session.scalars(query)]


def resolve(
    db: Database,
    policy: LedgerPolicy,
    caller: Principal,
    dispute_id: str,
    *,
    decision: str,
    co2_g: int | None,
    trip_ended_at: dt.datetime | None,
    note: str | None,
) -> dict[str, Any]:
    """Credit (``co2_g`` grams' worth of points) or reject an open claim, once."""
    if decision not in ("credit", "reject"):
        raise InvalidInput("decision is credit or reject", errors={"decision": ["unknown"]})
    if decision == "credit" and (co2_g is None or co2_g <= 0):
        raise InvalidInput("a credit needs co2_g > 0", errors={"co2_g": ["required, > 0"]})
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as session:
        dispute = session.get(Dispute, dispute_id, with_for_update=True)
        if not _visible_to(dispute, caller):
            raise NotFound(f"no dispute {dispute_id}")
        assert dispute is not None
        if dispute.status != "open":
            raise Conflict(f"dispute {dispute_id} is already {dispute.status}")
        if decision == "credit":
            assert co2_g is not None
            outcome = Ledger(session, policy).credit(
                dispute.account_id,
                purpose="dispute",
                ref=dispute.id,
                points=policy.points_for(co2_g),
                occurred_at=trip_ended_at or dispute.created_at,
                now=now,
                details={"co2_g": co2_g, "operator_trip_id": dispute.operator_trip_id},
            )
            dispute.credited_points = outcome.points
            dispute.status = "credited"
        else:
            dispute.status = "rejected"
        dispute.resolution_note = note
        dispute.resolved_by = caller.subject
        dispute.resolved_at = now
        session.flush()
        return _view(dispute)
