"""Fleet status: operators post snapshots of their vehicles (GBFS or MDS)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma
import msgspec
from flask import request

from service.api.blueprint import Blueprint
from service.api.context import caller, services
from service.api.docs import may_answer
from service.api.guard import requires_scope
from service.errors import InvalidInput, PayloadTooLarge
from service.fleet.contract import MAX_VEHICLES, decode_envelope, decode_vehicles
from service.fleet.positions import position_store
from service.usecases import fleet, rebalancing

blp = Blueprint("vehicles", __name__, url_prefix="/v1", description="Fleet status")


def _items(component: str) -> dict[str, Any]:
    return {"type": "array", "maxItems": MAX_VEHICLES,
            "items": {"$ref": f"#/components/schemas/{component}"}}  # fmt: skip


_GBFS_BODY = {
    "required": True,
    "description": "a GBFS vehicle_status.json (v3.0 data.vehicles) or free_bike_status.json "
    "(v2.x data.bikes)",
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {
            "type": "object",
            "properties": {"vehicles": _items("GbfsVehicle"), "bikes": _items("GbfsVehicle")},
            "anyOf": [{"required": ["vehicles"]}, {"required": ["bikes"]}],
        }},
    }}},
}  # fmt: skip
_MDS_BODY = {
    "required": True,
    "description": 'MDS 2.0 vehicle status: {"vehicles_status": [{device_id, last_event, '
    "last_telemetry}]}",
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["vehicles_status"],
        "properties": {"vehicles_status": _items("MdsVehicleStatus")},
    }}},
}  # fmt: skip


class VehicleFailureSchema(ma.Schema):
    index = ma.fields.Integer(required=True)
    vehicle_id = ma.fields.String(allow_none=True, required=True)
    error = ma.fields.String(required=True)
    error_description = ma.fields.String(required=True)
    field = ma.fields.String(allow_none=True)


class SnapshotAnswerSchema(ma.Schema):
    total = ma.fields.Integer(required=True, metadata={"description": "items in the snapshot"})
    vehicles = ma.fields.Integer(required=True, metadata={"description": "vehicles read"})
    updated = ma.fields.Integer(
        required=True, metadata={"description": "vehicles whose report was newer than the kept one"}
    )
    failures = ma.fields.List(ma.fields.Nested(VehicleFailureSchema), required=True)


@blp.route("/vehicles/status", methods=["POST"])
@requires_scope("vehicles:write")
@blp.doc(requestBody=_GBFS_BODY)
@blp.response(200, SnapshotAnswerSchema)
@may_answer(413, 422)
def gbfs_status() -> dict[str, Any]:
    """A snapshot of my fleet in GBFS ``vehicle_status`` terms; unreadable vehicles are listed,
    the rest are kept."""
    return _snapshot(mds=False)


@blp.route("/mds/vehicles/status", methods=["POST"])
@requires_scope("vehicles:write")
@blp.doc(requestBody=_MDS_BODY)
@blp.response(200, SnapshotAnswerSchema)
@may_answer(413, 422)
def mds_status() -> dict[str, Any]:
    """A snapshot of my fleet as MDS 2.0 vehicle status (last event and telemetry)."""
    return _snapshot(mds=True)


def _snapshot(*, mds: bool) -> dict[str, Any]:
    svc = services()
    body = request.get_data(cache=False)
    try:
        raws = decode_envelope(body, mds=mds)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        where = "vehicles_status" if mds else "data.vehicles"
        raise InvalidInput(f"the body is not a vehicle status document: {exc}",
                           errors={where: [str(exc)]}) from exc  # fmt: skip
    if len(raws) > MAX_VEHICLES:
        raise PayloadTooLarge(
            f"at most {MAX_VEHICLES} vehicles per snapshot; this one has {len(raws)}",
            errors={"vehicles": [f"at most {MAX_VEHICLES} items"]},
        )
    now = dt.datetime.now(dt.UTC)
    items = decode_vehicles(raws, now, mds=mds)
    positions = position_store(svc.db, svc.store)
    answer = fleet.record_snapshot(svc.db, positions, caller().subject, items, now,
                                   svc.settings.trip_cell_resolution)  # fmt: skip
    # The slot's incentive map is fixed from the first snapshot of the slot on.
    rules = rebalancing.RebalancingRules.from_settings(svc.settings)
    operator_id = caller().subject
    rebalancing.current_map(svc.db, positions, rules, rules.units(operator_id, svc.zones),
                            operator_id, now)  # fmt: skip
    return answer
