"""E-fence parking: may a vehicle be parked here, and how well an operator's riders park."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request

from service.api.blueprint import Blueprint
from service.api.context import caller, services
from service.api.docs import document, may_answer
from service.api.guard import requires_scope
from service.api.problems import flatten_messages
from service.api.schemas import FlatLoader, query_pairs
from service.container import Services
from service.errors import InvalidInput
from service.usecases import parking

blp = Blueprint("parking", __name__, url_prefix="/v1/parking", description="E-fence parking")


class ParkingQuerySchema(ma.Schema):
    lat = ma.fields.Float(required=True, validate=ma.validate.Range(min=-90, max=90))
    lng = ma.fields.Float(required=True, validate=ma.validate.Range(min=-180, max=180))
    vehicle_type = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    accuracy_m = ma.fields.Float(load_default=0.0, validate=ma.validate.Range(min=0, max=1000))


class NearestSchema(ma.Schema):
    zone_id = ma.fields.String(required=True)
    distance_m = ma.fields.Float(required=True)


class ParkingAnswerSchema(ma.Schema):
    allowed = ma.fields.Boolean(required=True)
    zone_id = ma.fields.String(allow_none=True, required=True)
    zone_type = ma.fields.String(allow_none=True, required=True)
    reason = ma.fields.String(required=True)
    parking_category = ma.fields.String(required=True)
    nearest_allowed = ma.fields.Nested(NearestSchema, allow_none=True, required=True)


class ZoneComplianceSchema(ma.Schema):
    zone_id = ma.fields.String(allow_none=True, required=True)
    trips = ma.fields.Integer(required=True)
    valid = ma.fields.Integer(required=True)
    compliance = ma.fields.Float(allow_none=True, required=True)
    by_category = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class ComplianceSchema(ma.Schema):
    zones = ma.fields.List(ma.fields.Nested(ZoneComplianceSchema), required=True)


SCOPE = "parking:read"
_QUERY = FlatLoader(ParkingQuerySchema())


def answer(svc: Services, operator: str, query_string: str) -> bytes:
    """The check's JSON answer to a query string, for the view below and for
    ``service.api.parking_direct``, which answers well-formed checks without Flask."""
    try:
        query = _QUERY.load(query_pairs(query_string))
    except ma.ValidationError as exc:
        raise InvalidInput(
            "the request has invalid fields: " + ", ".join(sorted(exc.messages)),
            errors=flatten_messages(exc.messages),
        ) from exc
    verdict = parking.check(
        svc.zones, svc.policy, lat=query["lat"], lng=query["lng"], operator=operator,
        vehicle_type=query["vehicle_type"], accuracy_m=query["accuracy_m"],
    )  # fmt: skip
    return verdict.json


# The busiest endpoint: the schemas above validate and document it, but it loads the query and
# writes the answer itself, skipping the per-request argument and response machinery.
@blp.route("/check", methods=["GET"])
@requires_scope(SCOPE)
@document(
    parameters=[{"in": "query", "schema": ParkingQuerySchema}],
    responses={
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": ParkingAnswerSchema}},
        }
    },
)
@may_answer(422)
def check() -> Response:
    """May this operator's vehicle be parked here now? Which zone decided, why, and where the
    nearest allowed parking is. Within ``accuracy_m`` of a boundary the rider gets the benefit
    of the doubt."""
    body = answer(services(), caller().subject, request.environ.get("QUERY_STRING", ""))
    return Response(body, content_type="application/json")


@blp.route("/compliance", methods=["GET"])
@requires_scope(SCOPE)
@blp.response(200, ComplianceSchema)
def compliance() -> dict[str, Any]:
    """My trips' parking per zone: how many ended, how many validly, by MDS category."""
    return {"zones": parking.compliance(services().db, caller().subject)}
