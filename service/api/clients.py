"""Admin endpoints for API clients: the HTTP twin of ``greenpoints clients``."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from service.api.blueprint import Blueprint
from service.api.context import services
from service.api.docs import may_answer
from service.api.guard import requires_scope
from service.auth import clients
from service.persistence.models import CLIENT_KINDS

blp = Blueprint("clients", __name__, url_prefix="/v1/clients", description="API clients (admin)")


class ClientCreateSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(CLIENT_KINDS))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class ClientSchema(ma.Schema):
    client_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    scopes = ma.fields.List(ma.fields.String(), required=True)
    created_at = ma.fields.DateTime(required=True)
    revoked_at = ma.fields.DateTime(allow_none=True)


class NewClientSchema(ma.Schema):
    client_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    scopes = ma.fields.List(ma.fields.String(), required=True)
    client_secret = ma.fields.String(
        required=True, metadata={"description": "shown once; only its hash is stored"}
    )


class ClientListSchema(ma.Schema):
    clients = ma.fields.List(ma.fields.Nested(ClientSchema), required=True)


@blp.route("", methods=["POST"])
@requires_scope("admin")
@blp.arguments(ClientCreateSchema)
@blp.response(201, NewClientSchema)
def create(body: dict[str, Any]) -> dict[str, Any]:
    """Register a client; the answer is the only place its secret ever appears."""
    created = clients.create_client(services().db, kind=body["kind"], name=body["name"])
    return {
        "client_id": created.client_id,
        "kind": created.kind,
        "name": created.name,
        "scopes": list(created.scopes),
        "client_secret": created.secret,
    }


@blp.route("", methods=["GET"])
@requires_scope("admin")
@blp.response(200, ClientListSchema)
def list_all() -> dict[str, Any]:
    """Every client, revoked ones included, oldest first."""
    return {"clients": clients.list_clients(services().db)}


@blp.route("/<string:client_id>", methods=["DELETE"])
@requires_scope("admin")
@blp.response(200, ClientSchema)
@may_answer(404)
def revoke(client_id: str) -> clients.ClientView:
    """Revoke a client: its secret stops working; issued tokens lapse within their lifetime."""
    return clients.revoke_client(services().db, client_id)
