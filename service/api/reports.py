"""Reports for regulators: reductions credited per methodology, with verifiable evidence."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, stream_with_context

from service.api.aggregates import MONTH
from service.api.blueprint import Blueprint
from service.api.context import services
from service.api.guard import requires_scope
from service.usecases import reports

blp = Blueprint("reports", __name__, url_prefix="/v1/reports", description="Reports")


class PeriodSchema(ma.Schema):
    period = ma.fields.String(
        required=True, validate=ma.validate.Regexp(MONTH),
        metadata={"description": "a local calendar month, YYYY-MM"},
    )  # fmt: skip


class MethodologyLineSchema(ma.Schema):
    methodology_id = ma.fields.String(required=True)
    version = ma.fields.Integer(allow_none=True, required=True)
    trips = ma.fields.Integer(required=True)
    co2_g = ma.fields.Integer(required=True)
    digest = ma.fields.String(required=True)


class ReductionsSchema(ma.Schema):
    period = ma.fields.String(required=True)
    trips = ma.fields.Integer(required=True)
    co2_g = ma.fields.Integer(required=True)
    digest = ma.fields.String(
        required=True, metadata={"description": "SHA-256 of the export's lines"}
    )
    methodologies = ma.fields.List(ma.fields.Nested(MethodologyLineSchema), required=True)


@blp.route("/reductions", methods=["GET"])
@requires_scope("admin", "aggregates:read")
@blp.arguments(PeriodSchema, location="query")
@blp.response(200, ReductionsSchema)
def reductions(query: dict[str, Any]) -> dict[str, Any]:
    """Trips and grams of CO2 credited in the month per methodology version, with the digest
    of the evidence export (``/v1/reports/reductions/evidence``)."""
    svc = services()
    return reports.reductions(svc.db, query["period"], svc.policy.zone)


@blp.route("/reductions/evidence", methods=["GET"])
@requires_scope("admin", "aggregates:read")
@blp.arguments(PeriodSchema, location="query")
@blp.response(200, description="CSV: one line per credited trip, sorted by trip uid")
def evidence(query: dict[str, Any]) -> Response:
    """The lines the digests are computed over (after this header line)."""
    svc = services()
    lines = reports.export_lines(svc.db, query["period"], svc.policy.zone)
    body = stream_with_context(_with_header(lines))
    return Response(body, mimetype="text/csv")


def _with_header(lines: Any) -> Any:
    yield reports.HEADER
    yield from lines
