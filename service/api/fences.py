"""Geofences: publish zones (GeoJSON, GBFS, MDS), read the zones in force, licence areas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import marshmallow as ma
import shapely
from flask import request

from geo import documents
from geo.zones import GeoDocumentError, GlobalRules, Zone
from service.api import text
from service.api.blueprint import Blueprint
from service.api.context import caller, services
from service.api.docs import may_answer
from service.api.guard import requires_scope
from service.errors import InvalidInput, NotFound
from service.geofence import licence, store

blp = Blueprint("fences", __name__, url_prefix="/v1", description="Geofences and licence areas")

_JSON_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


class PublishedZoneSchema(ma.Schema):
    zone_id = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    zone_type = ma.fields.String(required=True)
    replaces = ma.fields.String(allow_none=True)


class PublishedSchema(ma.Schema):
    zones = ma.fields.List(ma.fields.Nested(PublishedZoneSchema), required=True)


class GbfsQuerySchema(ma.Schema):
    version = ma.fields.String(load_default="3.0", validate=ma.validate.OneOf(("2.3", "3.0")))


class LicenceRequestSchema(ma.Schema):
    resolution = ma.fields.Integer(required=True, validate=ma.validate.Range(min=5, max=11))
    cells = ma.fields.List(ma.fields.String(), load_default=None)
    polygon = ma.fields.Dict(load_default=None, metadata={"description": "GeoJSON geometry"})


class LicenceSchema(ma.Schema):
    operator_id = ma.fields.String(required=True)
    resolution = ma.fields.Integer(required=True)
    cells = ma.fields.List(ma.fields.String(), required=True)


def _document() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", errors={"body": ["not an object"]})
    if text.body_may_hold_nul(request):
        text.refuse_nul(body.items())
    return body


def _publish(
    parse: Callable[[dict], Any], source: str, *, with_global_rules: bool = False
) -> dict[str, Any]:
    try:
        parsed = parse(_document())
    except GeoDocumentError as exc:
        raise InvalidInput(
            "the document was refused; nothing was stored", errors=exc.errors
        ) from exc
    zones: list[Zone]
    global_rules: GlobalRules | None = None
    if with_global_rules:
        zones, global_rules = parsed
    else:
        zones = parsed
    svc = services()
    stored = store.publish(svc.db, zones, source=source, global_rules=global_rules)
    svc.zones.invalidate()
    return {
        "zones": [
            {"zone_id": z.zone_id, "version": z.version, "zone_type": z.zone_type,
             "replaces": z.replaces}
            for z in stored
        ]
    }  # fmt: skip


@blp.route("/fences", methods=["POST"])
@requires_scope("admin")
@blp.doc(requestBody=_JSON_BODY)
@blp.response(201, PublishedSchema)
@may_answer(413, 422)
def publish_geojson() -> dict[str, Any]:
    """Publish zones from a GeoJSON Feature or FeatureCollection (``zone_type`` and rules in
    the properties). A zone_id that exists gets a new version that replaces the old one."""
    return _publish(documents.parse_geojson_zones, "geojson")


@blp.route("/fences/import/gbfs", methods=["POST"])
@requires_scope("admin")
@blp.doc(requestBody=_JSON_BODY)
@blp.response(201, PublishedSchema)
@may_answer(413, 422)
def import_gbfs() -> dict[str, Any]:
    """Publish a GBFS ``geofencing_zones.json`` (v2.1 to v3.0), global rules included."""
    return _publish(documents.parse_gbfs_geofencing, "gbfs", with_global_rules=True)


@blp.route("/fences/import/mds", methods=["POST"])
@requires_scope("admin")
@blp.doc(requestBody=_JSON_BODY)
@blp.response(201, PublishedSchema)
@may_answer(413, 422)
def import_mds() -> dict[str, Any]:
    """Publish MDS 2.0 geographies."""
    return _publish(documents.parse_mds_geography, "mds")


@blp.route("/fences", methods=["GET"])
@blp.response(200)
def in_force() -> dict[str, Any]:
    """The zones in force as a GeoJSON FeatureCollection."""
    _, zones, _ = store.in_force(services().db)
    return documents.export_geojson(zones)


@blp.route("/fences/gbfs", methods=["GET"])
@blp.arguments(GbfsQuerySchema, location="query")
@blp.response(200)
def as_gbfs(query: dict[str, Any]) -> dict[str, Any]:
    """The zones in force as a GBFS ``geofencing_zones.json`` an operator could publish."""
    svc = services()
    _, zones, global_rules = store.in_force(svc.db)
    now = dt.datetime.now(dt.UTC)
    # GBFS cannot say "only on weekdays": scheduled zones go out as they stand right now.
    return documents.export_gbfs_geofencing(
        zones, global_rules, version=query["version"], last_updated=now,
        local_now=now.astimezone(svc.policy.zone),
    )  # fmt: skip


@blp.route("/fences/<string:zone_id>", methods=["DELETE"])
@requires_scope("admin")
@blp.response(204)
@may_answer(404)
def withdraw(zone_id: str) -> None:
    """Withdraw a zone (a final version marked withdrawn; the history stays)."""
    svc = services()
    store.withdraw(svc.db, zone_id)
    svc.zones.invalidate()


@blp.route("/operators/<string:operator_id>/licence", methods=["PUT"])
@requires_scope("admin")
@blp.arguments(LicenceRequestSchema)
@blp.response(200, LicenceSchema)
@may_answer(404)
def set_licence(body: dict[str, Any], operator_id: str) -> dict[str, Any]:
    """Set an operator's licence area: H3 ``cells``, or a GeoJSON ``polygon`` filled with the
    cells whose centres lie inside it, at ``resolution``."""
    polygon = None
    if body["polygon"] is not None:
        try:
            polygon = shapely.geometry.shape(body["polygon"])
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InvalidInput(
                "polygon is not GeoJSON", errors={"polygon": ["not GeoJSON"]}
            ) from exc
    return licence.set_area(
        services().db, operator_id, resolution=body["resolution"], cells=body["cells"],
        polygon=polygon,
    )  # fmt: skip


@blp.route("/operators/<string:operator_id>/licence", methods=["GET"])
@requires_scope("admin", "trips:write")
@blp.response(200, LicenceSchema)
@may_answer(404)
def get_licence(operator_id: str) -> dict[str, Any]:
    """An operator's licence area (operators may read their own)."""
    who = caller()
    if who.kind != "admin" and who.subject != operator_id:
        raise NotFound(f"no licence area for {operator_id}")
    return licence.get_area(services().db, operator_id)
