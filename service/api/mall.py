"""The points mall: the catalog, my redemptions and donations, and catalog administration."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from service.api.blueprint import Blueprint
from service.api.context import caller, services
from service.api.docs import may_answer
from service.api.guard import requires_scope
from service.errors import InvalidInput
from service.persistence.mall_models import ITEM_KINDS
from service.usecases import mall

blp = Blueprint("mall", __name__, url_prefix="/v1", description="Points mall and donations")

IDEMPOTENCY_HEADER = "Idempotency-Key"
# A billion points (a thousand tonnes of CO2) per item, and as many in stock: far beyond any
# real item, and a quantity of 100 of them still fits the ledger's integers.
COST_RANGE = ma.validate.Range(min=1, max=1_000_000_000)
STOCK_RANGE = ma.validate.Range(min=0, max=1_000_000_000)


class ItemSchema(ma.Schema):
    item_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    cost_points = ma.fields.Integer(required=True)
    stock = ma.fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    active = ma.fields.Boolean(required=True)


class CatalogSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ItemSchema), required=True)


class ItemCreateSchema(ma.Schema):
    item_id = ma.fields.String(
        required=True, validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$")
    )
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(ITEM_KINDS))
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    cost_points = ma.fields.Integer(required=True, validate=COST_RANGE)
    stock = ma.fields.Integer(load_default=None, validate=STOCK_RANGE)


class ItemChangeSchema(ma.Schema):
    title = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    cost_points = ma.fields.Integer(validate=COST_RANGE)
    stock = ma.fields.Integer(allow_none=True, validate=STOCK_RANGE)
    active = ma.fields.Boolean()


class RedemptionRequestSchema(ma.Schema):
    item_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    quantity = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100))


class RedemptionSchema(ma.Schema):
    redemption_id = ma.fields.String(required=True)
    item_id = ma.fields.String(required=True)
    quantity = ma.fields.Integer(required=True)
    points = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={"description": "held, completed, failed"})
    fulfilment = ma.fields.Dict(required=True)
    created_at = ma.fields.DateTime(required=True)


class RedemptionListSchema(ma.Schema):
    redemptions = ma.fields.List(ma.fields.Nested(RedemptionSchema), required=True)


class IdempotencyHeaderSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    key = ma.fields.String(
        data_key=IDEMPOTENCY_HEADER,
        required=True,
        validate=ma.validate.Length(min=1, max=200),
        metadata={"description": "a client-chosen key; a retry with it replays the first answer"},
    )


@blp.route("/catalog", methods=["GET"])
@requires_scope()
@blp.response(200, CatalogSchema)
def catalog() -> dict[str, Any]:
    """Points-mall items and donation projects on offer."""
    return {"items": mall.catalog(services().db)}


@blp.route("/catalog/items", methods=["POST"])
@requires_scope("admin")
@blp.arguments(ItemCreateSchema)
@blp.response(201, ItemSchema)
@may_answer(409)
def add_item(body: dict[str, Any]) -> dict[str, Any]:
    """Add a catalog item or donation project."""
    return mall.add_item(services().db, mall.NewItem(**body))


@blp.route("/catalog/items/<string:item_id>", methods=["PATCH"])
@requires_scope("admin")
@blp.arguments(ItemChangeSchema)
@blp.response(200, ItemSchema)
@may_answer(404)
def change_item(body: dict[str, Any], item_id: str) -> dict[str, Any]:
    """Restock, reprice, retitle or withdraw an item."""
    return mall.change_item(services().db, item_id, body)


@blp.route("/me/redemptions", methods=["POST"])
@requires_scope("account")
@blp.arguments(IdempotencyHeaderSchema, location="headers")
@blp.arguments(RedemptionRequestSchema)
@blp.response(201, RedemptionSchema)
@blp.alt_response(200, schema=RedemptionSchema, description="a replay of an earlier request")
@may_answer(404, 409)
def redeem(headers: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Redeem points for an item or donate them; needs an ``Idempotency-Key`` header."""
    key = headers["key"].strip()
    if not key:
        raise InvalidInput("the Idempotency-Key is empty", errors={IDEMPOTENCY_HEADER: ["empty"]})
    svc = services()
    redemption, created = mall.redeem(
        svc.db,
        svc.policy,
        caller().subject,
        item_id=body["item_id"],
        quantity=body["quantity"],
        idempotency_key=key,
        fulfil=svc.fulfil,
    )
    return redemption, 201 if created else 200


@blp.route("/me/redemptions", methods=["GET"])
@requires_scope("account")
@blp.response(200, RedemptionListSchema)
@may_answer(404)
def my_redemptions() -> dict[str, Any]:
    """My redemptions and donations, newest first."""
    return {"redemptions": mall.my_redemptions(services().db, caller().subject)}


@blp.route("/me/redemptions/<string:redemption_id>", methods=["GET"])
@requires_scope("account")
@blp.response(200, RedemptionSchema)
@may_answer(404)
def my_redemption(redemption_id: str) -> dict[str, Any]:
    """One of my redemptions."""
    return mall.my_redemption(services().db, caller().subject, redemption_id)
