"""Admin ledger actions: reversing a fraudulent trip's credit."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from service.api.context import services
from service.api.guard import requires_scope
from service.usecases import crediting

blp = Blueprint("admin", __name__, url_prefix="/v1/admin", description="Administration")


class ReversalRequestSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z0-9_]{1,40}$"))


class ReversalSchema(ma.Schema):
    trip_uid = ma.fields.String(required=True)
    reversal_id = ma.fields.String(required=True)
    points = ma.fields.Integer(required=True, metadata={"description": "points taken back"})
    new = ma.fields.Boolean(required=True, metadata={"description": "false on a repeat"})


@blp.route("/trips/<string:trip_uid>/reversal", methods=["POST"])
@requires_scope("admin")
@blp.arguments(ReversalRequestSchema)
@blp.response(200, ReversalSchema)
def reverse(body: dict[str, Any], trip_uid: str) -> dict[str, Any]:
    """Reverse a trip's credit for fraud with a compensating entry (repeat-safe)."""
    svc = services()
    return crediting.reverse_trip(svc.db, svc.policy, trip_uid, reason=body["reason"])
