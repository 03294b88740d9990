"""Admin ledger actions: reversing a fraudulent trip's credit, the books at a glance."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from service.api.blueprint import Blueprint
from service.api.context import services
from service.api.docs import may_answer
from service.api.guard import requires_scope
from service.usecases import crediting, ledger_ops

blp = Blueprint("admin", __name__, url_prefix="/v1/admin", description="Administration")


class ReversalRequestSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z0-9_]{1,40}$"))


class ReversalSchema(ma.Schema):
    trip_uid = ma.fields.String(required=True)
    reversal_id = ma.fields.String(required=True)
    points = ma.fields.Integer(required=True, metadata={"description": "points taken back"})
    new = ma.fields.Boolean(required=True, metadata={"description": "false on a repeat"})


class BucketsSchema(ma.Schema):
    pending = ma.fields.Integer(required=True)
    available = ma.fields.Integer(required=True)
    held = ma.fields.Integer(required=True)


class LedgerTotalsSchema(ma.Schema):
    issued = ma.fields.Integer(
        required=True, metadata={"description": "points issued, net of reversals"}
    )
    issued_by_kind = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                                    required=True)  # fmt: skip
    redeemed = ma.fields.Integer(required=True)
    donated = ma.fields.Integer(required=True)
    penalties = ma.fields.Integer(required=True)
    riders = ma.fields.Nested(BucketsSchema, required=True)


@blp.route("/ledger/totals", methods=["GET"])
@requires_scope("admin")
@blp.response(200, LedgerTotalsSchema)
def ledger_totals() -> dict[str, Any]:
    """Issued, redeemed, donated and fined points and what riders hold, from the entries:
    issued = redeemed + donated + penalties + everything riders hold."""
    svc = services()
    return ledger_ops.totals(svc.db, svc.policy)


@blp.route("/trips/<string:trip_uid>/reversal", methods=["POST"])
@requires_scope("admin")
@blp.arguments(ReversalRequestSchema)
@blp.response(200, ReversalSchema)
@may_answer(404)
def reverse(body: dict[str, Any], trip_uid: str) -> dict[str, Any]:
    """Reverse a trip's credit for fraud with a compensating entry (repeat-safe)."""
    svc = services()
    return crediting.reverse_trip(svc.db, svc.policy, trip_uid, reason=body["reason"])
