"""Missing-points claims: riders file them, operators (their own trips) and admins resolve."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from service.api.blueprint import Blueprint
from service.api.context import caller, services
from service.api.docs import may_answer
from service.api.guard import requires_scope
from service.usecases import disputes

blp = Blueprint("disputes", __name__, url_prefix="/v1", description="Missing-points claims")


class DisputeRequestSchema(ma.Schema):
    operator_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    trip_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))


class DisputeSchema(ma.Schema):
    dispute_id = ma.fields.String(required=True)
    operator_id = ma.fields.String(required=True)
    trip_id = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True)
    status = ma.fields.String(required=True, metadata={"description": "open, credited, rejected"})
    resolution_note = ma.fields.String(allow_none=True)
    credited_points = ma.fields.Integer(required=True)
    created_at = ma.fields.DateTime(required=True)
    resolved_at = ma.fields.DateTime(allow_none=True)


class DisputeListSchema(ma.Schema):
    disputes = ma.fields.List(ma.fields.Nested(DisputeSchema), required=True)


class DisputeQuerySchema(ma.Schema):
    status = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf(("open", "credited", "rejected"))
    )


class ResolutionSchema(ma.Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(("credit", "reject")))
    co2_g = ma.fields.Integer(
        load_default=None,
        validate=ma.validate.Range(min=1, max=1_000_000),
        metadata={"description": "grams of CO2 the trip reduced; required to credit"},
    )
    trip_end_time = ma.fields.AwareDateTime(load_default=None)
    note = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))


@blp.route("/me/disputes", methods=["POST"])
@requires_scope("account")
@blp.arguments(DisputeRequestSchema)
@blp.response(201, DisputeSchema)
@may_answer(404, 409)
def file_dispute(body: dict[str, Any]) -> dict[str, Any]:
    """Claim points missing for one of my trips."""
    return disputes.file(services().db, caller().subject, **body)


@blp.route("/me/disputes", methods=["GET"])
@requires_scope("account")
@blp.response(200, DisputeListSchema)
@may_answer(404)
def my_disputes() -> dict[str, Any]:
    """My claims, newest first."""
    return {"disputes": disputes.mine(services().db, caller().subject)}


@blp.route("/disputes", methods=["GET"])
@requires_scope("trips:write", "admin")
@blp.arguments(DisputeQuerySchema, location="query")
@blp.response(200, DisputeListSchema)
def list_disputes(query: dict[str, Any]) -> dict[str, Any]:
    """Claims about my trips (operators) or all claims (admins), oldest first."""
    return {"disputes": disputes.for_caller(services().db, caller(), status=query["status"])}


@blp.route("/disputes/<string:dispute_id>/resolution", methods=["POST"])
@requires_scope("trips:write", "admin")
@blp.arguments(ResolutionSchema)
@blp.response(200, DisputeSchema)
@may_answer(404, 409)
def resolve_dispute(body: dict[str, Any], dispute_id: str) -> dict[str, Any]:
    """Credit or reject an open claim; a credit goes through the ledger like any other."""
    svc = services()
    return disputes.resolve(
        svc.db,
        svc.policy,
        caller(),
        dispute_id,
        decision=body["decision"],
        co2_g=body["co2_g"],
        trip_ended_at=body["trip_end_time"],
        note=body["note"],
    )
