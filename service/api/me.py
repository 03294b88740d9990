"""Rider endpoints (``/v1/me``): the account, its entries, trips, consents, export, erasure.

Every view acts on the caller's own account only (the token's subject); there is no account id
in any path, so another rider's objects are simply not found.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from service.api.blueprint import Blueprint
from service.api.context import caller, services
from service.api.docs import may_answer
from service.api.guard import requires_scope
from service.persistence.rider_models import MODES
from service.usecases import accounts, consents

blp = Blueprint("me", __name__, url_prefix="/v1/me", description="A rider's own carbon account")

_POLLUTANTS = {name: ma.fields.Float(required=True) for name in accounts.POLLUTANTS}


class BalanceSchema(ma.Schema):
    available = ma.fields.Integer(required=True)
    pending = ma.fields.Integer(required=True)
    held = ma.fields.Integer(required=True)


class TotalsSchema(ma.Schema):
    co2_g = ma.fields.Integer(required=True)
    by_mode = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    trips = ma.fields.Integer(required=True)
    pollutants_g = ma.fields.Nested(ma.Schema.from_dict(_POLLUTANTS, name="Pollutants"))


class AccountSchema(ma.Schema):
    account_id = ma.fields.String(required=True)
    balance = ma.fields.Nested(BalanceSchema, required=True)
    totals = ma.fields.Nested(TotalsSchema, required=True)
    trees_equivalent = ma.fields.Float(
        required=True, metadata={"description": "CO2 reduced / 17,900 g (one saxaul tree)"}
    )


class EntrySchema(ma.Schema):
    entry_id = ma.fields.Integer(required=True)
    transaction_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    bucket = ma.fields.String(required=True)
    amount = ma.fields.Integer(required=True)
    trip_uid = ma.fields.String(allow_none=True)
    purpose = ma.fields.String(
        allow_none=True, metadata={"description": "of a credit: trip, rebalancing, dispute..."}
    )
    reason = ma.fields.String(allow_none=True, metadata={"description": "why, in words"})
    created_at = ma.fields.DateTime(required=True)


class EntriesPageSchema(ma.Schema):
    entries = ma.fields.List(ma.fields.Nested(EntrySchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


class EntriesQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
    cursor = ma.fields.String(load_default=None)


class LedgerRefSchema(ma.Schema):
    transaction_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)


class TripSchema(ma.Schema):
    trip_uid = ma.fields.String(required=True)
    operator_id = ma.fields.String(required=True)
    trip_id = ma.fields.String(required=True)
    mode = ma.fields.String(required=True)
    start_time = ma.fields.DateTime(required=True)
    end_time = ma.fields.DateTime(required=True)
    distance_m = ma.fields.Integer(allow_none=True)
    status = ma.fields.String(required=True)
    reasons = ma.fields.List(ma.fields.String(), required=True)
    co2_g = ma.fields.Integer(required=True)
    points = ma.fields.Integer(required=True)
    pollutants_g = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float())
    receipt = ma.fields.Dict(allow_none=True)
    parking = ma.fields.Dict(allow_none=True)
    ledger = ma.fields.List(ma.fields.Nested(LedgerRefSchema), required=True)


class ConsentRequestSchema(ma.Schema):
    rider_ref = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    scenarios = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(MODES)),
        required=True,
        validate=ma.validate.Length(min=1, max=len(MODES)),
    )


class ConsentSchema(ma.Schema):
    operator_id = ma.fields.String(required=True)
    rider_ref = ma.fields.String(required=True)
    scenarios = ma.fields.List(ma.fields.String(), required=True)
    granted_at = ma.fields.DateTime(required=True)
    credited_trips = ma.fields.Integer(
        metadata={"description": "waiting trips credited now that the consent is given"}
    )


class ConsentListSchema(ma.Schema):
    consents = ma.fields.List(ma.fields.Nested(ConsentSchema), required=True)


def _me() -> str:
    return caller().subject


@blp.route("/account", methods=["POST"])
@requires_scope("account")
@blp.response(201, AccountSchema)
@blp.alt_response(200, schema=AccountSchema, description="the account already existed")
def open_account() -> tuple[dict[str, Any], int]:
    """Open my carbon account; opening it again is harmless and answers 200."""
    svc = services()
    _, created = accounts.open_account(svc.db, svc.policy, _me())
    return accounts.summary(svc.db, _me()), 201 if created else 200


@blp.route("/account", methods=["GET"])
@requires_scope("account")
@blp.response(200, AccountSchema)
@may_answer(404)
def account() -> dict[str, Any]:
    """My balances (available, pending, held), CO2 totals by mode, co-pollutants, trees."""
    svc = services()
    return accounts.summary(svc.db, _me())


@blp.route("/entries", methods=["GET"])
@requires_scope("account")
@blp.arguments(EntriesQuerySchema, location="query")
@blp.response(200, EntriesPageSchema)
@may_answer(404)
def entries(query: dict[str, Any]) -> dict[str, Any]:
    """My ledger entries, newest first; pass ``next_cursor`` back as ``cursor`` for more."""
    page, next_cursor = accounts.entries_page(
        services().db, _me(), limit=query["limit"], cursor=query["cursor"]
    )
    return {"entries": page, "next_cursor": next_cursor}


@blp.route("/trips/<string:trip_uid>", methods=["GET"])
@requires_scope("account")
@blp.response(200, TripSchema)
@may_answer(404)
def trip(trip_uid: str) -> dict[str, Any]:
    """One of my trips with its carbon receipt, parking verdict and ledger transactions."""
    return accounts.my_trip(services().db, _me(), trip_uid)


@blp.route("/consents/<string:operator_id>", methods=["PUT"])
@requires_scope("account")
@blp.arguments(ConsentRequestSchema)
@blp.response(200, ConsentSchema)
@may_answer(404, 409)
def grant_consent(body: dict[str, Any], operator_id: str) -> dict[str, Any]:
    """Authorise an operator to credit my trips in these scenarios (replaces the old set).
    Trips the operator sent in the last ``CONSENT_GRACE_DAYS`` that were rejected only for want
    of this consent are credited now; ``credited_trips`` says how many."""
    svc = services()
    granted = consents.grant(
        svc.db, _me(), operator_id, rider_ref=body["rider_ref"], scenarios=body["scenarios"]
    )
    credited = svc.ingestor().credit_after_consent(operator_id, body["rider_ref"])
    return {**granted, "credited_trips": credited}


@blp.route("/consents", methods=["GET"])
@requires_scope("account")
@blp.response(200, ConsentListSchema)
@may_answer(404)
def list_consents() -> dict[str, Any]:
    """The operators I have authorised, and for which scenarios."""
    return {"consents": consents.list_mine(services().db, _me())}


@blp.route("/consents/<string:operator_id>", methods=["DELETE"])
@requires_scope("account")
@blp.response(204)
@may_answer(404)
def revoke_consent(operator_id: str) -> None:
    """Withdraw an operator's authorisation."""
    consents.revoke(services().db, _me(), operator_id)


@blp.route("/export", methods=["GET"])
@requires_scope("account")
@blp.response(200)
@may_answer(404)
def export() -> dict[str, Any]:
    """Everything held about me: account, consents, trips with locations, entries, claims."""
    svc = services()
    return accounts.export(svc.db, _me())


@blp.route("", methods=["DELETE"])
@requires_scope("account")
@blp.response(204)
@may_answer(404)
def erase() -> None:
    """Erase me: personal data and locations go; the ledger keeps a pseudonymous account."""
    accounts.erase(services().db, _me())
