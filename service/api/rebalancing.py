"""Rebalancing: truck moves for operators, and the incentive map riders earn bonuses by."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma

from service.api.blueprint import Blueprint
from service.api.context import caller, services
from service.api.docs import may_answer
from service.api.guard import requires_scope
from service.errors import InvalidInput
from service.fleet.positions import position_store
from service.usecases import rebalancing

blp = Blueprint("rebalancing", __name__, url_prefix="/v1/rebalancing", description="Rebalancing")


class RecommendationQuerySchema(ma.Schema):
    truck_capacity = ma.fields.Integer(
        load_default=None, validate=ma.validate.Range(min=1, max=500)
    )


class MoveSchema(ma.Schema):
    from_unit = ma.fields.String(required=True)
    to_unit = ma.fields.String(required=True)
    vehicles = ma.fields.Integer(required=True)
    distance_m = ma.fields.Integer(required=True)


class RecommendationsSchema(ma.Schema):
    generated_at = ma.fields.DateTime(required=True)
    units = ma.fields.String(required=True, metadata={"description": "h3 or parking_zones"})
    resolution = ma.fields.Integer(
        required=True, metadata={"description": "H3 resolution of the units (0: parking zones)"}
    )
    window_hours = ma.fields.Integer(required=True)
    truck_capacity = ma.fields.Integer(required=True)
    surplus_vehicles = ma.fields.Integer(required=True)
    deficit_vehicles = ma.fields.Integer(required=True)
    moved_vehicles = ma.fields.Integer(required=True)
    vehicle_metres = ma.fields.Integer(required=True)
    moves = ma.fields.List(ma.fields.Nested(MoveSchema), required=True)


class IncentiveQuerySchema(ma.Schema):
    operator_id = ma.fields.String(
        load_default=None, validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "riders: whose fleet (operators: their own)"},
    )  # fmt: skip


class UnitBonusSchema(ma.Schema):
    unit = ma.fields.String(required=True)
    balance = ma.fields.Integer(required=True)
    pickup_points = ma.fields.Integer(required=True)
    dropoff_points = ma.fields.Integer(required=True)


class IncentiveMapSchema(ma.Schema):
    slot_start = ma.fields.DateTime(required=True)
    valid_until = ma.fields.DateTime(required=True)
    resolution = ma.fields.Integer(required=True)
    units = ma.fields.List(ma.fields.Nested(UnitBonusSchema), required=True)


class StartedMoveSchema(ma.Schema):
    from_unit = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    to_unit = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    vehicles = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=500))
    eta_minutes = ma.fields.Integer(
        load_default=None, validate=ma.validate.Range(min=1, max=24 * 60),
        metadata={"description": "when the move stops counting if nobody marks it done "
                  "(default 120)"},
    )  # fmt: skip


class StartMovesSchema(ma.Schema):
    moves = ma.fields.List(ma.fields.Nested(StartedMoveSchema), required=True,
                           validate=ma.validate.Length(min=1, max=1000))  # fmt: skip


class MoveStateSchema(ma.Schema):
    id = ma.fields.String(required=True)
    from_unit = ma.fields.String(required=True)
    to_unit = ma.fields.String(required=True)
    vehicles = ma.fields.Integer(required=True)
    started_at = ma.fields.DateTime(required=True)
    expires_at = ma.fields.DateTime(required=True)
    done_at = ma.fields.DateTime(allow_none=True, required=True)


class MoveListSchema(ma.Schema):
    moves = ma.fields.List(ma.fields.Nested(MoveStateSchema), required=True)


@blp.route("/moves", methods=["POST"])
@requires_scope("vehicles:write")
@blp.arguments(StartMovesSchema)
@blp.response(201, MoveListSchema)
def start_moves(body: dict[str, Any]) -> dict[str, Any]:
    """Trucks left with these moves: their vehicles count as inbound at the destination until
    the move is done or expires, so the next recommendations do not send them twice."""
    svc = services()
    operator_id = caller().subject
    rules = rebalancing.RebalancingRules.from_settings(svc.settings)
    started = rebalancing.start_moves(svc.db, rules.units(operator_id, svc.zones), operator_id,
                                      body["moves"], dt.datetime.now(dt.UTC))  # fmt: skip
    return {"moves": started}


@blp.route("/moves", methods=["GET"])
@requires_scope("fleet:read")
@blp.response(200, MoveListSchema)
def moves_under_way() -> dict[str, Any]:
    """My truck moves under way (started, not done, not expired)."""
    return {"moves": rebalancing.moves_under_way(services().db, caller().subject,
                                                 dt.datetime.now(dt.UTC))}  # fmt: skip


@blp.route("/moves/<string:move_id>/done", methods=["POST"])
@requires_scope("vehicles:write")
@blp.response(200, MoveStateSchema)
@may_answer(404)
def finish_move(move_id: str) -> dict[str, Any]:
    """The truck arrived: the move no longer counts as inbound (repeat-safe)."""
    return rebalancing.finish_move(services().db, caller().subject, move_id,
                                   dt.datetime.now(dt.UTC))  # fmt: skip


@blp.route("/recommendations", methods=["GET"])
@requires_scope("fleet:read")
@blp.arguments(RecommendationQuerySchema, location="query")
@blp.response(200, RecommendationsSchema)
def recommendations(query: dict[str, Any]) -> dict[str, Any]:
    """Truck moves from surplus to deficit units of my fleet for the next window: the least
    vehicle-metres, no move over one truck load."""
    svc = services()
    operator_id = caller().subject
    rules = rebalancing.RebalancingRules.from_settings(svc.settings)
    return rebalancing.recommend(
        svc.db, position_store(svc.db, svc.store), rules, rules.units(operator_id, svc.zones),
        operator_id, dt.datetime.now(dt.UTC), query["truck_capacity"],
    )  # fmt: skip


@blp.route("/incentives", methods=["GET"])
@requires_scope("fleet:read", "account")
@blp.arguments(IncentiveQuerySchema, location="query")
@blp.response(200, IncentiveMapSchema)
@may_answer(404)
def incentive_map(query: dict[str, Any]) -> dict[str, Any]:
    """The bonus points of this 15-minute slot: a trip that starts in a unit with pick-up
    points and ends in one with drop-off points earns both, fixed at its start."""
    svc = services()
    principal = caller()
    operator_id = query["operator_id"] if "account" in principal.scopes else principal.subject
    if not operator_id:
        raise InvalidInput(
            "riders say whose fleet: operator_id", errors={"operator_id": ["required"]}
        )
    if "account" in principal.scopes:
        rebalancing.require_operator(svc.db, operator_id)
    rules = rebalancing.RebalancingRules.from_settings(svc.settings)
    found = rebalancing.current_map(
        svc.db, position_store(svc.db, svc.store), rules, rules.units(operator_id, svc.zones),
        operator_id, dt.datetime.now(dt.UTC),
    )  # fmt: skip
    return found.as_dict()
