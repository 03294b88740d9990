"""Operators post trips (their own format or MDS 2.0) and read back what became of them."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import marshmallow as ma
import msgspec
import orjson
from flask import Response, request

from service.api.blueprint import Blueprint
from service.api.context import caller, services
from service.api.docs import document, may_answer, problem_response
from service.api.guard import requires_scope
from service.errors import InvalidInput, PayloadTooLarge, RateLimited
from service.ingest import replay
from service.ingest.batch import decode_envelope, decode_items
from service.ingest.contract import MAX_BATCH
from service.usecases import operator_trips

blp = Blueprint("trips", __name__, url_prefix="/v1", description="Operator trip ingestion")

RATE_WINDOW_S = 60


class TripResultSchema(ma.Schema):
    trip_id = ma.fields.String(required=True)
    trip_uid = ma.fields.String(required=True)
    status = ma.fields.String(
        required=True, metadata={"description": "credited, rejected or duplicate"}
    )
    original_status = ma.fields.String(metadata={"description": "for a duplicate: the first"})
    points = ma.fields.Integer(required=True)
    co2_g = ma.fields.Integer(required=True)
    reasons = ma.fields.List(ma.fields.String(), required=True)


class ItemFailureSchema(ma.Schema):
    index = ma.fields.Integer(required=True)
    trip_id = ma.fields.String(allow_none=True, required=True)
    error = ma.fields.String(required=True)
    error_description = ma.fields.String(required=True)
    field = ma.fields.String(
        allow_none=True, required=True,
        metadata={"description": "the failing field, as a dotted path"},
    )  # fmt: skip


class BatchAnswerSchema(ma.Schema):
    total = ma.fields.Integer(required=True)
    success = ma.fields.Integer(required=True)
    results = ma.fields.List(ma.fields.Nested(TripResultSchema), required=True)
    failures = ma.fields.List(ma.fields.Nested(ItemFailureSchema), required=True)


class TripViewSchema(ma.Schema):
    trip_id = ma.fields.String(required=True)
    trip_uid = ma.fields.String(required=True)
    mode = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    reasons = ma.fields.List(ma.fields.String(), required=True)
    points = ma.fields.Integer(required=True)
    co2_g = ma.fields.Integer(required=True)
    start_time = ma.fields.DateTime(required=True)
    end_time = ma.fields.DateTime(required=True)
    start_cell = ma.fields.String(allow_none=True)
    end_cell = ma.fields.String(allow_none=True)
    parking = ma.fields.Dict(allow_none=True)
    receipt = ma.fields.Dict(allow_none=True)
    received_at = ma.fields.DateTime(required=True)


class TripPageSchema(ma.Schema):
    trips = ma.fields.List(ma.fields.Nested(TripViewSchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


class TripQuerySchema(ma.Schema):
    status = ma.fields.String(load_default=None,
                              validate=ma.validate.OneOf(operator_trips.STATUSES))  # fmt: skip
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=500))
    cursor = ma.fields.String(load_default=None)


def _batch_doc(component: str) -> dict[str, Any]:
    envelope = {
        "type": "object",
        "required": ["trips"],
        "properties": {
            "trips": {
                "type": "array",
                "maxItems": MAX_BATCH,
                "items": {"$ref": f"#/components/schemas/{component}"},
            }
        },
    }
    return {
        "parameters": [
            {"in": "header", "name": replay.HEADER, "required": False,
             "schema": {"type": "string", "maxLength": 200},
             "description": "replays the first answer for 24 h; another body with it is 422"}
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": envelope}}},
        "responses": {
            "200": {"description": "OK",
                    "content": {"application/json": {"schema": BatchAnswerSchema}}},
            "413": problem_response("more than 1000 trips, or a body over the size limit"),
            "422": problem_response("the body is not {\"trips\": [...]}, or the "
                                    f"{replay.HEADER} was used before with another body"),
            "429": problem_response("over the operator's request rate; see Retry-After"),
            "503": problem_response("the database is unavailable, or the batches before this "
                                    "one kept it waiting 30 s; retry after Retry-After"),
        },
    }  # fmt: skip


@blp.route("/trips", methods=["POST"])
@requires_scope("trips:write")
@document(**_batch_doc("TripIn"))
def post_trips() -> Response:
    """Post up to 1000 trips. Each readable trip is answered in ``results`` (credited,
    rejected with reason codes, or duplicate); each unreadable one in ``failures``."""
    return _ingest(mds=False)


@blp.route("/mds/trips", methods=["POST"])
@requires_scope("trips:write")
@document(**_batch_doc("MdsTrip"))
def post_mds_trips() -> Response:
    """The same ingestion for MDS 2.0 trip objects (epoch-millisecond times)."""
    return _ingest(mds=True)


def _ingest(*, mds: bool) -> Response:
    svc = services()
    operator = caller().subject
    _limit_rate(operator)
    body = request.get_data(cache=False)
    now = dt.datetime.now(dt.UTC)
    key = request.headers.get(replay.HEADER)
    digest = replay.body_digest(body)
    if key is not None:
        key = key.strip()
        if not key or len(key) > 200:
            raise InvalidInput(f"the {replay.HEADER} must be 1 to 200 characters",
                               errors={replay.HEADER: ["1 to 200 characters"]})  # fmt: skip
        earlier = replay.find(svc.db, operator, key, digest, now)
        if earlier is not None:
            return _json(earlier.body, earlier.status_code, replayed=True)
    try:
        raws = decode_envelope(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInput(
            'the body must be a JSON object {"trips": [...]}: ' + str(exc),
            errors={"trips": [str(exc)]},
        ) from exc
    if len(raws) > MAX_BATCH:
        raise PayloadTooLarge(
            f"at most {MAX_BATCH} trips per request; this one has {len(raws)}",
            errors={"trips": [f"at most {MAX_BATCH} items"]},
        )
    items = decode_items(raws, mds=mds)
    payload = orjson.dumps(svc.intake.ingest(operator, items, now).answer(len(items)))
    if key is not None:
        kept = replay.remember(svc.db, operator, key, digest, replay.Answer(200, payload), now)
        response = _json(kept.body, kept.status_code, replayed=kept.body != payload)
    else:
        response = _json(payload, 200)
    # The roll-ups are folded after the answer is sent, so no request waits for a fold.
    response.call_on_close(svc.folding.after_commit)
    return response


def _limit_rate(operator: str) -> None:
    svc = services()
    limit = svc.settings.ingest_requests_per_minute
    if svc.limiter.record(f"ingest:{operator}", RATE_WINDOW_S) > limit:
        retry_after = RATE_WINDOW_S - int(time.time()) % RATE_WINDOW_S
        raise RateLimited(
            f"at most {limit} trip requests a minute per operator", retry_after_s=retry_after
        )


def _json(body: bytes, status: int, *, replayed: bool = False) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("/trips/<string:trip_id>", methods=["GET"])
@requires_scope("trips:write")
@blp.response(200, TripViewSchema)
@may_answer(404)
def get_trip(trip_id: str) -> dict[str, Any]:
    """One of my trips by my own trip_id: status, reasons, receipt and parking verdict."""
    return operator_trips.get(services().db, caller().subject, trip_id)


@blp.route("/trips", methods=["GET"])
@requires_scope("trips:write")
@blp.arguments(TripQuerySchema, location="query")
@blp.response(200, TripPageSchema)
def list_trips(query: dict[str, Any]) -> dict[str, Any]:
    """My trips, newest first, optionally by status (``?status=rejected``), with reasons."""
    trips, next_cursor = operator_trips.page(
        services().db, caller().subject, status=query["status"], limit=query["limit"],
        cursor=query["cursor"],
    )  # fmt: skip
    return {"trips": trips, "next_cursor": next_cursor}
