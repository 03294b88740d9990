"""Scenario consents: a rider authorises an operator, mode by mode, and can take it back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.errors import Conflict, InvalidInput, NotFound
from service.persistence.database import Database
from service.persistence.models import ApiClient
from service.persistence.rider_models import MODES, Consent
from service.usecases.accounts import account_id_of


def _view(consent: Consent) -> dict[str, Any]:
    return {
        "operator_id": consent.operator_id,
        "rider_ref": consent.rider_ref,
        "scenarios": list(consent.scenarios),
        "granted_at": consent.granted_at,
    }


def grant(
    db: Database, user_id: str, operator_id: str, *, rider_ref: str, scenarios: Sequence[str]
) -> dict[str, Any]:
    """Authorise (or change) the scenarios an operator may credit; replaces the previous set."""
    chosen = list(dict.fromkeys(scenarios))
    unknown = [s for s in chosen if s not in MODES]
    if unknown or not chosen:
        raise InvalidInput(
            "scenarios must be a non-empty list of " + ", ".join(MODES),
            errors={"scenarios": [f"unknown: {', '.join(unknown)}" if unknown else "empty"]},
        )
    try:
        with db.transaction() as session:
            account_id = account_id_of(session, user_id)
            operator = session.get(ApiClient, operator_id)
            if operator is None or operator.kind != "operator" or operator.revoked_at:
                raise NotFound(f"no operator {operator_id}")
            consent = session.get(Consent, (account_id, operator_id))
            now = dt.datetime.now(dt.UTC)
            if consent is None:
                consent = Consent(account_id=account_id, operator_id=operator_id)
                session.add(consent)
            consent.rider_ref = rider_ref
            consent.scenarios = chosen
            consent.granted_at = now
            session.flush()
            return _view(consent)
    except IntegrityError as exc:
        raise Conflict(
            "that rider_ref at this operator is linked to another account",
            errors={"rider_ref": ["already linked to another account"]},
        ) from exc


def list_mine(db: Database, user_id: str) -> list[dict[str, Any]]:
    with db.transaction() as session:
        account_id = account_id_of(session, user_id)
        rows = session.scalars(
            select(Consent).where(Consent.account_id == account_id).order_by(Consent.operator_id)
        ).all()
        return [_view(row) for row in rows]


def revoke(db: Database, user_id: str, operator_id: str) -> None:
    """Withdraw consent for an operator: from now on none of its trips are credited."""
    with db.transaction() as session:
        account_id = account_id_of(session, user_id)
        consent = session.get(Consent, (account_id, operator_id))
        if consent is None:
            raise NotFound(f"no consent for operator {operator_id}")
        session.delete(consent)
